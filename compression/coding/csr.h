// compression/coding/csr.h — compressed sparse row storage and sparse × dense kernels: how a
// pruned layer (Han et al. 2015; Deep Compression §2, "we store the sparse structure ... using
// compressed sparse row (CSR)") really runs with only its nonzeros.
// Book: book/14-magnitude_pruning.md (CSR, kernels, break-even).  Tests: make test
// SUITE=magnitude_pruning.
//
// Dimension letters: R = rows of W (out features, or OC), K = columns of W (in features, or
// C·KH·KW), N = batch, P = columns of the dense right-hand side (batch or output pixels).
// Deliberately not here: relative (delta) indices, codebooks and Huffman — that is the
// deep_compression chapter, which builds on CsrMatrix.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace mgf {

// One struct for both index widths: CsrMatrix stores each column in an int32 (any width);
// CsrMatrix16 in a uint16, for matrices at most 65 536 columns wide (every layer of the
// LeNets: fc1 has 784 inputs, LeNet-5's fc1 800). A nonzero then costs 4 + 2 = 6 bytes
// instead of 8 — at batch 1 a pruned layer is a stream of these bytes, so the narrow form is
// the one SparseLinear runs.
template <typename Index>
struct CsrT {
  int64_t rows = 0, cols = 0;
  std::vector<int32_t> row_ptr;   // [rows + 1]: row r's nonzeros are [row_ptr[r], row_ptr[r+1])
  std::vector<Index> col_idx;     // [nnz]: column of each nonzero, increasing within a row
  std::vector<float> values;      // [nnz]
  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
  // Bytes of the three arrays (the storage a deployed layer needs, without relative indices).
  int64_t storage_bytes() const {
    return static_cast<int64_t>(row_ptr.size() * sizeof(int32_t) + col_idx.size() * sizeof(Index) +
                                values.size() * sizeof(float));
  }
};
using CsrMatrix = CsrT<int32_t>;
using CsrMatrix16 = CsrT<uint16_t>;

// Every nonzero of the dense row-major w[rows × cols] (exact zeros are dropped).
CsrMatrix csr_from_dense(const float* w, int64_t rows, int64_t cols);
// A 2-D tensor, or a 4-D conv weight [OC, C, KH, KW] viewed as [OC, C·KH·KW].
CsrMatrix csr_from_tensor(const Tensor& w);
// The same matrix with 16-bit columns; throws std::invalid_argument when cols > 65536.
CsrMatrix16 csr_narrow(const CsrMatrix& a);
// Dense [rows, cols] tensor.
Tensor to_dense(const CsrMatrix& a);
Tensor to_dense(const CsrMatrix16& a);
// Throws std::invalid_argument naming what is wrong (row_ptr size, monotonicity, column
// range and order, sizes of col_idx vs values) — a CSR from a file must pass this first.
void csr_validate(const CsrMatrix& a);
void csr_validate(const CsrMatrix16& a);

// ---- batch 1:  y[R] = W[R×K] · x[K]  (an FC layer on one input) ---------------------------
// Every kernel exists for both index widths (same algorithm; the narrow one reads 2 bytes less
// per nonzero).
// Scalar: one accumulator per row, nonzeros in order (the specification).
// AVX2 (gather): 8 nonzeros at a time — load 8 values, _mm256_i32gather_ps the 8 x's they
//   multiply, FMA into 8 partial sums; the row's 0..7 leftover nonzeros go scalar.
// AVX2 (loads): the gather done by hand — 8 scalar loads of x assembled into a register,
//   then one vector FMA; two accumulators. x is prefetched into L1 first (its 784 floats are
//   49 cache lines that the rows touch in scattered order), and the nonzero streams are
//   prefetched a few rows ahead of the row being computed.
// AVX2 (unrolled): the scalar loop with 4 independent accumulators (no vector at all),
//   compiled with FMA. The dispatcher csr_matvec uses the one that measured fastest
//   (the loads variant on our Zen 5; the book has the table).
void csr_matvec(const CsrMatrix& W, const float* x, float* y);
void csr_matvec_scalar(const CsrMatrix& W, const float* x, float* y);
void csr_matvec_avx2(const CsrMatrix& W, const float* x, float* y);           // gather
void csr_matvec_avx2_loads(const CsrMatrix& W, const float* x, float* y);     // gather by hand
void csr_matvec_avx2_unrolled(const CsrMatrix& W, const float* x, float* y);  // 4 accumulators
void csr_matvec(const CsrMatrix16& W, const float* x, float* y);
void csr_matvec_scalar(const CsrMatrix16& W, const float* x, float* y);
void csr_matvec_avx2(const CsrMatrix16& W, const float* x, float* y);
void csr_matvec_avx2_loads(const CsrMatrix16& W, const float* x, float* y);
void csr_matvec_avx2_unrolled(const CsrMatrix16& W, const float* x, float* y);

// ---- sparse × dense:  C[R×P] = W[R×K] · B[K×P]  (B, C row-major) --------------------------
// This is the im2col convolution (W_csr[OC × C·KH·KW] · col[C·KH·KW × OH·OW]) and, with
// B = Xᵀ, the batched FC layer. Scalar: C[r,:] += v · B[c,:] for each nonzero (r, c, v).
// AVX2: broadcast v once, FMA it into 32 columns of row r kept in four registers, so each
// nonzero costs one broadcast and 4 loads+FMAs and C[r,:] is written once per 32 columns.
void csr_spmm(const CsrMatrix& W, const float* B, int64_t P, float* C);
void csr_spmm_scalar(const CsrMatrix& W, const float* B, int64_t P, float* C);
void csr_spmm_avx2(const CsrMatrix& W, const float* B, int64_t P, float* C);
void csr_spmm(const CsrMatrix16& W, const float* B, int64_t P, float* C);
void csr_spmm_scalar(const CsrMatrix16& W, const float* B, int64_t P, float* C);
void csr_spmm_avx2(const CsrMatrix16& W, const float* B, int64_t P, float* C);

// ---- batched FC:  Y[N×R] = X[N×K] · Wᵀ -----------------------------------------------------
// N < 4 runs csr_matvec per row; else Xᵀ is formed (contiguous batch columns for each input
// feature), Yᵀ = W · Xᵀ by csr_spmm, and transposed back. bias may be nullptr.
void csr_linear_forward(const CsrMatrix& W, const float* bias, const float* X, int64_t N, float* Y);
void csr_linear_forward(const CsrMatrix16& W, const float* bias, const float* X, int64_t N, float* Y);

// A pruned Linear for inference: built from the (masked) weight [out, in] and bias [out];
// forward(x [N, in]) → [N, out] runs csr_linear_forward on the 16-bit-column CSR when
// in <= 65536, else on the int32 one. Same outputs as the masked float layer up to float
// reassociation (the simulation = deployment contract, tested).
class SparseLinear {
 public:
  SparseLinear(const Tensor& weight, const Tensor& bias);
  Tensor forward(const Tensor& x) const;
  const CsrMatrix& weight() const { return W_; }
  bool narrow() const { return !W16_.row_ptr.empty(); }   // runs from 16-bit columns
  int64_t storage_bytes() const { return narrow() ? W16_.storage_bytes() : W_.storage_bytes(); }
  int64_t in_features() const { return W_.cols; }
  int64_t out_features() const { return W_.rows; }

 private:
  CsrMatrix W_;
  CsrMatrix16 W16_;          // empty unless in <= 65536
  std::vector<float> bias_;  // empty = no bias
};

}  // namespace mgf
