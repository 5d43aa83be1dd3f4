// compression/coding/relative_index.cpp — see relative_index.h (Deep Compression §2, Fig. 2).
#include "compression/coding/relative_index.h"

#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
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
// Eight entries at a time: the positions are a prefix sum of (gap + 1), done in registers with
// two shift-and-add steps per 128-bit half; when all eight land in the current row, one gather
// fetches x[c], one gathers C[code], one FMA accumulates. A block that crosses a row boundary is
// handed to the scalar loop entry by entry, so the vector path never needs a division.
MGF_AVX2 void relative_index_matvec_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries,
                                         const float* codebook, const float* x, float* y, int64_t rows, int64_t cols) {
  (void)rows;
  int64_t r = 0, c = -1;   // row and column of the last entry consumed
  __m256 acc = _mm256_setzero_ps();
  float acc_s = 0.0f;
  const __m256i one = _mm256_set1_epi32(1);
  int64_t e = 0;
  while (e < entries) {
    if (e + 8 <= entries) {
      // d_j = gap_j + 1; p_j = d_0 + ... + d_j (inclusive prefix sum within each 128-bit half)
      __m256i d = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(gaps + e))), one);
      __m256i p = _mm256_add_epi32(d, _mm256_slli_si256(d, 4));
      p = _mm256_add_epi32(p, _mm256_slli_si256(p, 8));
      // carry the low half's total (lane 3) into the high half
      __m256i lo_total = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 0, 0, 0, 3, 3, 3, 3));
      lo_total = _mm256_blend_epi32(_mm256_setzero_si256(), lo_total, 0xF0);
      p = _mm256_add_epi32(p, lo_total);
      const int64_t last = c + _mm256_extract_epi32(p, 7);   // column of the 8th entry
      if (last < cols) {
        __m256i col = _mm256_add_epi32(p, _mm256_set1_epi32(static_cast<int>(c)));
        __m256 xv = _mm256_i32gather_ps(x, col, 4);                                   // x[c_j]
        __m256i code = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + e)));
        __m256 wv = _mm256_i32gather_ps(codebook, code, 4);                          // C[code_j]
        acc = _mm256_fmadd_ps(wv, xv, acc);
        c = last;
        e += 8;
        continue;
      }
    }
    // Scalar step (a block that crosses a row, or the tail): exactly the scalar kernel's body.
    c += gaps[e] + 1;
    if (c >= cols) {
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      y[r] += _mm_cvtss_f32(s) + acc_s;
      acc = _mm256_setzero_ps();
      acc_s = 0.0f;
      r += c / cols;
      c %= cols;
    }
    acc_s += codebook[codes[e]] * x[c];
    ++e;
  }
  if (entries > 0) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    y[r] += _mm_cvtss_f32(s) + acc_s;
  }
}
#else
void relative_index_matvec_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                const float* x, float* y, int64_t rows, int64_t cols) {
  relative_index_matvec_scalar(gaps, codes, entries, codebook, x, y, rows, cols);
}
#endif

void relative_index_matvec(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                           const float* x, float* y, int64_t rows, int64_t cols) {
  if (use_avx2()) return relative_index_matvec_avx2(gaps, codes, entries, codebook, x, y, rows, cols);
  relative_index_matvec_scalar(gaps, codes, entries, codebook, x, y, rows, cols);
}

}  // namespace mgf

