// engine/kernels/timing.h — how the benchmarks time a kernel (examples/bench.cpp,
// examples/kernels.cpp): warm up once, calibrate an inner repeat count so one measurement
// lasts at least `min_seconds`, take `reps` measurements, report the median (the machine is
// shared: the median ignores the slow outliers a mean would average in). A slow kernel
// (scalar GEMM at 2048: seconds per call) is time-boxed: a single call per measurement and
// at least 3 measurements, never more than `max_seconds` in total after the first three.
// Clock::cpu measures the process's CPU time (std::clock) instead of wall time: on a machine
// shared with other jobs it leaves out the time the kernel sat descheduled. It is only
// meaningful for single-threaded runs (CPU time sums over threads).
#pragma once
#include <functional>

namespace mgf {

struct Timing {
  double median = 0, min = 0, max = 0;  // seconds per call
  int reps = 0;
  long inner = 0;  // calls per measurement
};

enum class Clock { wall, cpu };

Timing time_kernel(const std::function<void()>& fn, double min_seconds = 0.2, int reps = 5, double max_seconds = 10.0,
                   Clock clock = Clock::wall);

}  // namespace mgf
