// engine/kernels/pool.cpp — see pool.h. 2-D pooling over one image; the batch loop is the
// caller's (engine/ops_conv.cpp). Book: book/02-kernels.md.
// The AVX2 sides compute 8 neighbouring outputs of a row at once, over the interior of the
// row where every window tap is inside the image; border outputs go to the same per-output
// scalar helper the scalar side uses. Taps are visited in the same order on both sides, so
// max-pool values and indices, and avg-pool outputs, are bit-for-bit equal.
// Max-pool backward is a scatter-add on the scalar side; for 2×2/2 windows the AVX2 side runs
// over the input instead (windows do not overlap), else it runs the scatter-add (see there).
#include "engine/kernels/pool.h"

#include <limits>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {
namespace {

void check_pool_geom(const ConvGeom& g) {
  check_conv_geom(g);
  if (g.PH >= g.KH || g.PW >= g.KW)
    throw std::invalid_argument("pool geometry: expected padding < window (PH < KH, PW < KW), found PH=" +
                                std::to_string(g.PH) + " KH=" + std::to_string(g.KH) + " PW=" + std::to_string(g.PW) +
                                " KW=" + std::to_string(g.KW));
}

// One output of max-pooling on channel plane xc (H×W): the first maximum in window order.
inline void max_one(const ConvGeom& g, const float* xc, int64_t oh, int64_t ow, float* y, int32_t* arg) {
  float best = -std::numeric_limits<float>::infinity();
  int64_t bi = -1;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.SH - g.PH + kh;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t iw = ow * g.SW - g.PW + kw;
      if (iw < 0 || iw >= g.W) continue;
      const float v = xc[ih * g.W + iw];
      if (bi < 0 || v > best) {
        best = v;
        bi = ih * g.W + iw;
      }
    }
  }
  *y = best;
  *arg = static_cast<int32_t>(bi);
}

// One output of average pooling: Σ window · (1 / KH·KW), padding counting as 0.
inline float avg_one(const ConvGeom& g, const float* xc, int64_t oh, int64_t ow, float inv) {
  float s = 0.0f;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.SH - g.PH + kh;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t iw = ow * g.SW - g.PW + kw;
      if (iw >= 0 && iw < g.W) s += xc[ih * g.W + iw];
    }
  }
  return s * inv;
}

}  // namespace

// ---- scalar: the specification ----------------------------------------------------------------
void max_pool2d_forward_scalar(const ConvGeom& g, const float* x, float* y, int32_t* arg) {
  check_pool_geom(g);
  const int64_t OH = g.OH(), OW = g.OW();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t o = (c * OH + oh) * OW + ow;
        max_one(g, x + c * g.H * g.W, oh, ow, y + o, arg + o);
      }
}
void max_pool2d_backward_scalar(const ConvGeom& g, const float* dy, const int32_t* arg, float* dx) {
  const int64_t OHW = g.OH() * g.OW();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t o = 0; o < OHW; ++o) dx[c * g.H * g.W + arg[c * OHW + o]] += dy[c * OHW + o];
}
void avg_pool2d_forward_scalar(const ConvGeom& g, const float* x, float* y) {
  check_pool_geom(g);
  const int64_t OH = g.OH(), OW = g.OW();
  const float inv = 1.0f / static_cast<float>(g.KH * g.KW);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) y[(c * OH + oh) * OW + ow] = avg_one(g, x + c * g.H * g.W, oh, ow, inv);
}
void avg_pool2d_backward_scalar(const ConvGeom& g, const float* dy, float* dx) {
  const int64_t OH = g.OH(), OW = g.OW();
  const float inv = 1.0f / static_cast<float>(g.KH * g.KW);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const float d = dy[(c * OH + oh) * OW + ow] * inv;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t iw = ow * g.SW - g.PW + kw;
            if (iw >= 0 && iw < g.W) dx[(c * g.H + ih) * g.W + iw] += d;
          }
        }
      }
}

// ---- AVX2 -------------------------------------------------------------------------------------
#if MGF_HAVE_X86
namespace {
// Outputs ow in [lo, hi) have every tap column inside [0, W): ow·SW − PW >= 0 and
// ow·SW − PW + KW − 1 <= W − 1.
inline void interior_cols(const ConvGeom& g, int64_t OW, int64_t& lo, int64_t& hi) {
  lo = (g.PW + g.SW - 1) / g.SW;
  const int64_t b = g.W - g.KW + g.PW;  // largest ow·SW allowed
  hi = b < 0 ? 0 : std::min<int64_t>(OW, b / g.SW + 1);
  if (lo > hi) lo = hi;
}

// The 8 values x_row[(ow + l)·SW + off], l = 0..7: one load for stride 1, a gather otherwise.
MGF_AVX2 inline __m256 taps8(const float* row, int64_t ow, int64_t off, int64_t SW, __m256i lanes_sw) {
  if (SW == 1) return _mm256_loadu_ps(row + ow + off);
  return _mm256_i32gather_ps(row + ow * SW + off, lanes_sw, 4);
}
}  // namespace

// The 2×2, stride-2, unpadded window of LeNet and VGG: the general path above it needs a gather
// per tap (stride 2) and has no vector body at all when OW < 8 (LeNet-5's pool2: OW = 4), which
// made max-pool forward 5 % of a LeNet-5 epoch. Here 4 outputs take two 8-float loads per input
// row, split into even and odd columns by one shuffle each: the four taps (0,0) (0,1) (1,0) (1,1)
// are compared in that (row-major) order with a strict >, so ties keep the first, as max_one does.
MGF_AVX2 void max_pool2x2_forward_avx2(const ConvGeom& g, const float* x, float* y, int32_t* arg) {
  const int64_t OH = g.OH(), OW = g.OW(), W = g.W;
  const __m128i step = _mm_setr_epi32(0, 2, 4, 6);  // in-plane index of tap (0,0) for lanes 0..3
  for (int64_t c = 0; c < g.C; ++c) {
    const float* xc = x + c * g.H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* r0 = xc + 2 * oh * W;
      const float* r1 = r0 + W;
      const int64_t o = (c * OH + oh) * OW;
      int64_t ow = 0;
      for (; ow + 4 <= OW; ow += 4) {
        const __m128 a0 = _mm_loadu_ps(r0 + 2 * ow), a1 = _mm_loadu_ps(r0 + 2 * ow + 4);
        const __m128 b0 = _mm_loadu_ps(r1 + 2 * ow), b1 = _mm_loadu_ps(r1 + 2 * ow + 4);
        const __m128 taps[4] = {_mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0)),   // (0,0): even columns
                                _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1)),   // (0,1): odd columns
                                _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)),   // (1,0)
                                _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1))};  // (1,1)
        const __m128i base = _mm_add_epi32(_mm_set1_epi32(static_cast<int>(2 * oh * W + 2 * ow)), step);
        const int offs[4] = {0, 1, static_cast<int>(W), static_cast<int>(W) + 1};
        __m128 best = taps[0];
        __m128i bidx = base;
        for (int t = 1; t < 4; ++t) {
          const __m128 gt = _mm_cmpgt_ps(taps[t], best);
          best = _mm_blendv_ps(best, taps[t], gt);
          const __m128i idx = _mm_add_epi32(base, _mm_set1_epi32(offs[t]));
          bidx = _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(bidx), _mm_castsi128_ps(idx), gt));
        }
        _mm_storeu_ps(y + o + ow, best);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(arg + o + ow), bidx);
      }
      for (; ow < OW; ++ow) max_one(g, xc, oh, ow, y + o + ow, arg + o + ow);
    }
  }
}

MGF_AVX2 void max_pool2d_forward_avx2(const ConvGeom& g, const float* x, float* y, int32_t* arg) {
  check_pool_geom(g);
  if (g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0)
    return max_pool2x2_forward_avx2(g, x, y, arg);
  const int64_t OH = g.OH(), OW = g.OW();
  int64_t lo, hi;
  interior_cols(g, OW, lo, hi);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lanes_sw = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(static_cast<int>(g.SW)));
  for (int64_t c = 0; c < g.C; ++c) {
    const float* xc = x + c * g.H * g.W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t o = (c * OH + oh) * OW;
      int64_t ow = 0;
      for (; ow < lo; ++ow) max_one(g, xc, oh, ow, y + o + ow, arg + o + ow);
      for (; ow + 8 <= hi; ow += 8) {
        __m256 best = _mm256_setzero_ps();
        __m256i bidx = _mm256_setzero_si256();
        bool first = true;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            // lane l reads x[ih][(ow + l)·SW − PW + kw]; its flat index is ih·W + that column
            const int64_t off = kw - g.PW;
            const __m256 v = taps8(xc + ih * g.W, ow, off, g.SW, lanes_sw);
            const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(ih * g.W + ow * g.SW + off)), lanes_sw);
            if (first) {  // the first tap initialises, as `bi < 0` does in max_one
              best = v;
              bidx = idx;
              first = false;
              continue;
            }
            const __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);  // v > best: later ties lose
            best = _mm256_blendv_ps(best, v, gt);
            bidx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bidx), _mm256_castsi256_ps(idx), gt));
          }
        }
        _mm256_storeu_ps(y + o + ow, best);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + o + ow), bidx);
      }
      for (; ow < OW; ++ow) max_one(g, xc, oh, ow, y + o + ow, arg + o + ow);
    }
  }
}

// Max-pool backward. The scalar side is a scatter-add, dx[arg[o]] += dy[o], and AVX2 has no
// scatter. For the 2×2, stride-2, unpadded window (LeNet's, VGG's) the loop runs over the
// INPUT instead: windows do not overlap, so input (ih, iw) belongs to exactly one window
// o = (ih/2, iw/2), and  dx[i] += (arg[o] == i) ? dy[o] : nothing.  Eight outputs take one
// 8-float load of dy and of arg, duplicated lane-wise into the 16 input columns they cover
// (one permute per half), compared against those columns' own flat indices in both input rows,
// and a blend keeps dx where the compare fails — a blend, not an add of 0, so dx = −0 stays
// −0 and both sides are bit-for-bit equal (the one add that does happen per window is the
// same float add the scalar loop does).
// Measured (bench, 1 thread): this touches all four inputs of a window where the scatter
// touches one, so it gains little; a general gather-based version for other non-overlapping
// windows (3×3/3) ran 10× slower than the scatter and was dropped. Every other window —
// overlapping (3×3/2: several outputs can send to one input), padded or strided otherwise —
// runs the scalar scatter-add: a documented fallback.
MGF_AVX2 void max_pool2d_backward_avx2(const ConvGeom& g, const float* dy, const int32_t* arg, float* dx) {
  if (!(g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0))
    return max_pool2d_backward_scalar(g, dy, arg, dx);
  const int64_t OH = g.OH(), OW = g.OW(), W = g.W;
  const __m256i dup_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);  // input lane l ← output l/2
  const __m256i dup_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);  // input lane l ← output 4 + l/2
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i row = _mm256_set1_epi32(static_cast<int>(W));
  // dx[i] += dv where av == i (i = the 8 flat indices in self), for input row r.
  auto update = [](float* r, __m256 dv, __m256i av, __m256i self) MGF_AVX2 {
    const __m256 hit = _mm256_castsi256_ps(_mm256_cmpeq_epi32(av, self));
    const __m256 old = _mm256_loadu_ps(r);
    _mm256_storeu_ps(r, _mm256_blendv_ps(old, _mm256_add_ps(old, dv), hit));
  };
  for (int64_t c = 0; c < g.C; ++c) {
    float* dxc = dx + c * g.H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t o = (c * OH + oh) * OW;
      const float* d = dy + o;
      const int32_t* a = arg + o;
      float* r0 = dxc + 2 * oh * W;  // the window's two input rows
      float* r1 = r0 + W;
      int64_t ow = 0;
      for (; ow + 8 <= OW; ow += 8) {  // 8 outputs = input columns 2·ow .. 2·ow + 15 of both rows
        const __m256 dv = _mm256_loadu_ps(d + ow);
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + ow));
        const __m256 dlo = _mm256_permutevar8x32_ps(dv, dup_lo), dhi = _mm256_permutevar8x32_ps(dv, dup_hi);
        const __m256i alo = _mm256_permutevar8x32_epi32(av, dup_lo), ahi = _mm256_permutevar8x32_epi32(av, dup_hi);
        const __m256i s0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(2 * oh * W + 2 * ow)), lanes);
        const __m256i s8 = _mm256_add_epi32(s0, _mm256_set1_epi32(8));
        update(r0 + 2 * ow, dlo, alo, s0);
        update(r0 + 2 * ow + 8, dhi, ahi, s8);
        update(r1 + 2 * ow, dlo, alo, _mm256_add_epi32(s0, row));
        update(r1 + 2 * ow + 8, dhi, ahi, _mm256_add_epi32(s8, row));
      }
      if (ow + 4 <= OW) {  // 4 outputs = 8 input columns of both rows
        const __m256 dlo = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(d + ow)), dup_lo);
        const __m256i alo = _mm256_permutevar8x32_epi32(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + ow))), dup_lo);
        const __m256i s0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(2 * oh * W + 2 * ow)), lanes);
        update(r0 + 2 * ow, dlo, alo, s0);
        update(r1 + 2 * ow, dlo, alo, _mm256_add_epi32(s0, row));
        ow += 4;
      }
      for (; ow < OW; ++ow) dxc[a[ow]] += d[ow];  // the last 1–3 outputs: the scalar scatter
    }
  }
}

MGF_AVX2 void avg_pool2d_forward_avx2(const ConvGeom& g, const float* x, float* y) {
  check_pool_geom(g);
  const int64_t OH = g.OH(), OW = g.OW();
  const float inv = 1.0f / static_cast<float>(g.KH * g.KW);
  const __m256 iv = _mm256_set1_ps(inv);
  int64_t lo, hi;
  interior_cols(g, OW, lo, hi);
  const __m256i lanes_sw =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(g.SW)));
  for (int64_t c = 0; c < g.C; ++c) {
    const float* xc = x + c * g.H * g.W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      float* yo = y + (c * OH + oh) * OW;
      int64_t ow = 0;
      for (; ow < lo; ++ow) yo[ow] = avg_one(g, xc, oh, ow, inv);
      for (; ow + 8 <= hi; ow += 8) {
        __m256 s = _mm256_setzero_ps();  // Σ taps in the scalar order, then · (1/KH·KW)
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.KW; ++kw) s = _mm256_add_ps(s, taps8(xc + ih * g.W, ow, kw - g.PW, g.SW, lanes_sw));
        }
        _mm256_storeu_ps(yo + ow, _mm256_mul_ps(s, iv));
      }
      for (; ow < OW; ++ow) yo[ow] = avg_one(g, xc, oh, ow, inv);
    }
  }
}

// Stride 1 along W: for each tap, a contiguous run of dx gets dy/(KH·KW) added (a shifted axpy).
MGF_AVX2 void avg_pool2d_backward_avx2(const ConvGeom& g, const float* dy, float* dx) {
  if (g.SW != 1) return avg_pool2d_backward_scalar(g, dy, dx);
  const int64_t OH = g.OH(), OW = g.OW();
  const float inv = 1.0f / static_cast<float>(g.KH * g.KW);
  const __m256 iv = _mm256_set1_ps(inv);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* d = dy + (c * OH + oh) * OW;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.SH - g.PH + kh;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          // valid outputs: 0 <= ow − PW + kw < W
          const int64_t lo = std::max<int64_t>(0, g.PW - kw), hi = std::min<int64_t>(OW, g.W + g.PW - kw);
          float* dst = dx + (c * g.H + ih) * g.W - g.PW + kw;  // dst[ow] = dx[c][ih][ow − PW + kw]
          int64_t ow = lo;
          for (; ow + 8 <= hi; ow += 8)
            _mm256_storeu_ps(dst + ow, _mm256_add_ps(_mm256_loadu_ps(dst + ow), _mm256_mul_ps(_mm256_loadu_ps(d + ow), iv)));
          for (; ow < hi; ++ow) dst[ow] += d[ow] * inv;
        }
      }
    }
}
#else
void max_pool2d_forward_avx2(const ConvGeom& g, const float* x, float* y, int32_t* arg) {
  max_pool2d_forward_scalar(g, x, y, arg);
}
void max_pool2d_backward_avx2(const ConvGeom& g, const float* dy, const int32_t* arg, float* dx) {
  max_pool2d_backward_scalar(g, dy, arg, dx);
}
void avg_pool2d_forward_avx2(const ConvGeom& g, const float* x, float* y) { avg_pool2d_forward_scalar(g, x, y); }
void avg_pool2d_backward_avx2(const ConvGeom& g, const float* dy, float* dx) { avg_pool2d_backward_scalar(g, dy, dx); }
#endif

void max_pool2d_forward(const ConvGeom& g, const float* x, float* y, int32_t* arg) {
  if (use_avx2()) return max_pool2d_forward_avx2(g, x, y, arg);
  max_pool2d_forward_scalar(g, x, y, arg);
}
void max_pool2d_backward(const ConvGeom& g, const float* dy, const int32_t* arg, float* dx) {
  if (use_avx2()) return max_pool2d_backward_avx2(g, dy, arg, dx);
  max_pool2d_backward_scalar(g, dy, arg, dx);
}
void avg_pool2d_forward(const ConvGeom& g, const float* x, float* y) {
  if (use_avx2()) return avg_pool2d_forward_avx2(g, x, y);
  avg_pool2d_forward_scalar(g, x, y);
}
void avg_pool2d_backward(const ConvGeom& g, const float* dy, float* dx) {
  if (use_avx2()) return avg_pool2d_backward_avx2(g, dy, dx);
  avg_pool2d_backward_scalar(g, dy, dx);
}

}  // namespace mgf
