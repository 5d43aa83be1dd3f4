// engine/kernels/elementwise.h — elementwise hot loops, scalar and AVX2 side by side.
// Free functions on raw pointers and sizes; they know nothing of Tensor or autograd.
// Book: book/02-kernels.md (why these gain less than GEMM: the roofline).
#pragma once
#include <cstdint>

namespace mgf {

// y[i] += x[i], i < n
void add_inplace(float* y, const float* x, int64_t n);
void add_inplace_scalar(float* y, const float* x, int64_t n);
void add_inplace_avx2(float* y, const float* x, int64_t n);

}  // namespace mgf
