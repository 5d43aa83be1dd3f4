// compression/quantization/gemm_int8.cpp — see gemm_int8.h.
#include "compression/quantization/gemm_int8.h"

#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

namespace {
constexpr int64_t kPanel = 16;   // output rows per packed panel (one zmm of int32)
}

const int8_t* PackedS8::panel(int64_t p) const { return packed.data() + p * (Kp / 4) * 64; }

PackedS8 pack_s8(const int8_t* W, int64_t N, int64_t K) {
  if (N <= 0 || K <= 0)
    throw std::invalid_argument("pack_s8: expected N > 0 and K > 0, found N = " + std::to_string(N) +
                                ", K = " + std::to_string(K));
  PackedS8 p;
  p.N = N;
  p.K = K;
  p.Kp = (K + 3) / 4 * 4;
  p.panels = (N + kPanel - 1) / kPanel;
  p.rows.assign(W, W + N * K);
  p.packed.assign(static_cast<size_t>(p.panels * (p.Kp / 4) * 64), 0);
  p.row_sums.assign(static_cast<size_t>(N), 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int8_t w = W[n * K + k];
      p.row_sums[n] += w;
      // panel n/16, group k/4, lane n%16, byte k%4
      p.packed[((n / kPanel) * (p.Kp / 4) + k / 4) * 64 + (n % kPanel) * 4 + k % 4] = w;
    }
  return p;
}

void gemm_u8s8_scalar(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < W.N; ++n) {
      int32_t acc = 0;
      const int8_t* w = W.rows.data() + n * W.K;
      for (int64_t k = 0; k < W.K; ++k) acc += static_cast<int32_t>(A[m * lda + k]) * static_cast<int32_t>(w[k]);
      C[m * ldc + n] = acc;
    }
}

#if MGF_HAVE_X86

namespace {

// An unaligned int32 that may alias the u8 activations: set1 of a load of it compiles to one
// vpbroadcastd from memory.
typedef int32_t __attribute__((may_alias, aligned(1))) i32u;

// A[m][k..k+3] as one int32 (zero-padded past K), to broadcast against a 4-k group.
inline int32_t quad(const uint8_t* a, int64_t k, int64_t K) {
  uint32_t v = 0;
  const int64_t n = K - k < 4 ? K - k : 4;
  for (int64_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(a[k + i]) << (8 * i);
  return static_cast<int32_t>(v);
}

// One 4-k group: load the NP panels' 64 bytes, broadcast each row's 4 activation bytes.
// Inlined and fully unrolled (the pragmas), so the MR·NP·2 accumulators stay in registers.
template <int MR, int NP>
MGF_AVX2 __attribute__((always_inline)) inline void group_avx2(__m256i (&acc)[MR][NP][2], const int8_t* const* base,
                                                              int64_t g, const uint8_t* const* a) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i w[NP][2];
#pragma GCC unroll 8
  for (int q = 0; q < NP; ++q) {
    w[q][0] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base[q] + g * 64));
    w[q][1] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base[q] + g * 64 + 32));
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    // A[m][k..k+3] broadcast straight from memory (one load uop, no trip through a GPR).
    const __m256i av = _mm256_set1_epi32(*reinterpret_cast<const i32u*>(a[r]));
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        // u8·s8 pairs → s16 (cannot saturate: a ≤ 127), then pairs of s16 → s32.
        const __m256i s16 = _mm256_maddubs_epi16(av, w[q][h]);
        acc[r][q][h] = _mm256_add_epi32(_mm256_madd_epi16(s16, ones), acc[r][q][h]);
      }
  }
}

// MR rows × NP panels (16 columns each) of C. The full groups read A with a 4-byte load; the
// last group (K % 4 != 0) goes through quad() so nothing past A's row is read.
template <int MR, int NP>
MGF_AVX2 void tile_avx2(const uint8_t* A, int64_t lda, const PackedS8& W, int64_t p0, int32_t* C, int64_t ldc,
                        int64_t nvalid) {
  __m256i acc[MR][NP][2];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NP; ++q) acc[r][q][0] = acc[r][q][1] = _mm256_setzero_si256();
  const int64_t groups = W.Kp / 4, full = W.K / 4;
  const int8_t* base[NP];
  for (int q = 0; q < NP; ++q) base[q] = W.panel(p0 + q);
  // The ragged last group (K % 4 != 0) reads a zero-padded copy, so nothing past A's row is
  // read. One loop over all groups: with a second call site for the tail, GCC kept some
  // accumulators on the stack between the two (a store in every iteration).
  int32_t a4[MR];
  for (int r = 0; r < MR; ++r) a4[r] = full < groups ? quad(A + r * lda, full * 4, W.K) : 0;
  const uint8_t* a[MR];
  for (int64_t g = 0; g < groups; ++g) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
      a[r] = g < full ? A + r * lda + g * 4 : reinterpret_cast<const uint8_t*>(&a4[r]);
    group_avx2<MR, NP>(acc, base, g, a);
  }
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NP; ++q) {
      alignas(32) int32_t out[16];
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), acc[r][q][0]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(out + 8), acc[r][q][1]);
      const int64_t c0 = (p0 + q) * kPanel;
      const int64_t nc = nvalid - c0 < kPanel ? nvalid - c0 : kPanel;
      for (int64_t j = 0; j < nc; ++j) C[r * ldc + c0 + j] = out[j];
    }
}

#define MGF_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

template <int MR, int NP>
MGF_AVX512_VNNI __attribute__((always_inline)) inline void group_vnni(__m512i (&acc)[MR][NP], const int8_t* const* base,
                                                                     int64_t g, const uint8_t* const* a) {
  __m512i w[NP];
#pragma GCC unroll 8
  for (int q = 0; q < NP; ++q) w[q] = _mm512_loadu_si512(base[q] + g * 64);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m512i av = _mm512_set1_epi32(*reinterpret_cast<const i32u*>(a[r]));
    // vpdpbusd: four u8·s8 products summed straight into int32, no s16 step.
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q) acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, w[q]);
  }
}

template <int MR, int NP>
MGF_AVX512_VNNI void tile_vnni(const uint8_t* A, int64_t lda, const PackedS8& W, int64_t p0, int32_t* C, int64_t ldc,
                               int64_t nvalid) {
  __m512i acc[MR][NP];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NP; ++q) acc[r][q] = _mm512_setzero_si512();
  const int64_t groups = W.Kp / 4, full = W.K / 4;
  const int8_t* base[NP];
  for (int q = 0; q < NP; ++q) base[q] = W.panel(p0 + q);
  // The ragged last group (K % 4 != 0) reads a zero-padded copy, so nothing past A's row is
  // read. One loop over all groups: a second call site for the tail makes GCC keep the
  // accumulators in memory between the two.
  int32_t a4[MR];
  for (int r = 0; r < MR; ++r) a4[r] = full < groups ? quad(A + r * lda, full * 4, W.K) : 0;
  const uint8_t* a[MR];
  for (int64_t g = 0; g < groups; ++g) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
      a[r] = g < full ? A + r * lda + g * 4 : reinterpret_cast<const uint8_t*>(&a4[r]);
    group_vnni<MR, NP>(acc, base, g, a);
  }
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NP; ++q) {
      const int64_t c0 = (p0 + q) * kPanel;
      const int64_t nc = nvalid - c0 < kPanel ? nvalid - c0 : kPanel;
      const __mmask16 mask = static_cast<__mmask16>((1u << nc) - 1u);
      _mm512_mask_storeu_epi32(C + r * ldc + c0, mask, acc[r][q]);
    }
}

// Loop order: panels outside, row blocks inside. NP panels (16·NP rows × K bytes of weights:
// 25 KB for NP = 2, K = 784) then stay in L1 while every block of MR activation rows passes
// over them, so the weights stream from memory once per call instead of once per row block
// (fc1200's 1.4 MB fc2 does not fit in L2). The ragged last rows take a smaller tile.
template <int MR, int NP, bool VNNI>
void panel_rows(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int64_t p, int32_t* C, int64_t ldc) {
  int64_t m = 0;
  for (; m + MR <= M; m += MR) {
    if constexpr (VNNI) tile_vnni<MR, NP>(A + m * lda, lda, W, p, C + m * ldc, ldc, W.N);
    else tile_avx2<MR, NP>(A + m * lda, lda, W, p, C + m * ldc, ldc, W.N);
  }
  if constexpr (MR > 1)
    if (m < M) panel_rows<MR - 1, NP, VNNI>(M - m, A + m * lda, lda, W, p, C + m * ldc, ldc);
}

// Tile sizes, set by the register file and the instruction's latency. AVX2 has 16 ymm: MR
// rows × NP panels take 2·MR·NP accumulators, plus 2·NP weights, one broadcast and the ones.
// vpmaddubsw's chain is latency-free across k (vpaddd is the only carried dependency), so
// 4 rows × 1 panel (8 accumulators) keeps the ports busy; 1–2 rows take 2 panels. AVX-512 has
// 32 zmm and vpdpbusd is its own accumulator chain: 4 cycles of latency at 2 per cycle need
// ≥ 8 independent accumulators, and the peers' ceiling loop uses 24. kVnniRows × 2 panels
// gives 2·kVnniRows, 1–2 rows take 4 panels (GEMV: each weight used once, memory-bound).
constexpr int kAvx2Rows = 4;
constexpr int kVnniRows = 8;

}  // namespace

void gemm_u8s8_avx2(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc) {
  for (int64_t p = 0; p < W.panels;) {
    if (M <= 2 && p + 2 <= W.panels) {
      panel_rows<2, 2, false>(M, A, lda, W, p, C, ldc);
      p += 2;
    } else {
      panel_rows<kAvx2Rows, 1, false>(M, A, lda, W, p, C, ldc);
      p += 1;
    }
  }
}

void gemm_u8s8_avx512vnni(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc) {
  if (!cpu_has_avx512())
    throw std::runtime_error("gemm_u8s8_avx512vnni: expected a CPU with AVX-512 VNNI, found one that lacks " +
                             cpu_lacks(KernelMode::avx512));
  for (int64_t p = 0; p < W.panels;) {
    if (M <= 2 && p + 4 <= W.panels) {
      panel_rows<2, 4, true>(M, A, lda, W, p, C, ldc);
      p += 4;
    } else if (p + 2 <= W.panels) {
      panel_rows<kVnniRows, 2, true>(M, A, lda, W, p, C, ldc);
      p += 2;
    } else {
      panel_rows<kVnniRows, 1, true>(M, A, lda, W, p, C, ldc);
      p += 1;
    }
  }
}

#else

void gemm_u8s8_avx2(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc) {
  gemm_u8s8_scalar(M, A, lda, W, C, ldc);   // no x86: the spec is the only body (cpu.h)
}
void gemm_u8s8_avx512vnni(int64_t, const uint8_t*, int64_t, const PackedS8&, int32_t*, int64_t) {
  throw std::runtime_error("gemm_u8s8_avx512vnni: expected an x86-64 build with AVX-512 VNNI, found none");
}

#endif

U8S8Rung gemm_u8s8_rung(KernelMode mode, bool cpu_avx2, bool cpu_vnni) {
  if (mode == KernelMode::avx512 && cpu_vnni) return U8S8Rung::avx512vnni;
  if (mode != KernelMode::scalar && cpu_avx2) return U8S8Rung::avx2;
  return U8S8Rung::scalar;
}

const char* gemm_u8s8_rung_name(U8S8Rung r) {
  switch (r) {
    case U8S8Rung::scalar: return "scalar";
    case U8S8Rung::avx2: return "avx2";
    case U8S8Rung::avx512vnni: return "avx512vnni";
  }
  return "?";
}

const char* gemm_u8s8_variant() {
  return gemm_u8s8_rung_name(gemm_u8s8_rung(kernel_mode(), cpu_has_avx2(), cpu_has_avx512()));
}

void gemm_u8s8(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc) {
  switch (gemm_u8s8_rung(kernel_mode(), cpu_has_avx2(), cpu_has_avx512())) {
    case U8S8Rung::avx512vnni: return gemm_u8s8_avx512vnni(M, A, lda, W, C, ldc);
    case U8S8Rung::avx2: return gemm_u8s8_avx2(M, A, lda, W, C, ldc);
    case U8S8Rung::scalar: break;
  }
  gemm_u8s8_scalar(M, A, lda, W, C, ldc);
}

}  // namespace mgf
