// engine/kernels/timing.cpp — see timing.h.
#include "engine/kernels/timing.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

namespace mgf {

Timing time_kernel(const std::function<void()>& fn, double min_seconds, int reps, double max_seconds, Clock clock) {
  auto seconds_now = [clock] {
    if (clock == Clock::cpu) return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  double t0 = seconds_now();
  fn();  // warm-up: page faults, caches, thread pool start
  const double first = seconds_now() - t0;
  long inner = 1;
  if (first < min_seconds) {  // calibrate: double until a batch takes half the target
    for (;;) {
      t0 = seconds_now();
      for (long i = 0; i < inner; ++i) fn();
      const double dt = seconds_now() - t0;
      if (dt >= min_seconds * 0.5 || inner >= (1L << 26)) {
        inner = std::max(1L, static_cast<long>(static_cast<double>(inner) * min_seconds / std::max(dt, 1e-9)));
        break;
      }
      inner *= 2;
    }
  }
  std::vector<double> per_call;
  double spent = 0.0;
  for (int r = 0; r < std::max(reps, 3); ++r) {
    if (r >= 3 && spent > max_seconds) break;
    t0 = seconds_now();
    for (long i = 0; i < inner; ++i) fn();
    const double dt = seconds_now() - t0;
    spent += dt;
    per_call.push_back(dt / static_cast<double>(inner));
  }
  std::sort(per_call.begin(), per_call.end());
  Timing t;
  const size_t n = per_call.size();
  t.median = n % 2 ? per_call[n / 2] : 0.5 * (per_call[n / 2 - 1] + per_call[n / 2]);
  t.min = per_call.front();
  t.max = per_call.back();
  t.reps = static_cast<int>(n);
  t.inner = inner;
  return t;
}

}  // namespace mgf
