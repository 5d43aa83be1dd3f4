// engine/kernels/gemm_ladder.cpp — see gemm_ladder.h. Teaching code: each step differs from
// the previous one by one idea, and each is checked against step 1 in tests/test_kernels.cpp
// before examples/kernels.cpp times it. Book: book/02-kernels.md ("the ladder").
#include "engine/kernels/gemm_ladder.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

// 1. C[i][j] = Σ_p A[i][p]·B[p][j] as written in a textbook. B[p][j] for consecutive p is N
// floats apart: every multiply-add touches a new cache line of B once N·4 bytes > 64.
void gemm_ladder_naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float s = 0.0f;
      for (int64_t p = 0; p < K; ++p) s += A[i * K + p] * B[p * N + j];
      C[i * N + j] = s;
    }
}

// 2. Swap the two inner loops: c[i][·] += A[i][p] · B[p][·]. Same arithmetic, but the inner
// loop now reads B and writes C contiguously, and it has no loop-carried dependency, so the
// compiler can vectorise it.
void gemm_ladder_loop_order(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  std::fill(C, C + M * N, 0.0f);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t p = 0; p < K; ++p) {
      const float a = A[i * K + p];
      for (int64_t j = 0; j < N; ++j) C[i * N + j] += a * B[p * N + j];
    }
}

// 3. Step 2 streams all of B (K·N floats) from memory once per row of A. Cut K and N into
// blocks so a KB×NB block of B (128 KiB) stays in L2 while MB rows of A use it.
void gemm_ladder_blocked(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  const int64_t MB = 64, KB = 128, NB = 256;
  std::fill(C, C + M * N, 0.0f);
  for (int64_t p0 = 0; p0 < K; p0 += KB)
    for (int64_t j0 = 0; j0 < N; j0 += NB)
      for (int64_t i0 = 0; i0 < M; i0 += MB) {
        const int64_t p1 = std::min(K, p0 + KB), j1 = std::min(N, j0 + NB), i1 = std::min(M, i0 + MB);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t p = p0; p < p1; ++p) {
            const float a = A[i * K + p];
            for (int64_t j = j0; j < j1; ++j) C[i * N + j] += a * B[p * N + j];
          }
      }
}

// 4. Packing + a register tile. Step 3 still loads and stores C[i][j] for every p. Keep a 6×16
// tile of C in local variables (registers) over the whole K loop instead, reading A and B from
// copies laid out in the order the tile consumes them: per p, 6 values of A and 16 of B,
// contiguous. The same structure as the AVX2 sgemm — only without intrinsics.
namespace {
constexpr int64_t LMR = 6, LNR = 16, LKC = 256, LMC = 96;
void ladder_tile(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, int64_t m, int64_t n, bool add) {
  float acc[LMR][LNR] = {};
  for (int64_t p = 0; p < kc; ++p, a += LMR, b += LNR)
    for (int64_t i = 0; i < LMR; ++i)
      for (int64_t j = 0; j < LNR; ++j) acc[i][j] += a[i] * b[j];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) C[i * ldc + j] = add ? C[i * ldc + j] + acc[i][j] : acc[i][j];
}
}  // namespace

// 5. The same packing and the same 6×16 tile, with the tile written in AVX2/FMA intrinsics:
// the tile is 12 ymm accumulators (6 rows × 2 vectors of 8), and per p the kernel loads 16
// floats of B, broadcasts 6 of A and issues 12 FMAs. 12 independent chains cover the 8 that
// two FMA pipes of latency 4 need; 12 + 2 (B) + 1 (broadcast) = 15 of the 16 ymm registers.
// This is the plain rung: no edge kernels, no in-place operands, no threads — a ragged tile
// is computed in full on the zero-padded slivers and only its m×n corner is stored. The
// engine's sgemm_avx2 (engine/kernels/gemm.cpp) adds those on top.
#if MGF_HAVE_X86
namespace {
MGF_AVX2 void ladder_tile_avx2(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, int64_t m,
                               int64_t n, bool add) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0; p < kc; ++p, a += LMR, b += LNR) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);  // b[p][0..15]
    __m256 ai = _mm256_broadcast_ss(a + 0);  // acc[0][0..15] += a[0] * b[0..15]
    c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);  // rows 1..5 alike
    c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40), c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50), c51 = _mm256_fmadd_ps(ai, b1, c51);
  }
  // Store through a local tile, then copy the m×n corner: the same store as ladder_tile.
  alignas(32) float acc[LMR][LNR];
  _mm256_store_ps(acc[0], c00), _mm256_store_ps(acc[0] + 8, c01), _mm256_store_ps(acc[1], c10);
  _mm256_store_ps(acc[1] + 8, c11), _mm256_store_ps(acc[2], c20), _mm256_store_ps(acc[2] + 8, c21);
  _mm256_store_ps(acc[3], c30), _mm256_store_ps(acc[3] + 8, c31), _mm256_store_ps(acc[4], c40);
  _mm256_store_ps(acc[4] + 8, c41), _mm256_store_ps(acc[5], c50), _mm256_store_ps(acc[5] + 8, c51);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) C[i * ldc + j] = add ? C[i * ldc + j] + acc[i][j] : acc[i][j];
}
}  // namespace
#endif

// Steps 4 and 5 share the packing; only the tile differs.
using LadderTile = void (*)(int64_t, const float*, const float*, float*, int64_t, int64_t, int64_t, bool);
static void ladder_packed(LadderTile tile, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  const int64_t npad = (N + LNR - 1) / LNR * LNR, mpad = (LMC + LMR - 1) / LMR * LMR;
  std::vector<float> bp(static_cast<size_t>(std::min(K, LKC) * npad)), ap(static_cast<size_t>(std::min(K, LKC) * mpad));
  for (int64_t pc = 0; pc < K; pc += LKC) {
    const int64_t kc = std::min(LKC, K - pc);
    for (int64_t s = 0; s < npad; s += LNR)  // pack B: sliver s holds columns s..s+15, per p
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t j = 0; j < LNR; ++j) bp[s * kc + p * LNR + j] = s + j < N ? B[(pc + p) * N + s + j] : 0.0f;
    for (int64_t ic = 0; ic < M; ic += LMC) {
      const int64_t mc = std::min(LMC, M - ic);
      for (int64_t s = 0; s < mc; s += LMR)  // pack A: sliver s holds rows s..s+5, per p
        for (int64_t p = 0; p < kc; ++p)
          for (int64_t i = 0; i < LMR; ++i) ap[s * kc + p * LMR + i] = s + i < mc ? A[(ic + s + i) * K + pc + p] : 0.0f;
      for (int64_t jr = 0; jr < N; jr += LNR)
        for (int64_t ir = 0; ir < mc; ir += LMR)
          tile(kc, &ap[ir * kc], &bp[jr * kc], C + (ic + ir) * N + jr, N, std::min(LMR, mc - ir),
               std::min(LNR, N - jr), pc > 0);
    }
  }
}

void gemm_ladder_packed(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  ladder_packed(ladder_tile, M, N, K, A, B, C);
}

void gemm_ladder_packed_avx2(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
#if MGF_HAVE_X86
  if (cpu_has_avx2()) return ladder_packed(ladder_tile_avx2, M, N, K, A, B, C);
#endif
  gemm_ladder_packed(M, N, K, A, B, C);  // no AVX2 here: the plain tile, same contract
}

// ---- peaks ------------------------------------------------------------------------------------
#if MGF_HAVE_X86
static double now_seconds(bool cpu_time) {
  if (cpu_time) return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Each chain is acc = acc·x + y with x just below 1, so values stay finite forever.
MGF_AVX2 static double fma_chains_avx2(int64_t iters) {
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  // Distinct starting values: twelve identical chains would be merged into one by the compiler.
  __m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f), a2 = _mm256_set1_ps(1.02f),
         a3 = _mm256_set1_ps(1.03f), a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f),
         a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f), a8 = _mm256_set1_ps(1.08f),
         a9 = _mm256_set1_ps(1.09f), a10 = _mm256_set1_ps(1.10f), a11 = _mm256_set1_ps(1.11f);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y), a2 = _mm256_fmadd_ps(a2, x, y);
    a3 = _mm256_fmadd_ps(a3, x, y), a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
    a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y), a8 = _mm256_fmadd_ps(a8, x, y);
    a9 = _mm256_fmadd_ps(a9, x, y), a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  alignas(32) float t[8];
  _mm256_store_ps(t, s);
  return t[0];
}
MGF_AVX2 static double fma_chains_scalar(int64_t iters) {
  const __m128 x = _mm_set_ss(0.999999f), y = _mm_set_ss(1e-7f);
  __m128 a0 = _mm_set_ss(1.00f), a1 = _mm_set_ss(1.01f), a2 = _mm_set_ss(1.02f), a3 = _mm_set_ss(1.03f),
         a4 = _mm_set_ss(1.04f), a5 = _mm_set_ss(1.05f), a6 = _mm_set_ss(1.06f), a7 = _mm_set_ss(1.07f),
         a8 = _mm_set_ss(1.08f), a9 = _mm_set_ss(1.09f), a10 = _mm_set_ss(1.10f), a11 = _mm_set_ss(1.11f);
  for (int64_t i = 0; i < iters; ++i) {  // vfmadd231ss: one lane, the scalar FMA
    a0 = _mm_fmadd_ss(a0, x, y), a1 = _mm_fmadd_ss(a1, x, y), a2 = _mm_fmadd_ss(a2, x, y);
    a3 = _mm_fmadd_ss(a3, x, y), a4 = _mm_fmadd_ss(a4, x, y), a5 = _mm_fmadd_ss(a5, x, y);
    a6 = _mm_fmadd_ss(a6, x, y), a7 = _mm_fmadd_ss(a7, x, y), a8 = _mm_fmadd_ss(a8, x, y);
    a9 = _mm_fmadd_ss(a9, x, y), a10 = _mm_fmadd_ss(a10, x, y), a11 = _mm_fmadd_ss(a11, x, y);
  }
  __m128 s = _mm_add_ss(_mm_add_ss(_mm_add_ss(a0, a1), _mm_add_ss(a2, a3)), _mm_add_ss(_mm_add_ss(a4, a5), _mm_add_ss(a6, a7)));
  s = _mm_add_ss(s, _mm_add_ss(_mm_add_ss(a8, a9), _mm_add_ss(a10, a11)));
  return _mm_cvtss_f32(s);
}

// Runs `chains(iters)` for about `seconds`, best of several slices (the peak is a maximum:
// interference only ever slows it down). flops per iteration = 12 chains · lanes · 2.
template <class F>
static double peak_of(F chains, double lanes, double seconds, bool cpu_time) {
  volatile double sink = chains(1000);
  int64_t iters = 1 << 16;
  double best = 0.0, spent = 0.0;
  while (spent < seconds) {
    const double t0 = now_seconds(cpu_time);
    sink = sink + chains(iters);
    const double dt = now_seconds(cpu_time) - t0;
    spent += dt;
    if (dt < 0.01) {
      iters *= 2;
      continue;
    }
    best = std::max(best, 12.0 * lanes * 2.0 * static_cast<double>(iters) / dt / 1e9);
  }
  return best;
}

#endif

double measure_fma_peak_avx2(double seconds, bool cpu_time) {
#if MGF_HAVE_X86
  if (!cpu_has_avx2()) return 0.0;
  return peak_of(fma_chains_avx2, 8.0, seconds, cpu_time);
#else
  (void)seconds;
  (void)cpu_time;
  return 0.0;
#endif
}

double measure_fma_peak_scalar(double seconds, bool cpu_time) {
#if MGF_HAVE_X86
  if (!cpu_has_avx2()) return 0.0;
  return peak_of(fma_chains_scalar, 1.0, seconds, cpu_time);
#else
  (void)seconds;
  (void)cpu_time;
  return 0.0;
#endif
}

}  // namespace mgf
