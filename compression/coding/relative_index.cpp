// compression/coding/relative_index.cpp — see relative_index.h (Deep Compression §2, Fig. 2).
#include "compression/coding/relative_index.h"

#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

int64_t RelativeIndex::fillers() const {
  int64_t f = 0;
  for (uint8_t c : codes) f += c == 0;
  return f;
}

RelativeIndex relative_index_encode(const uint8_t* dense, int64_t numel, int gap_bits) {
  if (gap_bits < 1 || gap_bits > 8)
    throw std::invalid_argument("relative_index_encode: expected 1 <= gap_bits <= 8, found " + std::to_string(gap_bits));
  RelativeIndex s;
  s.numel = numel;
  s.gap_bits = gap_bits;
  const int64_t max_gap = (int64_t{1} << gap_bits) - 1;
  int64_t run = 0;   // zeros since the previous entry
  for (int64_t p = 0; p < numel; ++p) {
    if (dense[p] == 0) {
      ++run;
      continue;
    }
    while (run > max_gap) {   // the gap does not fit in b bits: a filler zero
      s.gaps.push_back(static_cast<uint8_t>(max_gap));
      s.codes.push_back(0);
      run -= max_gap + 1;     // the filler itself takes one of the zero positions
    }
    s.gaps.push_back(static_cast<uint8_t>(run));
    s.codes.push_back(dense[p]);
    run = 0;
  }
  return s;   // trailing zeros need no entry: numel says where the array ends
}

static void validate_into(const RelativeIndex& s, uint8_t* dense) {
  if (s.gaps.size() != s.codes.size())
    throw std::runtime_error("relative index: expected as many codes as gaps, found " + std::to_string(s.codes.size()) +
                             " codes and " + std::to_string(s.gaps.size()) + " gaps");
  if (s.gap_bits < 1 || s.gap_bits > 8)
    throw std::runtime_error("relative index: expected 1 <= gap_bits <= 8, found " + std::to_string(s.gap_bits));
  const int max_gap = (1 << s.gap_bits) - 1;
  int64_t p = -1;
  for (int64_t e = 0; e < s.entries(); ++e) {
    if (s.gaps[e] > max_gap)
      throw std::runtime_error("relative index: entry " + std::to_string(e) + " has gap " + std::to_string(s.gaps[e]) +
                               ", expected at most " + std::to_string(max_gap) + " (" + std::to_string(s.gap_bits) + " bits)");
    p += s.gaps[e] + 1;
    if (p >= s.numel)
      throw std::runtime_error("relative index: entry " + std::to_string(e) + " lands on position " + std::to_string(p) +
                               ", expected < numel = " + std::to_string(s.numel));
    if (dense) dense[p] = s.codes[e];
  }
}

void relative_index_validate(const RelativeIndex& s) { validate_into(s, nullptr); }

std::vector<uint8_t> relative_index_decode(const RelativeIndex& s) {
  if (s.numel < 0) throw std::runtime_error("relative index: negative numel " + std::to_string(s.numel));
  std::vector<uint8_t> dense(static_cast<size_t>(s.numel), 0);
  validate_into(s, dense.data());
  return dense;
}

// ---- relative_index_matvec: y[r] += Σ_{entries at (r, c)} C[code]·x[c] ---------------------
// The position walks the stream; (r, c) are carried incrementally instead of dividing.
void relative_index_matvec_scalar(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                  const float* x, float* y, int64_t rows, int64_t cols) {
  (void)rows;   // the stream is validated against rows·cols by the caller
  int64_t r = 0, c = -1;
  float acc = 0.0f;   // the running sum of row r
  for (int64_t e = 0; e < entries; ++e) {
    c += gaps[e] + 1;
    if (c >= cols) {          // crossed into a later row: flush the running sum
      y[r] += acc;
      acc = 0.0f;
      r += c / cols;
      c %= cols;
    }
    acc += codebook[codes[e]] * x[c];   // a filler has code 0: C[0] = 0 adds nothing
  }
  if (entries > 0) y[r] += acc;
}

#if MGF_HAVE_X86
// Eight entries at a time. The column of each entry is a prefix sum of (gap + 1): computed in
// registers (two shift-and-add steps per 128-bit half, then the low half's total carried into
// the high half). The block's total advance comes separately from a byte sum (psadbw) of the
// same eight gaps, so the only serial dependence between blocks is one scalar add — the
// vector prefix sum, the two gathers (x[c_j] and C[code_j]) and the FMA of one block overlap
// with the next. A block that crosses a row boundary goes through the scalar step entry by
// entry, so the vector path never divides.

MGF_AVX2 void relative_index_matvec_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries,
                                         const float* codebook, const float* x, float* y, int64_t rows, int64_t cols) {
  (void)rows;
  int64_t r = 0, c = -1;   // row and column of the last entry consumed
  __m256 acc = _mm256_setzero_ps();
  float acc_s = 0.0f;
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i low_total = _mm256_setr_epi32(0, 0, 0, 0, 3, 3, 3, 3);
  int64_t e = 0;
  while (e < entries) {
    if (e + 8 <= entries) {
      const __m128i g8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(gaps + e));   // 8 gap bytes
      const int64_t last = c + 8 + _mm_cvtsi128_si32(_mm_sad_epu8(g8, _mm_setzero_si128()));   // c + Σ(gap + 1)
      if (last < cols) {
        // p_j = Σ_{t <= j} (gap_t + 1)
        __m256i d = _mm256_add_epi32(_mm256_cvtepu8_epi32(g8), one);
        __m256i p = _mm256_add_epi32(d, _mm256_slli_si256(d, 4));
        p = _mm256_add_epi32(p, _mm256_slli_si256(p, 8));
        p = _mm256_add_epi32(p, _mm256_blend_epi32(_mm256_setzero_si256(), _mm256_permutevar8x32_epi32(p, low_total), 0xF0));
        const __m256i col = _mm256_add_epi32(p, _mm256_set1_epi32(static_cast<int>(c)));
        const __m256i code = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + e)));
        acc = _mm256_fmadd_ps(_mm256_i32gather_ps(codebook, code, 4), _mm256_i32gather_ps(x, col, 4), acc);  // += C[code]·x[c]
        c = last;
        e += 8;
        continue;
      }
    }
    // Scalar step (a block that crosses a row, or the tail): exactly the scalar kernel's body.
    c += gaps[e] + 1;
    if (c >= cols) {
      y[r] += hsum8_avx2(acc) + acc_s;
      acc = _mm256_setzero_ps();
      acc_s = 0.0f;
      r += c / cols;
      c %= cols;
    }
    acc_s += codebook[codes[e]] * x[c];
    ++e;
  }
  if (entries > 0) y[r] += hsum8_avx2(acc) + acc_s;
}
#else
void relative_index_matvec_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                const float* x, float* y, int64_t rows, int64_t cols) {
  relative_index_matvec_scalar(gaps, codes, entries, codebook, x, y, rows, cols);
}
#endif

// ---- relative_index_spmm: C[r, :] += C[code]·B[c, :] for every entry (r, c, code) ------------
// The scalar walk over columns [j0, P) of an already zeroed C: the specification, and the
// AVX2 side's tail for the last P mod 8 columns.
static void spmm_columns_scalar(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                const float* B, int64_t P, float* C, int64_t cols, int64_t j0) {
  int64_t r = 0, c = -1;
  for (int64_t e = 0; e < entries; ++e) {
    c += gaps[e] + 1;
    if (c >= cols) {
      r += c / cols;
      c %= cols;
    }
    if (codes[e] == 0) continue;   // a filler zero
    const float v = codebook[codes[e]];
    float* out = C + r * P;
    const float* b = B + c * P;
    for (int64_t j = j0; j < P; ++j) out[j] += v * b[j];
  }
}

void relative_index_spmm_scalar(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                const float* B, int64_t P, float* C, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows * P; ++i) C[i] = 0.0f;
  spmm_columns_scalar(gaps, codes, entries, codebook, B, P, C, cols, 0);
}

#if MGF_HAVE_X86
MGF_AVX2 void relative_index_spmm_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries,
                                       const float* codebook, const float* B, int64_t P, float* C, int64_t rows,
                                       int64_t cols) {
  for (int64_t i = 0; i < rows * P; ++i) C[i] = 0.0f;
  int64_t j = 0;
  // One pass over the stream per block of 32 columns; the block of row r lives in c0..c3
  // and is stored when the walk leaves row r (rows without entries stay zero).
  for (; j + 32 <= P; j += 32) {
    int64_t r = 0, c = -1;
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t e = 0; e < entries; ++e) {
      c += gaps[e] + 1;
      if (c >= cols) {
        float* out = C + r * P + j;
        _mm256_storeu_ps(out, c0);
        _mm256_storeu_ps(out + 8, c1);
        _mm256_storeu_ps(out + 16, c2);
        _mm256_storeu_ps(out + 24, c3);
        c0 = c1 = c2 = c3 = _mm256_setzero_ps();
        r += c / cols;
        c %= cols;
      }
      if (codes[e] == 0) continue;
      const __m256 v = _mm256_set1_ps(codebook[codes[e]]);
      const float* b = B + c * P + j;
      c0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b), c0);
      c1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 8), c1);
      c2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 16), c2);
      c3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 24), c3);
    }
    if (entries > 0) {
      float* out = C + r * P + j;
      _mm256_storeu_ps(out, c0);
      _mm256_storeu_ps(out + 8, c1);
      _mm256_storeu_ps(out + 16, c2);
      _mm256_storeu_ps(out + 24, c3);
    }
  }
  for (; j + 8 <= P; j += 8) {   // the same with one register
    int64_t r = 0, c = -1;
    __m256 c0 = _mm256_setzero_ps();
    for (int64_t e = 0; e < entries; ++e) {
      c += gaps[e] + 1;
      if (c >= cols) {
        _mm256_storeu_ps(C + r * P + j, c0);
        c0 = _mm256_setzero_ps();
        r += c / cols;
        c %= cols;
      }
      if (codes[e] == 0) continue;
      c0 = _mm256_fmadd_ps(_mm256_set1_ps(codebook[codes[e]]), _mm256_loadu_ps(B + c * P + j), c0);
    }
    if (entries > 0) _mm256_storeu_ps(C + r * P + j, c0);
  }
  if (j < P) spmm_columns_scalar(gaps, codes, entries, codebook, B, P, C, cols, j);   // the last P mod 8 columns
}
#else
void relative_index_spmm_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                              const float* B, int64_t P, float* C, int64_t rows, int64_t cols) {
  relative_index_spmm_scalar(gaps, codes, entries, codebook, B, P, C, rows, cols);
}
#endif

void relative_index_spmm(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                         const float* B, int64_t P, float* C, int64_t rows, int64_t cols) {
  if (use_avx2()) return relative_index_spmm_avx2(gaps, codes, entries, codebook, B, P, C, rows, cols);
  relative_index_spmm_scalar(gaps, codes, entries, codebook, B, P, C, rows, cols);
}

void relative_index_matvec(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                           const float* x, float* y, int64_t rows, int64_t cols) {
  if (use_avx2()) return relative_index_matvec_avx2(gaps, codes, entries, codebook, x, y, rows, cols);
  relative_index_matvec_scalar(gaps, codes, entries, codebook, x, y, rows, cols);
}

}  // namespace mgf

