// engine/kernels/conv.h — convolution as data movement + GEMM, and the direct depthwise kernel.
//
// One image, channels-first (C×H×W). Shapes of one convolution:
//   C = input channels, H×W input size, KH×KW kernel, stride SH,SW, zero padding PH,PW,
//   OH = (H + 2·PH − KH)/SH + 1, OW likewise.
// im2col writes the (C·KH·KW) × (OH·OW) matrix whose column o holds the receptive field of
// output pixel o, so conv = W[OC × C·KH·KW] · col. col2im is its adjoint: it ADDS every
// column entry back into the image position it came from (the input gradient).
// Book: book/02-kernels.md.
#pragma once
#include <cstdint>

namespace mgf {

struct ConvGeom {
  int64_t C, H, W;      // input channels and size
  int64_t KH, KW;       // kernel size
  int64_t SH, SW;       // stride
  int64_t PH, PW;       // zero padding
  int64_t OH() const { return (H + 2 * PH - KH) / SH + 1; }
  int64_t OW() const { return (W + 2 * PW - KW) / SW + 1; }
};

// Throws std::invalid_argument naming every field unless sizes >= 1, strides >= 1, padding >= 0
// and the kernel fits in the padded input. The kernels below assume a checked geometry.
void check_conv_geom(const ConvGeom& g);

// col[(c·KH + kh)·KW + kw][oh·OW + ow] = x[c][oh·SH − PH + kh][ow·SW − PW + kw] (0 outside)
void im2col(const ConvGeom& g, const float* x, float* col);
void im2col_scalar(const ConvGeom& g, const float* x, float* col);
void im2col_avx2(const ConvGeom& g, const float* x, float* col);

// dx[c][ih][iw] += col[...] for every column entry that im2col read from (c, ih, iw)
void col2im(const ConvGeom& g, const float* col, float* dx);
void col2im_scalar(const ConvGeom& g, const float* col, float* dx);
void col2im_avx2(const ConvGeom& g, const float* col, float* dx);

// Depthwise convolution (groups == channels, one KH×KW filter per channel), one image:
//   y[c][oh][ow] = Σ_kh,kw w[c][kh][kw] · x[c][oh·SH−PH+kh][ow·SW−PW+kw]   (+ bias[c] if bias)
void depthwise_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y);
void depthwise_forward_scalar(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y);
void depthwise_forward_avx2(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y);

// The per-image loop of a batch is the caller's (engine/ops_conv.cpp); the AVX2 sides vectorise
// stride-1 rows and hand strided rows to the scalar code.
// Gradients of depthwise_forward, ACCUMULATED: dx += ∂L/∂x (if dx), dw += ∂L/∂w (if dw).
void depthwise_backward(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx, float* dw);
void depthwise_backward_scalar(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                               float* dw);
void depthwise_backward_avx2(const ConvGeom& g, const float* x, const float* w, const float* dy, float* dx,
                             float* dw);

}  // namespace mgf
