// compression/quantization/bit_activations.cpp — see bit_activations.h. Book: book/23-xnor.md.
#include "compression/quantization/bit_activations.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "compression/quantization/bitpack.h"
#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

// ---- the fold: BN + sign → (z > t) XOR flip ----------------------------------------------------
SignThresholds fold_bn_sign(const float* scale, const float* gamma, const float* beta, const float* mean,
                            const float* var, float eps, int64_t O, int64_t K) {
  if (O < 1 || K < 1 || K > (int64_t{1} << 30))
    throw std::invalid_argument("fold_bn_sign: expected O >= 1 and 1 <= K <= 2^30, found O " + std::to_string(O) +
                                ", K " + std::to_string(K));
  SignThresholds th;
  th.O = O;
  th.t.assign(static_cast<size_t>(O), 0);
  th.flip.assign(static_cast<size_t>(bit_words(O)), 0);
  for (int64_t o = 0; o < O; ++o) {
    // The batch_norm op's eval arithmetic (engine/ops_norm.cpp), step by step, in float.
    const float s = scale[o], mu = mean[o], is = 1.0f / std::sqrt(var[o] + eps), gm = gamma[o], bt = beta[o];
    auto bit = [&](int64_t z) {
      const float y = s * static_cast<float>(z);
      const float h = (y - mu) * is;
      return gm * h + bt >= 0.0f;  // sign(0) = +1
    };
    // One pass over the range: the bit may change at most once (monotone in z).
    const bool first = bit(-K);
    int64_t change = 0;  // the first z whose bit differs from bit(−K); 0 = none
    bool changed = false;
    for (int64_t z = -K + 1; z <= K; ++z) {
      const bool b = bit(z);
      if (b != first && !changed) changed = true, change = z;
      if (changed && b == first)
        throw std::runtime_error("fold_bn_sign: channel " + std::to_string(o) + ": expected BN(scale·z) monotone in z, "
                                 "found a second sign change at z = " + std::to_string(z));
    }
    int32_t t;
    bool flip;
    if (!changed) {             // constant channel (γ·s = 0, or the whole range on one side)
      t = static_cast<int32_t>(K), flip = first;  // z > K never holds: the bit is `first`
    } else if (!first) {        // 0 … 0 1 … 1: bit = z ≥ change
      t = static_cast<int32_t>(change - 1), flip = false;
    } else {                    // 1 … 1 0 … 0 (negative γ·s): bit = z < change = ¬(z > change − 1)
      t = static_cast<int32_t>(change - 1), flip = true;
    }
    th.t[static_cast<size_t>(o)] = t;
    if (flip) th.flip[static_cast<size_t>(o / 64)] |= uint64_t{1} << (o % 64);
  }
  return th;
}

// ---- threshold: int32 popcount results → HWC bits -----------------------------------------------
void sign_threshold_rows_scalar(const int32_t* z, int64_t rows, int64_t O, const SignThresholds& th, uint64_t* out) {
  const int64_t words = bit_words(O);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t w = 0; w < words; ++w) {
      const int64_t lo = w * 64, hi = std::min(O, lo + 64);
      uint64_t word = 0;
      for (int64_t o = lo; o < hi; ++o) word |= static_cast<uint64_t>(z[r * O + o] > th.t[static_cast<size_t>(o)]) << (o - lo);
      out[r * words + w] = word ^ th.flip[static_cast<size_t>(w)];
    }
}

#if MGF_HAVE_X86
MGF_AVX2 void sign_threshold_rows_avx2(const int32_t* z, int64_t rows, int64_t O, const SignThresholds& th,
                                       uint64_t* out) {
  const int64_t words = bit_words(O);
  const int32_t* t = th.t.data();
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* zr = z + r * O;
    for (int64_t w = 0; w < words; ++w) {
      const int64_t lo = w * 64, n = std::min<int64_t>(64, O - lo);
      uint64_t word = 0;
      int64_t i = 0;
      for (; i + 8 <= n; i += 8) {  // 8 channels: (z > t) as lanes of −1 / 0, their sign bits as 8 bits
        const __m256i gt = _mm256_cmpgt_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(zr + lo + i)),
                                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + lo + i)));
        word |= static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(gt)))) << i;
      }
      for (; i < n; ++i) word |= static_cast<uint64_t>(zr[lo + i] > t[lo + i]) << i;  // ragged channels
      out[r * words + w] = word ^ th.flip[static_cast<size_t>(w)];
    }
  }
}
#else
void sign_threshold_rows_avx2(const int32_t* z, int64_t rows, int64_t O, const SignThresholds& th, uint64_t* out) {
  sign_threshold_rows_scalar(z, rows, O, th, out);
}
#endif

void sign_threshold_rows(const int32_t* z, int64_t rows, int64_t O, const SignThresholds& th, uint64_t* out) {
  if (th.O != O || static_cast<int64_t>(th.t.size()) != O || static_cast<int64_t>(th.flip.size()) != bit_words(O))
    throw std::invalid_argument("sign_threshold_rows: expected thresholds for " + std::to_string(O) +
                                " channels, found " + std::to_string(th.t.size()));
  if (use_avx2()) return sign_threshold_rows_avx2(z, rows, O, th, out);
  sign_threshold_rows_scalar(z, rows, O, th, out);
}

// ---- real → bits: BN + sign folded to a float threshold ---------------------------------------
namespace {
// The order of finite floats as unsigned keys: flip all bits of a negative, set the sign bit of
// a positive (−0 and +0 become neighbours, which BN maps to the same value anyway).
uint32_t float_key(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
float key_float(uint32_t k) {
  const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
}  // namespace

RealThresholds fold_bn_sign_real(const float* gamma, const float* beta, const float* mean, const float* var, float eps,
                                 int64_t C) {
  if (C < 1) throw std::invalid_argument("fold_bn_sign_real: expected C >= 1, found " + std::to_string(C));
  RealThresholds th;
  th.C = C;
  th.tau.assign(static_cast<size_t>(C), 0.0f);
  th.down.assign(static_cast<size_t>(bit_words(C)), 0);
  for (int64_t c = 0; c < C; ++c) {
    const float mu = mean[c], is = 1.0f / std::sqrt(var[c] + eps), gm = gamma[c], bt = beta[c];
    auto bit = [&](uint32_t key) {  // the batch_norm op's eval arithmetic, then sign (≥ 0 is +1)
      const float h = (key_float(key) - mu) * is;
      return gm * h + bt >= 0.0f;
    };
    const uint32_t lo = float_key(-std::numeric_limits<float>::max()), hi = float_key(std::numeric_limits<float>::max());
    // γ = 0: γ·h + β is ±0 + β for every finite h (the ends would overflow h to ±∞ and 0·∞)
    const bool at_lo = gm == 0.0f ? bt >= 0.0f : bit(lo), at_hi = gm == 0.0f ? at_lo : bit(hi);
    float tau;
    bool down = false;
    if (at_lo == at_hi) {  // constant on finite inputs
      tau = at_lo ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
    } else if (!at_lo) {   // increasing: the smallest key with bit 1; bit = x ≥ tau
      uint32_t a = lo, b = hi;  // bit(a) = 0, bit(b) = 1
      while (b - a > 1) {
        const uint32_t m = a + (b - a) / 2;
        (bit(m) ? b : a) = m;
      }
      tau = key_float(b);
    } else {               // decreasing (negative γ): the largest key with bit 1; bit = x ≤ tau
      uint32_t a = lo, b = hi;  // bit(a) = 1, bit(b) = 0
      while (b - a > 1) {
        const uint32_t m = a + (b - a) / 2;
        (bit(m) ? a : b) = m;
      }
      tau = key_float(a), down = true;
    }
    th.tau[static_cast<size_t>(c)] = tau;
    if (down) th.down[static_cast<size_t>(c / 64)] |= uint64_t{1} << (c % 64);
  }
  return th;
}

void sign_pack_chw_scalar(const float* x, int64_t C, int64_t S, const RealThresholds& th, uint64_t* out) {
  const int64_t cw = bit_words(C);
  std::fill(out, out + S * cw, uint64_t{0});
  for (int64_t c = 0; c < C; ++c) {
    const float t = th.tau[static_cast<size_t>(c)];
    const bool down = (th.down[static_cast<size_t>(c / 64)] >> (c % 64)) & 1u;
    uint64_t* o = out + c / 64;
    for (int64_t p = 0; p < S; ++p) {
      const float v = x[c * S + p];
      o[p * cw] |= static_cast<uint64_t>(down ? v <= t : v >= t) << (c % 64);
    }
  }
}

#if MGF_HAVE_X86
// The bits of channels c0 .. c1−1 (c1 − c0 ≤ 32) for 8 pixels at x, as 8 lanes of 32 bits (bit
// c − c0 of lane j = channel c of pixel j). Channels go from the last to the first, each shifting
// the lanes left by one and adding its bit: acc = acc + acc − m (m = −1 where the bit is 1), three
// vector operations per channel and no per-channel constant to build.
MGF_AVX2 static inline __m256i sign_pack_lanes_avx2(const float* x, int64_t S, int64_t c0, int64_t c1,
                                                   const RealThresholds& th) {
  __m256i acc = _mm256_setzero_si256();
  for (int64_t c = c1 - 1; c >= c0; --c) {
    const __m256 v = _mm256_loadu_ps(x + c * S), t = _mm256_broadcast_ss(&th.tau[static_cast<size_t>(c)]);
    const bool down = (th.down[static_cast<size_t>(c / 64)] >> (c % 64)) & 1u;
    // lanes of all ones where the bit is 1 (ordered compares: NaN gives 0, as the scalar side)
    const __m256i m = _mm256_castps_si256(down ? _mm256_cmp_ps(v, t, _CMP_LE_OQ) : _mm256_cmp_ps(v, t, _CMP_GE_OQ));
    acc = _mm256_sub_epi32(_mm256_add_epi32(acc, acc), m);
  }
  return acc;
}

MGF_AVX2 void sign_pack_chw_avx2(const float* x, int64_t C, int64_t S, const RealThresholds& th, uint64_t* out) {
  const int64_t cw = bit_words(C), S8 = S / 8 * 8;
  for (int64_t p = 0; p < S8; p += 8) {  // 8 pixels: their words built in lanes, channel by channel
    for (int64_t w = 0; w < cw; ++w) {
      const int64_t c0 = 64 * w, c1 = std::min(C, c0 + 32), c2 = std::min(C, c0 + 64);
      const __m256i lo = sign_pack_lanes_avx2(x + p, S, c0, c1, th);  // channels 64w + 0..31
      const __m256i hi = sign_pack_lanes_avx2(x + p, S, c1, c2, th);  // channels 64w + 32..63
      // pixel j's word = lo_j | hi_j << 32: interleave the 32-bit lanes (pixels 0 1 | 4 5 and
      // 2 3 | 6 7), then put the 128-bit halves in pixel order
      const __m256i u0 = _mm256_unpacklo_epi32(lo, hi), u1 = _mm256_unpackhi_epi32(lo, hi);
      const __m256i w03 = _mm256_permute2x128_si256(u0, u1, 0x20), w47 = _mm256_permute2x128_si256(u0, u1, 0x31);
      if (cw == 1) {  // the 8 words are contiguous
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p), w03);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p + 4), w47);
      } else {
        alignas(32) uint64_t word[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(word), w03);
        _mm256_store_si256(reinterpret_cast<__m256i*>(word + 4), w47);
        for (int j = 0; j < 8; ++j) out[(p + j) * cw + w] = word[j];
      }
    }
  }
  if (S8 < S) {  // ragged pixels: the scalar rule on the last S − S8
    for (int64_t p = S8; p < S; ++p)
      for (int64_t w = 0; w < cw; ++w) out[p * cw + w] = 0;
    for (int64_t c = 0; c < C; ++c) {
      const float t = th.tau[static_cast<size_t>(c)];
      const bool down = (th.down[static_cast<size_t>(c / 64)] >> (c % 64)) & 1u;
      for (int64_t p = S8; p < S; ++p) {
        const float v = x[c * S + p];
        out[p * cw + c / 64] |= static_cast<uint64_t>(down ? v <= t : v >= t) << (c % 64);
      }
    }
  }
}
#else
void sign_pack_chw_avx2(const float* x, int64_t C, int64_t S, const RealThresholds& th, uint64_t* out) {
  sign_pack_chw_scalar(x, C, S, th, out);
}
#endif

void sign_pack_chw(const float* x, int64_t C, int64_t S, const RealThresholds& th, uint64_t* out) {
  if (th.C != C || static_cast<int64_t>(th.tau.size()) != C || static_cast<int64_t>(th.down.size()) != bit_words(C))
    throw std::invalid_argument("sign_pack_chw: expected thresholds for " + std::to_string(C) + " channels, found " +
                                std::to_string(th.tau.size()));
  if (use_avx2()) return sign_pack_chw_avx2(x, C, S, th, out);
  sign_pack_chw_scalar(x, C, S, th, out);
}

// ---- max-pool of ±1 = OR of packed pixels --------------------------------------------------------
void or_pool_bits_scalar(const uint64_t* in, int64_t H, int64_t W, int64_t cw, int64_t k, uint64_t* out) {
  const int64_t OH = H / k, OW = W / k;
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow)
      for (int64_t c = 0; c < cw; ++c) {
        uint64_t v = 0;  // max of ±1 over the window = OR of the bits (+1 ↦ 1)
        for (int64_t kh = 0; kh < k; ++kh)
          for (int64_t kw = 0; kw < k; ++kw) v |= in[((oh * k + kh) * W + ow * k + kw) * cw + c];
        out[(oh * OW + ow) * cw + c] = v;
      }
}

#if MGF_HAVE_X86
MGF_AVX2 void or_pool_bits_avx2(const uint64_t* in, int64_t H, int64_t W, int64_t cw, int64_t k, uint64_t* out) {
  const int64_t OH = H / k, OW = W / k, L = OW * k * cw;  // the words of a row that some window covers
  std::vector<uint64_t> acc(static_cast<size_t>(L));
  for (int64_t oh = 0; oh < OH; ++oh) {
    // the k rows of the window, OR'ed 4 words per vpor: acc[j] = OR_kh in[oh·k + kh][j]
    const uint64_t* r0 = in + oh * k * W * cw;
    int64_t j = 0;
    for (; j + 4 <= L; j += 4) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + j));
      for (int64_t kh = 1; kh < k; ++kh)
        v = _mm256_or_si256(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + kh * W * cw + j)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc.data() + j), v);
    }
    for (; j < L; ++j) {  // ragged words
      uint64_t v = r0[j];
      for (int64_t kh = 1; kh < k; ++kh) v |= r0[kh * W * cw + j];
      acc[static_cast<size_t>(j)] = v;
    }
    // then the k neighbouring pixels of each window (k·cw words, scalar)
    for (int64_t ow = 0; ow < OW; ++ow)
      for (int64_t c = 0; c < cw; ++c) {
        uint64_t v = 0;
        for (int64_t kw = 0; kw < k; ++kw) v |= acc[static_cast<size_t>((ow * k + kw) * cw + c)];
        out[(oh * OW + ow) * cw + c] = v;
      }
  }
}
#else
void or_pool_bits_avx2(const uint64_t* in, int64_t H, int64_t W, int64_t cw, int64_t k, uint64_t* out) {
  or_pool_bits_scalar(in, H, W, cw, k, out);
}
#endif

void or_pool_bits(const uint64_t* in, int64_t H, int64_t W, int64_t cw, int64_t k, uint64_t* out) {
  if (k < 1 || k > H || k > W || cw < 1)
    throw std::invalid_argument("or_pool_bits: expected 1 <= k <= H, W and cw >= 1, found k " + std::to_string(k) +
                                " on " + std::to_string(H) + "x" + std::to_string(W) + ", cw " + std::to_string(cw));
  if (use_avx2()) return or_pool_bits_avx2(in, H, W, cw, k, out);
  or_pool_bits_scalar(in, H, W, cw, k, out);
}

// ---- im2col on HWC bits --------------------------------------------------------------------------
static void check_im2col_bits(int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW) {
  if (C < 1 || KH < 1 || KW < 1 || KH > H || KW > W)
    throw std::invalid_argument("im2col_bits: expected C >= 1 and a KHxKW kernel inside the image, found C " +
                                std::to_string(C) + ", kernel " + std::to_string(KH) + "x" + std::to_string(KW) +
                                " on " + std::to_string(H) + "x" + std::to_string(W));
}

// One output row (the receptive field at oh, ow): the fields are appended to a register and each
// word stored once when full (as in im2col_pack_signs): `fill` bits of acc are taken, always < 64.
static void im2col_bits_row(const uint64_t* in, int64_t W, int64_t C, int64_t KH, int64_t KW, int64_t oh, int64_t ow,
                            uint64_t* o) {
  const int64_t cw = bit_words(C);
  uint64_t acc = 0;
  int64_t fill = 0;
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw) {
      const uint64_t* px = in + ((oh + kh) * W + ow + kw) * cw;
      for (int64_t w = 0; w < cw; ++w) {
        const int64_t n = std::min<int64_t>(64, C - 64 * w);  // bits of this word (its padding is 0)
        const uint64_t v = px[w];
        acc |= v << fill;
        fill += n;
        if (fill >= 64) {  // a full word; the bits of v that did not fit start the next one
          *o++ = acc;
          fill -= 64;
          acc = fill ? v >> (n - fill) : 0;
        }
      }
    }
  if (fill > 0) *o = acc;
}

void im2col_bits_scalar(const uint64_t* in, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, uint64_t* out) {
  const int64_t OH = H - KH + 1, OW = W - KW + 1, words = bit_words(KH * KW * C);
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) im2col_bits_row(in, W, C, KH, KW, oh, ow, out + (oh * OW + ow) * words);
}

#if MGF_HAVE_X86
// C ≤ 64 (one word per pixel: LeNet-5's conv2). Pixel t = kh·KW + kw of a receptive field lands
// at bits [t·C, t·C + C) of its row, the same place in every row, so the shifts are planned once
// per call: output word w is the OR of a few pixels, each shifted by a fixed amount. Four
// neighbouring fields (ow .. ow+3) read four neighbouring pixels for the same piece, so one
// 256-bit load + one shift serves four rows; the 4 words × 4 rows blocks are then transposed
// (unpack + permute) and stored. Other C, and the last OW % 4 fields, take the scalar row.
MGF_AVX2 void im2col_bits_avx2(const uint64_t* in, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW,
                               uint64_t* out) {
  const int64_t OH = H - KH + 1, OW = W - KW + 1, words = bit_words(KH * KW * C);
  if (C > 64 || OW < 4) return im2col_bits_scalar(in, H, W, C, KH, KW, out);  // (OW < 4: no block of 4 fields)
  struct Piece {
    int64_t src, shift;  // word |= shift ≥ 0 ? px[src] << shift : px[src] >> −shift
  };
  std::vector<Piece> plan;                                   // in output-word order
  std::vector<size_t> first(static_cast<size_t>(words + 1), 0);  // plan[first[w] .. first[w+1]) make word w
  for (int64_t w = 0; w < words; ++w) {
    first[static_cast<size_t>(w)] = plan.size();
    for (int64_t t = 0; t < KH * KW; ++t) {
      const int64_t lo = t * C, src = (t / KW) * W + t % KW;  // src: offset from the field's corner
      if (lo / 64 == w) plan.push_back({src, lo % 64});
      else if (lo / 64 + 1 == w && lo % 64 + C > 64) plan.push_back({src, lo % 64 - 64});  // the bits that spill over
    }
  }
  first[static_cast<size_t>(words)] = plan.size();
  for (int64_t oh = 0; oh < OH; ++oh) {
    int64_t ow = 0;
    for (; ow + 4 <= OW; ow += 4) {
      const uint64_t* px = in + oh * W + ow;
      uint64_t* o = out + (oh * OW + ow) * words;  // 4 rows of `words` words
      for (int64_t w0 = 0; w0 < words; w0 += 4) {
        __m256i acc[4];  // acc[k] lane q = word w0 + k of row q
        for (int k = 0; k < 4; ++k) {
          acc[k] = _mm256_setzero_si256();
          if (w0 + k >= words) continue;
          for (size_t i = first[static_cast<size_t>(w0 + k)]; i < first[static_cast<size_t>(w0 + k + 1)]; ++i) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(px + plan[i].src));
            const int64_t sh = plan[i].shift;  // four pixels shifted alike: vpsllq / vpsrlq by a count
            acc[k] = _mm256_or_si256(acc[k], sh >= 0 ? _mm256_sll_epi64(v, _mm_cvtsi64_si128(sh))
                                                     : _mm256_srl_epi64(v, _mm_cvtsi64_si128(-sh)));
          }
        }
        // transpose 4×4 words: row q = (acc[0] lane q, acc[1] lane q, acc[2] lane q, acc[3] lane q)
        const __m256i t0 = _mm256_unpacklo_epi64(acc[0], acc[1]), t1 = _mm256_unpackhi_epi64(acc[0], acc[1]);
        const __m256i t2 = _mm256_unpacklo_epi64(acc[2], acc[3]), t3 = _mm256_unpackhi_epi64(acc[2], acc[3]);
        const __m256i r[4] = {_mm256_permute2x128_si256(t0, t2, 0x20), _mm256_permute2x128_si256(t1, t3, 0x20),
                              _mm256_permute2x128_si256(t0, t2, 0x31), _mm256_permute2x128_si256(t1, t3, 0x31)};
        for (int q = 0; q < 4; ++q) {
          if (w0 + 4 <= words) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + q * words + w0), r[q]);
          } else {  // the last, partial block of words
            alignas(32) uint64_t lane[4];
            _mm256_store_si256(reinterpret_cast<__m256i*>(lane), r[q]);
            for (int64_t k = 0; w0 + k < words; ++k) o[q * words + w0 + k] = lane[k];
          }
        }
      }
    }
    for (; ow < OW; ++ow) im2col_bits_row(in, W, C, KH, KW, oh, ow, out + (oh * OW + ow) * words);  // ragged fields
  }
}
#else
void im2col_bits_avx2(const uint64_t* in, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, uint64_t* out) {
  im2col_bits_scalar(in, H, W, C, KH, KW, out);
}
#endif

void im2col_bits(const uint64_t* in, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, uint64_t* out) {
  check_im2col_bits(H, W, C, KH, KW);
  if (use_avx2()) return im2col_bits_avx2(in, H, W, C, KH, KW, out);
  im2col_bits_scalar(in, H, W, C, KH, KW, out);
}

}  // namespace mgf
