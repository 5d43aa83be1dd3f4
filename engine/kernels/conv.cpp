// engine/kernels/conv.cpp — convolution as data movement + GEMM, and the direct depthwise
// kernel; scalar and AVX2 side by side. See conv.h for the shapes and contracts.
//
// im2col (Chellapilla, Puri & Simard 2006, "High performance convolutional neural networks for
// document processing"; the lowering Caffe made standard) turns a convolution into one GEMM;
// col2im is its adjoint (the input gradient). Depthwise convolution (MobileNet, Howard et al.
// 2017, Sec. 3.1) has only KH·KW MACs per output and no reuse across channels, so it is a
// direct loop rather than a GEMM. Book: book/02-kernels.md.
// Vectorised: stride-1 rows (the common case: every LeNet conv, MobileNet's 3×3 depthwise
// layers at stride 1). Strided rows (SW > 1) are handed to the scalar code — a gather would
// buy little on these sizes. Not done: Winograd/FFT convolution, NHWC layouts.
#include "engine/kernels/conv.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

void check_conv_geom(const ConvGeom& g) {
  auto bad = [&](const std::string& what) {
    throw std::invalid_argument("conv geometry: expected " + what + ", found C=" + std::to_string(g.C) +
                                " H=" + std::to_string(g.H) + " W=" + std::to_string(g.W) + " KH=" +
                                std::to_string(g.KH) + " KW=" + std::to_string(g.KW) + " SH=" +
                                std::to_string(g.SH) + " SW=" + std::to_string(g.SW) + " PH=" +
                                std::to_string(g.PH) + " PW=" + std::to_string(g.PW));
  };
  if (g.C < 1 || g.H < 1 || g.W < 1 || g.KH < 1 || g.KW < 1) bad("C, H, W, KH, KW >= 1");
  if (g.SH < 1 || g.SW < 1) bad("strides >= 1");
  if (g.PH < 0 || g.PW < 0) bad("padding >= 0");
  if (g.H + 2 * g.PH < g.KH || g.W + 2 * g.PW < g.KW) bad("kernel no larger than the padded input");
}

// ---- im2col -----------------------------------------------------------------------------
// The lowering, read straight off the definition in conv.h: row (c, kh, kw) of col, column
// (oh, ow), holds the input pixel that tap (kh, kw) of output (oh, ow) sees — or 0 when the
// tap falls in the padding. Each input pixel is copied up to KH·KW times (that is the memory
// price of turning a convolution into one big GEMM).
void im2col_scalar(const ConvGeom& g, const float* x, float* col) {
  const int64_t OH = g.OH(), OW = g.OW();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        float* row = col + ((c * g.KH + kh) * g.KW + kw) * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          int64_t ih = oh * g.SH - g.PH + kh;
          for (int64_t ow = 0; ow < OW; ++ow) {
            int64_t iw = ow * g.SW - g.PW + kw;
            bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            row[oh * OW + ow] = inside ? x[(c * g.H + ih) * g.W + iw] : 0.0f;
          }
        }
      }
}
#if MGF_HAVE_X86
// The outputs ow of one row whose input column iw = ow·SW − PW + kw lies inside [0, W):
// ow in [lo, hi). Used by the vector bodies, which need the valid run to be contiguous.
static void valid_cols(const ConvGeom& g, int64_t kw, int64_t OW, int64_t& lo, int64_t& hi) {
  // iw >= 0  <=>  ow >= ceil((PW − kw) / SW);   iw < W  <=>  ow <= floor((W − 1 + PW − kw) / SW)
  const int64_t a = g.PW - kw;
  if (g.SW == 1) {  // no divisions on the common path: it runs once per (c, kh, kw) per image
    lo = std::max<int64_t>(a, 0);
    hi = std::clamp<int64_t>(g.W + a, 0, OW);
    if (lo > hi) lo = hi;
    return;
  }
  lo = a <= 0 ? 0 : (a + g.SW - 1) / g.SW;
  const int64_t b = g.W - 1 + g.PW - kw;
  hi = b < 0 ? 0 : std::min(OW, b / g.SW + 1);
  if (lo > hi) lo = hi;
}


// One row of col for fixed (c, kh, kw, oh): zeros where the receptive field leaves the image,
// and for stride 1 a contiguous copy of x[c][ih][lo − PW + kw ...] in between.
MGF_AVX2 void im2col_avx2(const ConvGeom& g, const float* x, float* col) {
  const int64_t OH = g.OH(), OW = g.OW();
  const __m256 zero = _mm256_setzero_ps();
  if (g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0 && OW >= 8) {
    // Unpadded stride 1 (LeNet-5's two convolutions): every output row is one contiguous run
    // of x, so each row is whole 8-float copies plus one overlapping copy for the tail — no
    // bounds, no zeros. This was 10 % of a LeNet-5 epoch with the general loop below.
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const float* src = x + (c * g.H + kh) * g.W + kw;
          float* out = col + ((c * g.KH + kh) * g.KW + kw) * OH * OW;
          for (int64_t oh = 0; oh < OH; ++oh, src += g.W, out += OW) {
            int64_t ow = 0;
            for (; ow + 8 <= OW; ow += 8) _mm256_storeu_ps(out + ow, _mm256_loadu_ps(src + ow));
            if (ow < OW) _mm256_storeu_ps(out + OW - 8, _mm256_loadu_ps(src + OW - 8));  // overlaps, same values
          }
        }
    return;
  }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t lo, hi;
        valid_cols(g, kw, OW, lo, hi);
        float* row = col + ((c * g.KH + kh) * g.KW + kw) * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          float* out = row + oh * OW;
          const int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) {  // the whole output row reads padding
            int64_t ow = 0;
            for (; ow + 8 <= OW; ow += 8) _mm256_storeu_ps(out + ow, zero);
            for (; ow < OW; ++ow) out[ow] = 0.0f;
            continue;
          }
          const float* in = x + (c * g.H + ih) * g.W;
          for (int64_t ow = 0; ow < lo; ++ow) out[ow] = 0.0f;
          if (g.SW == 1) {  // out[ow] = in[ow − PW + kw]: a contiguous copy
            const float* src = in - g.PW + kw;
            int64_t ow = lo;
            for (; ow + 8 <= hi; ow += 8) _mm256_storeu_ps(out + ow, _mm256_loadu_ps(src + ow));
            for (; ow < hi; ++ow) out[ow] = src[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * g.SW - g.PW + kw];
          }
          for (int64_t ow = hi; ow < OW; ++ow) out[ow] = 0.0f;
        }
      }
}
#else
void im2col_avx2(const ConvGeom& g, const float* x, float* col) { im2col_scalar(g, x, col); }
#endif
void im2col(const ConvGeom& g, const float* x, float* col) {
  if (use_avx2()) return im2col_avx2(g, x, col);
  im2col_scalar(g, x, col);
}

// ---- col2im -----------------------------------------------------------------------------
// The adjoint (transpose) of im2col: where im2col copied x[c][ih][iw] into a column entry,
// col2im adds that entry back to dx[c][ih][iw]. Since one pixel feeds up to KH·KW entries,
// the gradient of that pixel is the sum of all of them: dL/dx = im2colᵀ · dL/dcol.
void col2im_scalar(const ConvGeom& g, const float* col, float* dx) {
  const int64_t OH = g.OH(), OW = g.OW();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const float* row = col + ((c * g.KH + kh) * g.KW + kw) * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t ow = 0; ow < OW; ++ow) {
            int64_t iw = ow * g.SW - g.PW + kw;
            if (iw >= 0 && iw < g.W) dx[(c * g.H + ih) * g.W + iw] += row[oh * OW + ow];
          }
        }
      }
}
#if MGF_HAVE_X86
// The adjoint of im2col_avx2: for stride 1 each col row segment is ADDED back onto a contiguous
// run of the image row.
MGF_AVX2 void col2im_avx2(const ConvGeom& g, const float* col, float* dx) {
  const int64_t OH = g.OH(), OW = g.OW();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t lo, hi;
        valid_cols(g, kw, OW, lo, hi);
        const float* row = col + ((c * g.KH + kh) * g.KW + kw) * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          const float* src = row + oh * OW;
          float* out = dx + (c * g.H + ih) * g.W;
          if (g.SW == 1) {  // out[ow − PW + kw] += src[ow]
            float* dst = out - g.PW + kw;
            int64_t ow = lo;
            for (; ow + 8 <= hi; ow += 8)
              _mm256_storeu_ps(dst + ow, _mm256_add_ps(_mm256_loadu_ps(dst + ow), _mm256_loadu_ps(src + ow)));
            for (; ow < hi; ++ow) dst[ow] += src[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow * g.SW - g.PW + kw] += src[ow];
          }
        }
      }
}
#else
void col2im_avx2(const ConvGeom& g, const float* col, float* dx) { col2im_scalar(g, col, dx); }
#endif
void col2im(const ConvGeom& g, const float* col, float* dx) {
  if (use_avx2()) return col2im_avx2(g, col, dx);
  col2im_scalar(g, col, dx);
}

// ---- depthwise ----------------------------------------------------------------------------
// One KH×KW filter per channel (MobileNet, Howard et al. 2017, Eq. 3: Ĝ_{k,l,m} =
// Σ_{i,j} K̂_{i,j,m} · F_{k+i−1, l+j−1, m}). No sum across channels, so no GEMM: an im2col per
// channel would copy each pixel 9 times to do 9 MACs on it.
void depthwise_forward_scalar(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t OH = g.OH(), OW = g.OW();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float s = bias ? bias[c] : 0.0f;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            int64_t iw = ow * g.SW - g.PW + kw;
            if (iw >= 0 && iw < g.W) s += w[(c * g.KH + kh) * g.KW + kw] * x[(c * g.H + ih) * g.W + iw];
          }
        }
        y[(c * OH + oh) * OW + ow] = s;
      }
}
#if MGF_HAVE_X86

// Stride 1 along W: an output row is the sum over (kh, kw) of a shifted input row scaled by
// w[c][kh][kw], so the row (at most a few hundred floats, in L1) is accumulated one tap at a
// time: y[oh][lo..hi) += w · x[ih][lo − PW + kw ..). Strided rows use the scalar formula.
MGF_AVX2 void depthwise_forward_avx2(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t OH = g.OH(), OW = g.OW();
  if (g.SW != 1) return depthwise_forward_scalar(g, x, w, bias, y);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t oh = 0; oh < OH; ++oh) {
      float* out = y + (c * OH + oh) * OW;
      const float b = bias ? bias[c] : 0.0f;
      for (int64_t ow = 0; ow < OW; ++ow) out[ow] = b;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.SH - g.PH + kh;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          int64_t lo, hi;
          valid_cols(g, kw, OW, lo, hi);
          const float wk = w[(c * g.KH + kh) * g.KW + kw];
          const __m256 wv = _mm256_set1_ps(wk);
          const float* src = x + (c * g.H + ih) * g.W - g.PW + kw;  // src[ow] = x[c][ih][ow − PW + kw]
          int64_t ow = lo;
          for (; ow + 8 <= hi; ow += 8)
            _mm256_storeu_ps(out + ow, _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + ow), _mm256_loadu_ps(out + ow)));
          for (; ow < hi; ++ow) out[ow] += wk * src[ow];
        }
      }
    }
}
#else
void depthwise_forward_avx2(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y) {
  depthwise_forward_scalar(g, x, w, bias, y);
}
#endif
void depthwise_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y) {
  if (use_avx2()) return depthwise_forward_avx2(g, x, w, bias, y);
  depthwise_forward_scalar(g, x, w, bias, y);
}

// Backward of the same sum, term by term: each product w·x sends dy·w to x and dy·x to w.
void depthwise_backward_scalar(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                               float* dw) {
  const int64_t OH = g.OH(), OW = g.OW();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float d = dy[(c * OH + oh) * OW + ow];
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            int64_t iw = ow * g.SW - g.PW + kw;
            if (iw < 0 || iw >= g.W) continue;
            int64_t xi = (c * g.H + ih) * g.W + iw, wi = (c * g.KH + kh) * g.KW + kw;
            if (dx) dx[xi] += w[wi] * d;
            if (dw) dw[wi] += x[xi] * d;
          }
        }
      }
}
#if MGF_HAVE_X86
// Per tap (kh, kw), over the contiguous run of valid outputs of a row (stride 1):
//   dx[ih][ow − PW + kw] += w · dy[oh][ow]              (a shifted axpy)
//   dw[kh][kw]           += Σ_ow x[ih][ow − PW + kw] · dy[oh][ow]   (a dot product)
MGF_AVX2 void depthwise_backward_avx2(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                                      float* dw) {
  const int64_t OH = g.OH(), OW = g.OW();
  if (g.SW != 1) return depthwise_backward_scalar(g, x, w, dy, dx, dw);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t lo, hi;
        valid_cols(g, kw, OW, lo, hi);
        const int64_t wi = (c * g.KH + kh) * g.KW + kw;
        const __m256 wv = _mm256_set1_ps(w[wi]);
        __m256 acc = _mm256_setzero_ps();
        float tail = 0.0f;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H) continue;
          const float* d = dy + (c * OH + oh) * OW;
          const int64_t off = (c * g.H + ih) * g.W - g.PW + kw;  // x[off + ow] = x[c][ih][ow − PW + kw]
          int64_t ow = lo;
          for (; ow + 8 <= hi; ow += 8) {
            const __m256 dv = _mm256_loadu_ps(d + ow);
            if (dx) _mm256_storeu_ps(dx + off + ow, _mm256_fmadd_ps(wv, dv, _mm256_loadu_ps(dx + off + ow)));
            if (dw) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + off + ow), dv, acc);
          }
          for (; ow < hi; ++ow) {
            if (dx) dx[off + ow] += w[wi] * d[ow];
            if (dw) tail += x[off + ow] * d[ow];
          }
        }
        if (dw) dw[wi] += hsum8_avx2(acc) + tail;
      }
}
#else
void depthwise_backward_avx2(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                             float* dw) {
  depthwise_backward_scalar(g, x, w, dy, dx, dw);
}
#endif
void depthwise_backward(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw) {
  if (use_avx2()) return depthwise_backward_avx2(g, x, w, dy, dx, dw);
  depthwise_backward_scalar(g, x, w, dy, dx, dw);
}

}  // namespace mgf
