// engine/kernels/conv.cpp — see conv.h.
// PLACEHOLDER (being replaced by the kernels issue): scalar references; the AVX2 sides
// forward to them until the vector versions land.
#include "engine/kernels/conv.h"

#include "engine/kernels/cpu.h"

namespace mgf {

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
void im2col_avx2(const ConvGeom& g, const float* x, float* col) { im2col_scalar(g, x, col); }
void im2col(const ConvGeom& g, const float* x, float* col) {
  if (use_avx2()) return im2col_avx2(g, x, col);
  im2col_scalar(g, x, col);
}

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
void col2im_avx2(const ConvGeom& g, const float* col, float* dx) { col2im_scalar(g, col, dx); }
void col2im(const ConvGeom& g, const float* col, float* dx) {
  if (use_avx2()) return col2im_avx2(g, col, dx);
  col2im_scalar(g, col, dx);
}

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
void depthwise_forward_avx2(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y) {
  depthwise_forward_scalar(g, x, w, bias, y);
}
void depthwise_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y) {
  if (use_avx2()) return depthwise_forward_avx2(g, x, w, bias, y);
  depthwise_forward_scalar(g, x, w, bias, y);
}

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
void depthwise_backward_avx2(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                             float* dw) {
  depthwise_backward_scalar(g, x, w, dy, dx, dw);
}
void depthwise_backward(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw) {
  if (use_avx2()) return depthwise_backward_avx2(g, x, w, dy, dx, dw);
  depthwise_backward_scalar(g, x, w, dy, dx, dw);
}

}  // namespace mgf
