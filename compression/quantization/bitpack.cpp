// compression/quantization/bitpack.cpp — see bitpack.h. Book: book/23-xnor.md.
// Packing is O(K) per row and runs once per layer per image; the popcount GEMM that follows
// is O(K·M) per row. Yet with a 64×-cheaper inner product the packing is no longer negligible
// (book 23 measures it), so its one hot loop — floats to sign bits — has a scalar and an AVX2 side.
#include "compression/quantization/bitpack.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

void pack_signs_row_scalar(const float* x, int64_t K, uint64_t* out) {
  const int64_t words = bit_words(K);
  for (int64_t w = 0; w < words; ++w) {
    const int64_t k0 = w * 64, k1 = std::min(K, k0 + 64);
    uint64_t word = 0;  // bits k1..k0+63 stay 0: the padding that never changes a result
    for (int64_t k = k0; k < k1; ++k) word |= static_cast<uint64_t>(x[k] >= 0.0f) << (k - k0);
    out[w] = word;
  }
}

#if MGF_HAVE_X86
MGF_AVX2 void pack_signs_row_avx2(const float* x, int64_t K, uint64_t* out) {
  const __m256 zero = _mm256_setzero_ps();
  const int64_t words = bit_words(K);
  for (int64_t w = 0; w < words; ++w) {
    const int64_t k0 = w * 64, n = std::min<int64_t>(64, K - k0);
    uint64_t word = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {  // x >= 0 (ordered: NaN → 0, −0.0 → 1, as the scalar compare)
      const __m256 ge = _mm256_cmp_ps(_mm256_loadu_ps(x + k0 + i), zero, _CMP_GE_OQ);
      word |= static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_ps(ge))) << i;
    }
    for (; i < n; ++i) word |= static_cast<uint64_t>(x[k0 + i] >= 0.0f) << i;
    out[w] = word;
  }
}
#else
void pack_signs_row_avx2(const float* x, int64_t K, uint64_t* out) { pack_signs_row_scalar(x, K, out); }
#endif

void pack_signs_row(const float* x, int64_t K, uint64_t* out) {
  if (use_avx2()) return pack_signs_row_avx2(x, K, out);
  pack_signs_row_scalar(x, K, out);
}

void pack_signs_rows(const float* x, int64_t rows, int64_t K, int64_t ld, uint64_t* out) {
  const int64_t words = bit_words(K);
  for (int64_t r = 0; r < rows; ++r) pack_signs_row(x + r * ld, K, out + r * words);
}

// The specification: one bit at a time, straight from im2col's definition.
static void im2col_pack_signs_bitwise(const ConvGeom& g, const float* x, uint64_t* out) {
  const int64_t OH = g.OH(), OW = g.OW(), K = g.C * g.KH * g.KW, words = bit_words(K);
  std::fill(out, out + OH * OW * words, uint64_t{0});
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      uint64_t* o = out + (oh * OW + ow) * words;
      int64_t k = 0;  // bit index along the receptive field, im2col's row order
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.SH - g.PH + kh;
          for (int64_t kw = 0; kw < g.KW; ++kw, ++k) {
            const int64_t iw = ow * g.SW - g.PW + kw;
            const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            // a padded position holds 0, and sign(0) = +1: bit 1
            const bool bit = !inside || x[(c * g.H + ih) * g.W + iw] >= 0.0f;
            o[k >> 6] |= static_cast<uint64_t>(bit) << (k & 63);
          }
        }
    }
}

// The same bits, KW at a time. The sign of every (padded) input row is computed ONCE as a bit
// mask over the padded width (bit j = sign of x[c][ih][j − PW], 1 in the padding); the KW bits a
// receptive field takes from that row are then one shift and one mask, appended to the output
// row (possibly straddling two words). That is C·KH small operations per output pixel instead
// of C·KH·KW compares — the packing no longer dwarfs the popcount GEMM (measured in the book).
void im2col_pack_signs(const ConvGeom& g, const float* x, uint64_t* out) {
  const int64_t WP = g.W + 2 * g.PW, HP = g.H + 2 * g.PH;
  if (WP > 64 || g.KW > 32) return im2col_pack_signs_bitwise(g, x, out);  // rows that do not fit a word
  const int64_t OH = g.OH(), OW = g.OW(), K = g.C * g.KH * g.KW, words = bit_words(K);
  const uint64_t all = WP == 64 ? ~uint64_t{0} : ((uint64_t{1} << WP) - 1);
  std::vector<uint64_t> rowmask(static_cast<size_t>(g.C * HP), all);  // padded rows: all +1
  // the W signs of an input row (one word: W ≤ 64 − 2·PW here), moved past the left padding;
  // the padding columns on both sides stay 1
  const uint64_t pads = all & ~(((g.W == 64 ? ~uint64_t{0} : (uint64_t{1} << g.W) - 1)) << g.PW);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ih = 0; ih < g.H; ++ih) {
      uint64_t signs;
      pack_signs_row(x + (c * g.H + ih) * g.W, g.W, &signs);
      rowmask[static_cast<size_t>(c * HP + ih + g.PH)] = (signs << g.PW) | pads;
    }
  const uint64_t low = (uint64_t{1} << g.KW) - 1;
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      uint64_t* o = out + (oh * OW + ow) * words;
      const int64_t shift = ow * g.SW;  // padded column of kw = 0
      // The output row is assembled in a register and each word stored once when full: an OR
      // into memory per group (the first version) chains every group through a store and a
      // reload of the same word, and cost more than the popcount GEMM (book 23 measures it).
      uint64_t acc = 0;
      int64_t fill = 0;  // bits already in acc, < 64
      for (int64_t c = 0; c < g.C; ++c) {
        const uint64_t* rm = rowmask.data() + c * HP + oh * g.SH;  // padded row of kh = 0
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const uint64_t bits = (rm[kh] >> shift) & low;  // the next KW bits, kw ascending
          acc |= bits << fill;
          fill += g.KW;
          if (fill >= 64) {  // a word is full; the bits that did not fit start the next one
            *o++ = acc;
            fill -= 64;
            acc = fill ? bits >> (g.KW - fill) : 0;
          }
        }
      }
      if (fill > 0) *o = acc;  // the last, partial word: its padding bits are 0
    }
}

void xnor_beta_map(const ConvGeom& g, const float* x, float* out) {
  // A = Σ_c |I_c| / c  (the paper's A, one value per input pixel)
  std::vector<float> A(static_cast<size_t>(g.H * g.W), 0.0f);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.H * g.W; ++i) A[static_cast<size_t>(i)] += std::fabs(x[c * g.H * g.W + i]);
  for (float& a : A) a /= static_cast<float>(g.C);
  // K = A ∗ k, k the KH×KW box of value 1/(KH·KW), zero padding, the conv's stride
  const int64_t OH = g.OH(), OW = g.OW();
  const float inv = 1.0f / static_cast<float>(g.KH * g.KW);
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      float s = 0.0f;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.SH - g.PH + kh;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t iw = ow * g.SW - g.PW + kw;
          if (iw >= 0 && iw < g.W) s += A[static_cast<size_t>(ih * g.W + iw)];
        }
      }
      out[oh * OW + ow] = s * inv;
    }
}

void unpack_signs_row(const uint64_t* row, int64_t K, float* out) {
  for (int64_t k = 0; k < K; ++k) out[k] = ((row[k >> 6] >> (k & 63)) & 1u) ? 1.0f : -1.0f;
}

PackedSigns PackedSigns::from_rows(const float* x, int64_t rows, int64_t K) {
  if (rows < 0 || K <= 0)
    throw std::invalid_argument("PackedSigns::from_rows: expected rows >= 0 and K >= 1, found rows " +
                                std::to_string(rows) + ", K " + std::to_string(K));
  PackedSigns p;
  p.rows = rows;
  p.K = K;
  p.words = bit_words(K);
  p.bits.assign(static_cast<size_t>(rows * p.words), 0);
  pack_signs_rows(x, rows, K, K, p.bits.data());
  return p;
}

}  // namespace mgf
