// compression/quantization/binary_gemm.cpp — see binary_gemm.h. Book: book/23-xnor.md.
#include "compression/quantization/binary_gemm.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "compression/quantization/bitpack.h"
#include "engine/kernels/cpu.h"
#include "engine/threads.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

// ---- scalar: the specification ----------------------------------------------------------
// One binary dot product of `words` words. Four independent sums, so the popcounts of
// consecutive words can issue in parallel (a single sum chains every add: ~1.5x slower).
static inline int64_t popcount_xor(const uint64_t* a, const uint64_t* b, int64_t words) {
  int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, w = 0;
  for (; w + 4 <= words; w += 4) {
    s0 += __builtin_popcountll(a[w] ^ b[w]);
    s1 += __builtin_popcountll(a[w + 1] ^ b[w + 1]);
    s2 += __builtin_popcountll(a[w + 2] ^ b[w + 2]);
    s3 += __builtin_popcountll(a[w + 3] ^ b[w + 3]);
  }
  for (; w < words; ++w) s0 += __builtin_popcountll(a[w] ^ b[w]);
  return s0 + s1 + s2 + s3;
}

static inline void bgemm_rows(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C,
                              int64_t ldc) {
  const int64_t words = bit_words(K);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)  // C = K − 2·popcount(a ⊕ b)
      C[i * ldc + j] = static_cast<int32_t>(K - 2 * popcount_xor(A + i * words, B + j * words, words));
}

#if MGF_HAVE_X86
// The same loops compiled for the POPCNT instruction (every x86-64 CPU since 2008; without
// it __builtin_popcountll becomes a ~15-instruction bit trick). Chosen at run time below.
__attribute__((target("popcnt"))) static void bgemm_scalar_popcnt(int64_t M, int64_t N, int64_t K,
                                                                  const uint64_t* A, const uint64_t* B,
                                                                  int32_t* C, int64_t ldc) {
  bgemm_rows(M, N, K, A, B, C, ldc);
}
static bool cpu_has_popcnt() {
  static const bool has = __builtin_cpu_supports("popcnt");
  return has;
}
#endif

void bgemm_scalar(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C,
                  int64_t ldc) {
#if MGF_HAVE_X86
  if (cpu_has_popcnt()) return bgemm_scalar_popcnt(M, N, K, A, B, C, ldc);
#endif
  bgemm_rows(M, N, K, A, B, C, ldc);
}

#if MGF_HAVE_X86
// ---- AVX2: xor + nibble-table popcount + vpsadbw, 2 rows x 4 columns per pass --------------
// popcount of each byte of v: table[v & 15] + table[v >> 4], with vpshufb as the table
// (Muła's method; Harley–Seal's carry-save tree only pays from 16 vectors per dot product, and
// the rows of a LeNet-sized conv are 8 words = 2 vectors).
MGF_AVX2 static inline __m256i popcount_bytes_avx2(__m256i v, __m256i table, __m256i low4) {
  const __m256i lo = _mm256_and_si256(v, low4);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
}

// The four 64-bit lanes of s0..s3 summed, in registers: out lane q = Σ lanes of s_q, as int32
// (a popcount of at most K < 2^31 bits). A store and 16 scalar loads per 4 sums (the first
// version) cost as much as the counting when a dot product is 8 words long.
MGF_AVX2 static inline __m128i sum4_epi64_avx2(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
  // [s0 l0+l1, s1 l0+l1 | s0 l2+l3, s1 l2+l3] and the same for s2, s3
  const __m256i t01 = _mm256_add_epi64(_mm256_unpacklo_epi64(s0, s1), _mm256_unpackhi_epi64(s0, s1));
  const __m256i t23 = _mm256_add_epi64(_mm256_unpacklo_epi64(s2, s3), _mm256_unpackhi_epi64(s2, s3));
  // add the 128-bit halves: [Σs0, Σs1, Σs2, Σs3] as 64-bit lanes
  const __m256i u = _mm256_add_epi64(_mm256_permute2x128_si256(t01, t23, 0x20), _mm256_permute2x128_si256(t01, t23, 0x31));
  // the low 32 bits of each 64-bit lane (the sums are < 2^31), packed into 4 int32
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0)));
}

template <bool Part>
MGF_AVX2 static inline __m256i load_slice_avx2(const uint64_t* p, __m256i tail) {
  if constexpr (Part) return _mm256_maskload_epi64(reinterpret_cast<const long long*>(p), tail);
  else return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// bytes[r][q] += popcount8(a_r ⊕ b_q) over slice s (4 words at a + 4s). With Part, only the
// first words % 4 of them (the lanes of `tail`, a masked vpmaskmovq load; the masked-off words
// read as 0 in both operands, so they count nothing).
template <int R, bool Part>
MGF_AVX2 static inline void count_slice_avx2(const uint64_t* const* a, const uint64_t* const* b, int64_t s, __m256i tail,
                                             __m256i table, __m256i low4, __m256i (*bytes)[4]) {
  __m256i va[R];
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r) va[r] = load_slice_avx2<Part>(a[r] + 4 * s, tail);
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const __m256i vb = load_slice_avx2<Part>(b[q] + 4 * s, tail);
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r)
      bytes[r][q] = _mm256_add_epi8(bytes[r][q], popcount_bytes_avx2(_mm256_xor_si256(va[r], vb), table, low4));
  }
}

// popcount(a_r ⊕ b_q) for R rows a_r (R = 1 or 2) and 4 rows b_q at once: each 256-bit slice
// of a b row is loaded once and used R times, each slice of an a row 4 times (register
// blocking: 2·4 = 8 byte counters, half of the 16 ymm registers). Byte counts (≤ 8 per byte
// per slice) are summed for up to 31 slices (≤ 248 < 256, no overflow) before vpsadbw widens
// them and they are added to the int32 sums. out[r] = the 4 popcounts of a_r as int32.
template <int R>
MGF_AVX2 static inline void popcount_xor_avx2(const uint64_t* const* a, const uint64_t* const* b, int64_t words,
                                              __m128i* out) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
  const int64_t slices = (words + 3) / 4, rag = words % 4, full = words / 4;
  // lanes 0..rag−1 of the last slice are loaded (the top bit of each 64-bit mask lane)
  const __m256i tail = _mm256_cmpgt_epi64(_mm256_set1_epi64x(rag), _mm256_setr_epi64x(0, 1, 2, 3));
  // The small loops over r and q are unrolled (the pragmas), so the 4·R byte counters live in
  // registers rather than in stack arrays; each block's counts are reduced to int32 sums at once
  // (64-bit partials kept across blocks would hold 4·R more registers and spill the counters).
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r) out[r] = _mm_setzero_si128();
  for (int64_t s0 = 0; s0 < slices; s0 += 31) {  // blocks of ≤ 31 slices
    const int64_t s1 = std::min<int64_t>(slices, s0 + 31);
    __m256i bytes[R][4];
#pragma GCC unroll 8
    for (int i = 0; i < R * 4; ++i) bytes[i / 4][i % 4] = zero;
    for (int64_t s = s0; s < std::min(s1, full); ++s) count_slice_avx2<R, false>(a, b, s, tail, table, low4, bytes);
    if (s1 > full) count_slice_avx2<R, true>(a, b, full, tail, table, low4, bytes);  // the ragged last slice
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r)
      out[r] = _mm_add_epi32(out[r], sum4_epi64_avx2(_mm256_sad_epu8(bytes[r][0], zero), _mm256_sad_epu8(bytes[r][1], zero),
                                                     _mm256_sad_epu8(bytes[r][2], zero), _mm256_sad_epu8(bytes[r][3], zero)));
  }
}

// C = K − 2·pc for 4 columns; `n` < 4 stores only the first n (the ragged columns of a row).
MGF_AVX2 static inline void store4_avx2(int32_t* c, __m128i pc, int64_t K, int64_t n) {
  const __m128i v = _mm_sub_epi32(_mm_set1_epi32(static_cast<int32_t>(K)), _mm_slli_epi32(pc, 1));
  if (n == 4) return _mm_storeu_si128(reinterpret_cast<__m128i*>(c), v);
  alignas(16) int32_t lane[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(lane), v);
  for (int64_t q = 0; q < n; ++q) c[q] = lane[q];
}

// R rows of C (R = 2, or 1 for a last odd row) against all N columns, in groups of 4; a ragged
// last group repeats its last column (computed, not stored).
template <int R>
MGF_AVX2 static inline void bgemm_strip_avx2(int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C,
                                             int64_t ldc) {
  const int64_t words = bit_words(K);
  const uint64_t* a[R];
  for (int r = 0; r < R; ++r) a[r] = A + r * words;
  for (int64_t j = 0; j < N; j += 4) {
    const uint64_t* b[4];
    for (int q = 0; q < 4; ++q) b[q] = B + std::min(j + q, N - 1) * words;
    __m128i pc[R];
    popcount_xor_avx2<R>(a, b, words, pc);
    for (int r = 0; r < R; ++r) store4_avx2(C + r * ldc + j, pc[r], K, std::min<int64_t>(4, N - j));
  }
}

MGF_AVX2 void bgemm_avx2(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C, int64_t ldc) {
  const int64_t words = bit_words(K);
  int64_t i = 0;
  for (; i + 2 <= M; i += 2)  // two rows of C at a time: each B slice is loaded once for both
    bgemm_strip_avx2<2>(N, K, A + i * words, B, C + i * ldc, ldc);
  if (i < M) bgemm_strip_avx2<1>(N, K, A + i * words, B, C + i * ldc, ldc);  // a last odd row: 1 × 4
}

// ---- AVX-512 VPOPCNTQ: the third variant --------------------------------------------------
// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized (their _mm256_undefined_si256 inside
// shuffles and extracts), a known false positive; silenced for this section only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define MGF_AVX512_POPCNT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq")))

// Four horizontal sums at once, in registers (a store + 8 scalar loads per sum costs more than
// the popcounts themselves at conv sizes): pair up lanes, then fold the 128-bit blocks.
MGF_AVX512_POPCNT static inline void reduce4_avx512(__m512i a0, __m512i a1, __m512i a2, __m512i a3, int64_t* out) {
  const __m512i s01 = _mm512_add_epi64(_mm512_unpacklo_epi64(a0, a1), _mm512_unpackhi_epi64(a0, a1));
  const __m512i s23 = _mm512_add_epi64(_mm512_unpacklo_epi64(a2, a3), _mm512_unpackhi_epi64(a2, a3));
  // each 128-bit block now holds (part of Σa0, part of Σa1); add the four blocks together
  __m512i t01 = _mm512_add_epi64(s01, _mm512_shuffle_i64x2(s01, s01, 0x4E));  // swap 256-bit halves
  __m512i t23 = _mm512_add_epi64(s23, _mm512_shuffle_i64x2(s23, s23, 0x4E));
  t01 = _mm512_add_epi64(t01, _mm512_shuffle_i64x2(t01, t01, 0xB1));           // swap neighbouring blocks
  t23 = _mm512_add_epi64(t23, _mm512_shuffle_i64x2(t23, t23, 0xB1));
  const __m128i r01 = _mm512_castsi512_si128(t01), r23 = _mm512_castsi512_si128(t23);
  out[0] = _mm_cvtsi128_si64(r01);
  out[1] = _mm_extract_epi64(r01, 1);
  out[2] = _mm_cvtsi128_si64(r23);
  out[3] = _mm_extract_epi64(r23, 1);
}

// 2 rows of A × 4 rows of B: 8 accumulators, 6 loads per 8 popcounts (1×4 needs 5 per 4).
MGF_AVX512_POPCNT static inline void popcount_xor_avx512_2x4(const uint64_t* a0, const uint64_t* a1,
                                                             const uint64_t* const* b, int64_t words,
                                                             int64_t* out0, int64_t* out1) {
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  for (int64_t w = 0; w < words; w += 8) {
    const int64_t left = words - w;
    const __mmask8 m = left >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << left) - 1u);
    const __m512i x0 = _mm512_maskz_loadu_epi64(m, a0 + w), x1 = _mm512_maskz_loadu_epi64(m, a1 + w);
    __m512i v = _mm512_maskz_loadu_epi64(m, b[0] + w);
    c00 = _mm512_add_epi64(c00, _mm512_popcnt_epi64(_mm512_xor_si512(x0, v)));
    c10 = _mm512_add_epi64(c10, _mm512_popcnt_epi64(_mm512_xor_si512(x1, v)));
    v = _mm512_maskz_loadu_epi64(m, b[1] + w);
    c01 = _mm512_add_epi64(c01, _mm512_popcnt_epi64(_mm512_xor_si512(x0, v)));
    c11 = _mm512_add_epi64(c11, _mm512_popcnt_epi64(_mm512_xor_si512(x1, v)));
    v = _mm512_maskz_loadu_epi64(m, b[2] + w);
    c02 = _mm512_add_epi64(c02, _mm512_popcnt_epi64(_mm512_xor_si512(x0, v)));
    c12 = _mm512_add_epi64(c12, _mm512_popcnt_epi64(_mm512_xor_si512(x1, v)));
    v = _mm512_maskz_loadu_epi64(m, b[3] + w);
    c03 = _mm512_add_epi64(c03, _mm512_popcnt_epi64(_mm512_xor_si512(x0, v)));
    c13 = _mm512_add_epi64(c13, _mm512_popcnt_epi64(_mm512_xor_si512(x1, v)));
  }
  reduce4_avx512(c00, c01, c02, c03, out0);
  reduce4_avx512(c10, c11, c12, c13, out1);
}

// popcount(a ⊕ b_q) for NB rows: 8 words per instruction, the last partial slice loaded with a
// mask (masked-off words read as 0 in both operands, so they add nothing).
template <int NB>
MGF_AVX512_POPCNT static inline void popcount_xor_avx512(const uint64_t* a, const uint64_t* const* b,
                                                         int64_t words, int64_t* out) {
  __m512i acc[NB];
  for (int q = 0; q < NB; ++q) acc[q] = _mm512_setzero_si512();
  for (int64_t w = 0; w < words; w += 8) {
    const int64_t left = words - w;
    const __mmask8 m = left >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << left) - 1u);
    const __m512i va = _mm512_maskz_loadu_epi64(m, a + w);
#pragma GCC unroll 4
    for (int q = 0; q < NB; ++q) {  // acc_q += popcount64(a ⊕ b_q)
      const __m512i vb = _mm512_maskz_loadu_epi64(m, b[q] + w);
      acc[q] = _mm512_add_epi64(acc[q], _mm512_popcnt_epi64(_mm512_xor_si512(va, vb)));
    }
  }
  if constexpr (NB == 4) {
    reduce4_avx512(acc[0], acc[1], acc[2], acc[3], out);
  } else {
    for (int q = 0; q < NB; ++q) {  // (a store, not _mm512_reduce_add_epi64: GCC 12 warns inside it)
      alignas(64) int64_t lane[8];
      _mm512_store_si512(lane, acc[q]);
      out[q] = lane[0] + lane[1] + lane[2] + lane[3] + lane[4] + lane[5] + lane[6] + lane[7];
    }
  }
}

MGF_AVX512_POPCNT static void bgemm_avx512_body(int64_t M, int64_t N, int64_t K, const uint64_t* A,
                                                const uint64_t* B, int32_t* C, int64_t ldc) {
  const int64_t words = bit_words(K);
  int64_t i = 0;
  for (; i + 2 <= M; i += 2) {  // two rows of C at a time: each B slice is loaded once for both
    const uint64_t *a0 = A + i * words, *a1 = a0 + words;
    int64_t j = 0, p0[4], p1[4];
    for (; j + 4 <= N; j += 4) {
      const uint64_t* b[4] = {B + j * words, B + (j + 1) * words, B + (j + 2) * words, B + (j + 3) * words};
      popcount_xor_avx512_2x4(a0, a1, b, words, p0, p1);
      for (int q = 0; q < 4; ++q) {
        C[i * ldc + j + q] = static_cast<int32_t>(K - 2 * p0[q]);
        C[(i + 1) * ldc + j + q] = static_cast<int32_t>(K - 2 * p1[q]);
      }
    }
    for (; j < N; ++j) {  // ragged columns
      const uint64_t* b[1] = {B + j * words};
      popcount_xor_avx512<1>(a0, b, words, p0);
      popcount_xor_avx512<1>(a1, b, words, p1);
      C[i * ldc + j] = static_cast<int32_t>(K - 2 * p0[0]);
      C[(i + 1) * ldc + j] = static_cast<int32_t>(K - 2 * p1[0]);
    }
  }
  if (i < M) {  // a last odd row: 1 × 4
    const uint64_t* a = A + i * words;
    int64_t j = 0, pc[4];
    for (; j + 4 <= N; j += 4) {
      const uint64_t* b[4] = {B + j * words, B + (j + 1) * words, B + (j + 2) * words, B + (j + 3) * words};
      popcount_xor_avx512<4>(a, b, words, pc);
      for (int q = 0; q < 4; ++q) C[i * ldc + j + q] = static_cast<int32_t>(K - 2 * pc[q]);
    }
    for (; j < N; ++j) {
      const uint64_t* b[1] = {B + j * words};
      popcount_xor_avx512<1>(a, b, words, pc);
      C[i * ldc + j] = static_cast<int32_t>(K - 2 * pc[0]);
    }
  }
}

void bgemm_avx512(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C,
                  int64_t ldc) {
  if (!cpu_has_avx512()) throw std::runtime_error("bgemm_avx512: expected a CPU with AVX-512 VPOPCNTDQ, found none");
  bgemm_avx512_body(M, N, K, A, B, C, ldc);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
void bgemm_avx2(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C, int64_t ldc) {
  bgemm_scalar(M, N, K, A, B, C, ldc);
}
void bgemm_avx512(int64_t, int64_t, int64_t, const uint64_t*, const uint64_t*, int32_t*, int64_t) {
  throw std::runtime_error("bgemm_avx512: expected an x86-64 build with AVX-512 VPOPCNTDQ, found none");
}
#endif

const char* bgemm_variant() { return use_avx512() ? "avx512" : use_avx2() ? "avx2" : "scalar"; }

void bgemm(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C, int64_t ldc) {
  if (M < 0 || N < 0 || K < 1 || ldc < N)
    throw std::invalid_argument("bgemm: expected M, N >= 0, K >= 1, ldc >= N, found M " + std::to_string(M) +
                                ", N " + std::to_string(N) + ", K " + std::to_string(K) + ", ldc " +
                                std::to_string(ldc));
  auto* fn = use_avx512() ? &bgemm_avx512 : use_avx2() ? &bgemm_avx2 : &bgemm_scalar;
  const int64_t words = bit_words(K);
  // rows of C are independent: split them, at least ~32k words of work per chunk
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, N * words));
  parallel_for(0, M, grain, [&](int64_t lo, int64_t hi) { fn(hi - lo, N, K, A + lo * words, B, C + lo * ldc, ldc); });
}

}  // namespace mgf
