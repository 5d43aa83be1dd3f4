// engine/kernels/elementwise.h — elementwise hot loops and sums, scalar and AVX2 side by side.
// Free functions on raw pointers and sizes; they know nothing of Tensor or autograd.
// Book: book/02-kernels.md (why these gain less than GEMM: the roofline — one or two flops
// per 8–12 bytes moved, so they run at memory speed, not FMA speed).
//
// Conventions (the same for every kernel here):
//   - n counts elements; [N, C] is row-major; [N, C, HW] is channels-first (NCHW with H·W = HW).
//   - `y` outputs are written (and may alias the input: in-place is allowed where noted).
//   - Gradients and sums ACCUMULATE (`+=`), as backward needs: zero the buffer first for a
//     plain result.
//   - Each `name` dispatches to `name_avx2` (vector body, ragged tail to the scalar code) or
//     `name_scalar` (the specification) — see engine/kernels/cpu.h.
#pragma once
#include <cstdint>

namespace mgf {

// y[i] += x[i], i < n
void add_inplace(float* y, const float* x, int64_t n);
void add_inplace_scalar(float* y, const float* x, int64_t n);
void add_inplace_avx2(float* y, const float* x, int64_t n);

// ---- bias ------------------------------------------------------------------------------
// rows:     y[n][c]     += b[c]     (Linear: y[N, C])
void bias_add_rows(float* y, const float* b, int64_t N, int64_t C);
void bias_add_rows_scalar(float* y, const float* b, int64_t N, int64_t C);
void bias_add_rows_avx2(float* y, const float* b, int64_t N, int64_t C);
// channels: y[n][c][k]  += b[c]     (Conv2d: y[N, C, HW])
void bias_add_channels(float* y, const float* b, int64_t N, int64_t C, int64_t HW);
void bias_add_channels_scalar(float* y, const float* b, int64_t N, int64_t C, int64_t HW);
void bias_add_channels_avx2(float* y, const float* b, int64_t N, int64_t C, int64_t HW);

// ---- sums (the bias gradients are these) -------------------------------------------------
// sum_rows: out[r] += Σ_c x[r][c]   (x[R, Cn]; conv bias grad: per image, R = C, Cn = HW)
void sum_rows(const float* x, int64_t R, int64_t Cn, float* out);
void sum_rows_scalar(const float* x, int64_t R, int64_t Cn, float* out);
void sum_rows_avx2(const float* x, int64_t R, int64_t Cn, float* out);
// sum_cols: out[c] += Σ_r x[r][c]   (Linear bias grad: db = Σ_n dy[n])
void sum_cols(const float* x, int64_t R, int64_t Cn, float* out);
void sum_cols_scalar(const float* x, int64_t R, int64_t Cn, float* out);
void sum_cols_avx2(const float* x, int64_t R, int64_t Cn, float* out);

// ---- activations: forward y = f(x) (y may alias x), backward dx += f'(x) · dy -------------
// ReLU: f = max(x, 0); f' = 1 for x > 0, else 0.
void relu_forward(const float* x, float* y, int64_t n);
void relu_forward_scalar(const float* x, float* y, int64_t n);
void relu_forward_avx2(const float* x, float* y, int64_t n);
void relu_backward(const float* x, const float* dy, float* dx, int64_t n);
void relu_backward_scalar(const float* x, const float* dy, float* dx, int64_t n);
void relu_backward_avx2(const float* x, const float* dy, float* dx, int64_t n);
// ReLU6 (MobileNet): f = min(max(x, 0), 6); f' = 1 for 0 < x < 6, else 0.
void relu6_forward(const float* x, float* y, int64_t n);
void relu6_forward_scalar(const float* x, float* y, int64_t n);
void relu6_forward_avx2(const float* x, float* y, int64_t n);
void relu6_backward(const float* x, const float* dy, float* dx, int64_t n);
void relu6_backward_scalar(const float* x, const float* dy, float* dx, int64_t n);
void relu6_backward_avx2(const float* x, const float* dy, float* dx, int64_t n);
// Hard-swish (MobileNetV3, Howard et al. 2019, Eq. 2): f = x · relu6(x + 3) / 6;
// f' = 0 for x <= −3, 1 for x >= 3, (2x + 3) / 6 in between.
void hard_swish_forward(const float* x, float* y, int64_t n);
void hard_swish_forward_scalar(const float* x, float* y, int64_t n);
void hard_swish_forward_avx2(const float* x, float* y, int64_t n);
void hard_swish_backward(const float* x, const float* dy, float* dx, int64_t n);
void hard_swish_backward_scalar(const float* x, const float* dy, float* dx, int64_t n);
void hard_swish_backward_avx2(const float* x, const float* dy, float* dx, int64_t n);

// ---- scale and shift per channel (batch norm at inference, folded: s = γ/σ, t = β − μ·s) ----
// y[n][c][k] = x[n][c][k] · s[c] + t[c]   (y may alias x; HW = 1 for [N, C])
void scale_shift_channels(const float* x, const float* s, const float* t, float* y, int64_t N, int64_t C,
                          int64_t HW);
void scale_shift_channels_scalar(const float* x, const float* s, const float* t, float* y, int64_t N, int64_t C,
                                 int64_t HW);
void scale_shift_channels_avx2(const float* x, const float* s, const float* t, float* y, int64_t N, int64_t C,
                               int64_t HW);

// ---- the SGD step with momentum (engine/optim.h: SGD::step) ---------------------------------
// For each i:  g' = g + λ·w;  v ← μ·v + g';  w ← w − η·(nesterov ? g' + μ·v : v).
// The AVX2 side writes separate multiplies and adds in the scalar order, but with FMA enabled
// the compiler may fuse a multiply-add (one rounding instead of two), so the sides agree to
// float rounding, not bit for bit.
void sgd_momentum_step(float* w, float* v, const float* g, int64_t n, float eta, float mu, float lambda,
                       bool nesterov);
void sgd_momentum_step_scalar(float* w, float* v, const float* g, int64_t n, float eta, float mu, float lambda,
                              bool nesterov);
void sgd_momentum_step_avx2(float* w, float* v, const float* g, int64_t n, float eta, float mu, float lambda,
                            bool nesterov);

}  // namespace mgf
