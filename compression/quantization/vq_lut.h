// compression/quantization/vq_lut.h — product-quantized inference by lookup tables (Gong et al.
// 2014, §3.3; the same trick as PQ's asymmetric distance computation, Jégou et al. 2011).
//
// With Ŵ's rows cut into s segments and each sub-row replaced by one of k centroids,
//   y_o = Σ_i ⟨C^i[c_oi], x^i⟩   (x^i = the d inputs of segment i)
// and ⟨C^i[c], x^i⟩ depends only on (i, c), not on o. So per input vector:
//   1. table:      T[i][c] = ⟨C^i[c], x^i⟩ for all s segments and k centroids   — k·n MACs
//   2. accumulate: y_o += Σ_i T[i][c_oi] for every output o                      — m·s lookups + adds
// against m·n MACs for the dense product. The table pays when k·n + m·s·(cost of a lookup) <
// m·n, i.e. roughly k < m and d = n/s large enough that s lookups beat n MACs (book/22-vq.md).
//
// Layout (vq.h): codebook [n][k] with row stride `ld` (k, or 0 for one shared row: scalar
// k-means and binarization); codes [s][m] with row stride `ldc`; the table T [s][kp] with
// kp = vq_table_stride(k) = k rounded up to 8 (the padding is zero, so an AVX2 register of 8
// table entries never reads another segment's entries).
//
// Kernels (free functions on raw pointers; STYLE.md):
//   vq_lut_table_scalar        the specification: T[i][c] = fma over j of codebook[j][c]·x[j]
//   vq_lut_table_avx2          8 centroids per FMA along a codebook row; centroid tail scalar
//   vq_lut_accumulate_scalar   the specification: y[o] += T[i][codes[i][o]], segment by segment
//   vq_lut_accumulate_avx2     8 outputs at once: 8 codes → 8 lanes; k <= 8: one vpermps from a
//                              table register, k <= 16: two vpermps + blend on bit 3 (a shuffle
//                              lookup), else vgatherdps; ragged outputs handed to the scalar code
// Both sides give bit-identical results: the table sums in the same order with fused multiply-
// adds (std::fma in the scalar spec), and each output adds its s lookups in segment order.
// vq_linear_forward runs a whole layer (every stage, a batch of inputs).
// Book: book/22-vq.md. Deliberately not here: 8-bit quantized tables (Bolt, Quicker ADC), which
// trade exactness for vpshufb lookups.
#pragma once
#include <cstdint>

namespace mgf {

struct VqMatrix;

inline int64_t vq_table_stride(int64_t k) { return (k + 7) / 8 * 8; }

// T [s][kp] (written, padding zeroed) from x [n]; segment i = columns i·d .. min(n, i·d + d) − 1.
void vq_lut_table_scalar(const float* codebook, int64_t ld, const float* x, int64_t n, int64_t d, int64_t k, float* T);
void vq_lut_table_avx2(const float* codebook, int64_t ld, const float* x, int64_t n, int64_t d, int64_t k, float* T);
void vq_lut_table(const float* codebook, int64_t ld, const float* x, int64_t n, int64_t d, int64_t k, float* T);

// y[o] += Σ_{i < s} T[i·kp + codes[i·ldc + o]] for o < m (codes < k, kp = vq_table_stride(k)).
void vq_lut_accumulate_scalar(const float* T, int64_t s, int64_t k, const uint8_t* codes, int64_t ldc, int64_t m, float* y);
void vq_lut_accumulate_avx2(const float* T, int64_t s, int64_t k, const uint8_t* codes, int64_t ldc, int64_t m, float* y);
void vq_lut_accumulate(const float* T, int64_t s, int64_t k, const uint8_t* codes, int64_t ldc, int64_t m, float* y);

// Y [B, m] = X [B, n]·Ŵᵀ + bias (bias may be null), Ŵ given by its codes: per sample and stage,
// vq_lut_table then vq_lut_accumulate (dispatched). `T` is scratch of vq_lut_scratch_floats(W).
int64_t vq_lut_scratch_floats(const VqMatrix& W);
void vq_linear_forward(const VqMatrix& W, const float* bias, const float* X, int64_t B, float* Y, float* T);

}  // namespace mgf
