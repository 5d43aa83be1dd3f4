// engine/kernels/pool.h — 2-D max and average pooling over one image C×H×W, scalar and AVX2.
//
// The geometry is a ConvGeom (engine/kernels/conv.h): window KH×KW, stride SH,SW, padding
// PH,PW, output OH×OW. Padding never wins a max (it is −∞ there) and counts as 0 in an
// average whose divisor is always KH·KW (PyTorch's count_include_pad = true).
//   max:  y[c][oh][ow] = max over the window;  arg[c][oh][ow] = the flat input index
//         ih·W + iw of the FIRST maximum in row-major window order (ties → earliest).
//   avg:  y[c][oh][ow] = (1 / KH·KW) · Σ over the window.
// Backward ACCUMULATES: max: dx[c][arg] += dy;  avg: dx[window] += dy / (KH·KW).
// A window that lies entirely in the padding has no maximum: the geometry check
// (check_conv_geom) plus PH < KH, PW < KW rule it out; max_pool2d_forward throws otherwise.
// Book: book/02-kernels.md.
#pragma once
#include <cstdint>

#include "engine/kernels/conv.h"

namespace mgf {

void max_pool2d_forward(const ConvGeom& g, const float* x, float* y, int32_t* arg);
void max_pool2d_forward_scalar(const ConvGeom& g, const float* x, float* y, int32_t* arg);
void max_pool2d_forward_avx2(const ConvGeom& g, const float* x, float* y, int32_t* arg);

void max_pool2d_backward(const ConvGeom& g, const float* dy, const int32_t* arg, float* dx);
void max_pool2d_backward_scalar(const ConvGeom& g, const float* dy, const int32_t* arg, float* dx);
void max_pool2d_backward_avx2(const ConvGeom& g, const float* dy, const int32_t* arg, float* dx);

void avg_pool2d_forward(const ConvGeom& g, const float* x, float* y);
void avg_pool2d_forward_scalar(const ConvGeom& g, const float* x, float* y);
void avg_pool2d_forward_avx2(const ConvGeom& g, const float* x, float* y);

void avg_pool2d_backward(const ConvGeom& g, const float* dy, float* dx);
void avg_pool2d_backward_scalar(const ConvGeom& g, const float* dy, float* dx);
void avg_pool2d_backward_avx2(const ConvGeom& g, const float* dy, float* dx);

}  // namespace mgf
