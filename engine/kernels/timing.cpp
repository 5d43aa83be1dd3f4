// engine/kernels/timing.cpp — see timing.h.
#include "engine/kernels/timing.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <vector>

namespace mgf {

double now_us(bool cpu) {
  if (cpu) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
  }
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

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
  Timing t;
  t.median = median_of(per_call);
  t.min = *std::min_element(per_call.begin(), per_call.end());
  t.max = *std::max_element(per_call.begin(), per_call.end());
  t.reps = static_cast<int>(per_call.size());
  t.inner = inner;
  return t;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

namespace {
volatile float g_sink;  // median_cold_us writes its sums here

double elapsed_us(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int calls_for(const std::function<void()>& fn, double target_us, int max_inner) {
  fn();  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  const double once = std::max(0.05, elapsed_us(t0));  // a clock tick is not a call's time
  return static_cast<int>(std::clamp(target_us / once, 1.0, static_cast<double>(std::max(max_inner, 1))));
}

std::vector<double> median_call_us_interleaved(const std::vector<std::function<void()>>& fns, int samples,
                                               const std::vector<int>& inner, std::vector<double>* min_us) {
  std::vector<std::vector<double>> t(fns.size());
  for (const auto& f : fns) f();  // warm-up
  for (int s = 0; s < std::max(samples, 1); ++s)
    for (size_t i = 0; i < fns.size(); ++i) {
      const int reps = i < inner.size() ? std::max(inner[i], 1) : 1;
      const auto t0 = std::chrono::steady_clock::now();
      for (int r = 0; r < reps; ++r) fns[i]();
      t[i].push_back(elapsed_us(t0) / reps);
    }
  std::vector<double> med;
  if (min_us) min_us->clear();
  for (auto& v : t) {
    if (min_us) min_us->push_back(*std::min_element(v.begin(), v.end()));
    med.push_back(median_of(v));
  }
  return med;
}

double median_call_us(const std::function<void()>& fn, int samples, int inner, double* min_us) {
  std::vector<double> mins;
  const double m = median_call_us_interleaved({fn}, samples, {inner}, min_us ? &mins : nullptr)[0];
  if (min_us) *min_us = mins[0];
  return m;
}

double median_cold_us(const std::function<void()>& fn, int samples, const std::vector<float>& warm_input) {
  static std::vector<uint8_t> flush(64u << 20);
  std::vector<double> t;
  float sink = 0.0f;
  for (int s = 0; s < std::max(samples, 1); ++s) {
    for (size_t i = 0; i < flush.size(); i += 64) flush[i] = static_cast<uint8_t>(flush[i] + 1);  // one write per line
    for (size_t i = 0; i < warm_input.size(); i += 16) sink += warm_input[i];                    // one read per line
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(elapsed_us(t0));
  }
  // The sums are observable, so neither loop can be removed as dead code.
  g_sink = sink + static_cast<float>(flush[0]);
  return median_of(t);
}

}  // namespace mgf
