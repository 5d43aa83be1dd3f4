// engine/kernels/gemm_ladder.h — the GEMM ladder of book/02-kernels.md: one change per step,
// each step a function you can run and time (examples/kernels.cpp does), in the spirit of
// flame/how-to-optimize-gemm. All compute C[M×N] = A[M×K] · B[K×N], row-major, no transposes.
//
//   1 gemm_ladder_naive       i-j-p triple loop: the inner dot product walks B down a column
//   2 gemm_ladder_loop_order  i-p-j: the inner loop walks B and C along rows (unit stride)
//   3 gemm_ladder_blocked     + cache blocking: a KB×NB block of B stays in L2 across rows of A
//   4 gemm_ladder_packed      + packing into MR×KC / KC×NR slivers and a 6×16 register tile,
//                              written in plain C++ (the compiler may vectorise it with SSE)
//   5 gemm_ladder_packed_avx2 the same packing, the 6×16 tile in AVX2/FMA intrinsics (12 ymm
//                              accumulators); nothing else: no edge kernels, no threads
//   6 sgemm_avx2 at 1 thread  + the engine's extras: edge micro-kernels, in-place operands for
//                              thin products, all transposes (engine/kernels/gemm.cpp)
//   7 sgemm_avx2 at 2 threads + parallel_for over the two cores
// Steps 6 and 7 are the engine's real sgemm; steps 1–5 exist only to be measured.
#pragma once
#include <cstdint>

namespace mgf {

void gemm_ladder_naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
void gemm_ladder_loop_order(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
void gemm_ladder_blocked(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
void gemm_ladder_packed(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// Runs step 4 (the plain tile) where the CPU or the build has no AVX2.
void gemm_ladder_packed_avx2(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);

// The machine's FMA throughput in GFLOP/s, measured: 12 independent chains of 8-wide FMAs
// (AVX2; the latency is 4 cycles and 2 issue per cycle, so 8+ chains are needed) for about
// `seconds`. Returns 0 when AVX2 is not available. The scalar variant runs 12 chains of
// scalar fused multiply-adds (std::fma compiles to one instruction only with FMA enabled,
// so it is measured inside an FMA-enabled function too).
// cpu_time = true times the slices in process CPU time (std::clock), for a shared machine.
double measure_fma_peak_avx2(double seconds, bool cpu_time = false);
double measure_fma_peak_scalar(double seconds, bool cpu_time = false);

}  // namespace mgf
