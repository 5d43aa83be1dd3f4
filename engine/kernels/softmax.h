// engine/kernels/softmax.h — softmax and log-softmax over the rows of x[R, C], scalar and AVX2.
//
//   softmax:      y[r][c] = exp(x[r][c] − m_r) / Σ_c' exp(x[r][c'] − m_r),   m_r = max_c x[r][c]
//   log-softmax:  y[r][c] = x[r][c] − m_r − log Σ_c' exp(x[r][c'] − m_r)
// Subtracting the row max keeps every exp argument <= 0: no overflow, the usual stable form.
// Backward (ACCUMULATED into dx, from the forward OUTPUT y):
//   softmax:      dx[r][c] += y[r][c] · (dy[r][c] − Σ_c' dy[r][c'] · y[r][c'])
//   log-softmax:  dx[r][c] += dy[r][c] − exp(y[r][c]) · Σ_c' dy[r][c']
// The AVX2 side evaluates exp with its own vector polynomial (exp256 in softmax.cpp, a few ulp
// from std::exp), so the two sides agree to a relative 1e-6-ish, not bit for bit.
// Book: book/02-kernels.md.
#pragma once
#include <cstdint>

namespace mgf {

void softmax_rows(const float* x, float* y, int64_t R, int64_t C);  // y may alias x
void softmax_rows_scalar(const float* x, float* y, int64_t R, int64_t C);
void softmax_rows_avx2(const float* x, float* y, int64_t R, int64_t C);

void log_softmax_rows(const float* x, float* y, int64_t R, int64_t C);  // y may alias x
void log_softmax_rows_scalar(const float* x, float* y, int64_t R, int64_t C);
void log_softmax_rows_avx2(const float* x, float* y, int64_t R, int64_t C);

void softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t R, int64_t C);
void softmax_rows_backward_scalar(const float* y, const float* dy, float* dx, int64_t R, int64_t C);
void softmax_rows_backward_avx2(const float* y, const float* dy, float* dx, int64_t R, int64_t C);

void log_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t R, int64_t C);
void log_softmax_rows_backward_scalar(const float* y, const float* dy, float* dx, int64_t R, int64_t C);
void log_softmax_rows_backward_avx2(const float* y, const float* dy, float* dx, int64_t R, int64_t C);

}  // namespace mgf
