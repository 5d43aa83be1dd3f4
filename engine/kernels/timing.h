// engine/kernels/timing.h — how the benchmarks time a kernel (examples/bench.cpp,
// examples/kernels.cpp): warm up once, calibrate an inner repeat count so one measurement
// lasts at least `min_seconds`, take `reps` measurements, report the median (the machine is
// shared: the median ignores the slow outliers a mean would average in). A slow kernel
// (scalar GEMM at 2048: seconds per call) is time-boxed: a single call per measurement and
// at least 3 measurements, never more than `max_seconds` in total after the first three.
// Clock::cpu measures the process's CPU time (std::clock) instead of wall time: on a machine
// shared with other jobs it leaves out the time the kernel sat descheduled. It is only
// meaningful for single-threaded runs (CPU time sums over threads).
//
// The examples' timing tables (a layer at batch 1, a compressed format against dense) use the
// per-call helpers below instead: wall time in microseconds, one warm-up call, then `samples`
// samples of `inner` back-to-back calls each, the median per-call time. Short samples (well under
// a scheduler time slice) let most of them run undisturbed on a shared machine, so the median
// is not the time of a preempted call. median_cold_us evicts the caches before each call: the
// deployment case of weights too big to stay cached (Han 2015, Deep Compression §6).
#pragma once
#include <functional>
#include <vector>

namespace mgf {

struct Timing {
  double median = 0, min = 0, max = 0;  // seconds per call
  int reps = 0;
  long inner = 0;  // calls per measurement
};

enum class Clock { wall, cpu };

Timing time_kernel(const std::function<void()>& fn, double min_seconds = 0.2, int reps = 5, double max_seconds = 10.0,
                   Clock clock = Clock::wall);

// The median of a sample (an even count gives the mean of the two middle values).
double median_of(std::vector<double> samples);

// Microseconds since an arbitrary start: wall time (steady_clock), or with cpu this thread's
// CPU time (CLOCK_THREAD_CPUTIME_ID: ns resolution, leaves out the time it sat descheduled).
// For per-layer tables, where each layer is timed inside one call.
double now_us(bool cpu = false);

// Calls per sample so that one sample of fn lasts about target_us: fn runs once to warm up and
// once timed; the result is target_us / that time, clamped to [1, max_inner].
int calls_for(const std::function<void()>& fn, double target_us, int max_inner);

// Median per-call wall time in µs: one warm-up call, then `samples` samples of `inner` calls.
// min_us (optional) receives the fastest sample's per-call time.
double median_call_us(const std::function<void()>& fn, int samples, int inner = 1, double* min_us = nullptr);

// The same for several functions measured interleaved: each sample runs every fns[i] inner[i]
// times in turn, so a burst of load from other processes hits every variant alike.
std::vector<double> median_call_us_interleaved(const std::vector<std::function<void()>>& fns, int samples,
                                               const std::vector<int>& inner, std::vector<double>* min_us = nullptr);

// Cold caches: before each timed call 64 MB are written through the caches (evicting weights,
// indices and input), then `warm_input` is read once — a layer's input has just been written by
// the layer before it; pass {} to leave the input evicted too. Median of `samples` single calls.
double median_cold_us(const std::function<void()>& fn, int samples, const std::vector<float>& warm_input = {});

}  // namespace mgf
