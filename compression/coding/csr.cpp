// compression/coding/csr.cpp — see csr.h. CSR construction and validation, then the three
// kernels (matvec, spmm, batched linear), each scalar beside AVX2.
// Book: book/14-magnitude_pruning.md.
#include "compression/coding/csr.h"

#include <limits>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

int64_t CsrMatrix::storage_bytes() const {
  return static_cast<int64_t>(row_ptr.size() * sizeof(int32_t) + col_idx.size() * sizeof(int32_t) +
                              values.size() * sizeof(float));
}

// ---- construction ------------------------------------------------------------------------
CsrMatrix csr_from_dense(const float* w, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0)
    throw std::invalid_argument("csr_from_dense: expected rows, cols >= 0, found " + std::to_string(rows) + " x " +
                                std::to_string(cols));
  // int32 indices (as a deployed layer would store them): the matrix must fit.
  if (cols > std::numeric_limits<int32_t>::max() || rows * cols > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("csr_from_dense: expected at most 2^31-1 entries, found " + std::to_string(rows) +
                                " x " + std::to_string(cols));
  CsrMatrix a;
  a.rows = rows;
  a.cols = cols;
  a.row_ptr.assign(static_cast<size_t>(rows) + 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float v = w[r * cols + c];
      if (v != 0.0f) {
        a.col_idx.push_back(static_cast<int32_t>(c));
        a.values.push_back(v);
      }
    }
    a.row_ptr[static_cast<size_t>(r) + 1] = static_cast<int32_t>(a.values.size());
  }
  return a;
}

CsrMatrix csr_from_tensor(const Tensor& w) {
  if (w.ndim() != 2 && w.ndim() != 4)
    throw std::invalid_argument("csr_from_tensor: expected a 2-D weight [out, in] or 4-D conv weight, found " +
                                w.str());
  const int64_t rows = w.dim(0);
  return csr_from_dense(w.data(), rows, rows == 0 ? 0 : w.numel() / rows);
}

Tensor to_dense(const CsrMatrix& a) {
  csr_validate(a);
  Tensor d({a.rows, a.cols});
  for (int64_t r = 0; r < a.rows; ++r)
    for (int32_t k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) d[r * a.cols + a.col_idx[k]] = a.values[k];
  return d;
}

void csr_validate(const CsrMatrix& a) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("csr_validate: " + what); };
  if (a.rows < 0 || a.cols < 0) bad("expected rows, cols >= 0, found " + std::to_string(a.rows) + " x " + std::to_string(a.cols));
  if (static_cast<int64_t>(a.row_ptr.size()) != a.rows + 1)
    bad("expected row_ptr of size rows + 1 = " + std::to_string(a.rows + 1) + ", found " +
        std::to_string(a.row_ptr.size()));
  if (a.col_idx.size() != a.values.size())
    bad("expected col_idx and values of equal size, found " + std::to_string(a.col_idx.size()) + " and " +
        std::to_string(a.values.size()));
  if (a.row_ptr[0] != 0) bad("expected row_ptr[0] = 0, found " + std::to_string(a.row_ptr[0]));
  if (a.row_ptr.back() != a.nnz())
    bad("expected row_ptr[rows] = nnz = " + std::to_string(a.nnz()) + ", found " + std::to_string(a.row_ptr.back()));
  for (int64_t r = 0; r < a.rows; ++r) {
    const int32_t b = a.row_ptr[r], e = a.row_ptr[r + 1];
    if (e < b)
      bad("expected row_ptr non-decreasing, found row_ptr[" + std::to_string(r + 1) + "] = " + std::to_string(e) +
          " < row_ptr[" + std::to_string(r) + "] = " + std::to_string(b));
    for (int32_t k = b; k < e; ++k) {
      const int32_t c = a.col_idx[k];
      if (c < 0 || c >= a.cols)
        bad("expected column in [0, " + std::to_string(a.cols) + "), found " + std::to_string(c) + " at nonzero " +
            std::to_string(k) + " (row " + std::to_string(r) + ")");
      if (k > b && c <= a.col_idx[k - 1])
        bad("expected increasing columns within row " + std::to_string(r) + ", found " +
            std::to_string(a.col_idx[k - 1]) + " then " + std::to_string(c));
    }
  }
}

// ---- batch 1: y = W x --------------------------------------------------------------------
void csr_matvec_scalar(const CsrMatrix& W, const float* x, float* y) {
  for (int64_t r = 0; r < W.rows; ++r) {
    float s = 0.0f;
    for (int32_t k = W.row_ptr[r]; k < W.row_ptr[r + 1]; ++k) s += W.values[k] * x[W.col_idx[k]];
    y[r] = s;
  }
}

#if MGF_HAVE_X86

MGF_AVX2 void csr_matvec_avx2(const CsrMatrix& W, const float* x, float* y) {
  const float* val = W.values.data();
  const int32_t* col = W.col_idx.data();
  for (int64_t r = 0; r < W.rows; ++r) {
    int32_t k = W.row_ptr[r];
    const int32_t e = W.row_ptr[r + 1];
    __m256 acc = _mm256_setzero_ps();
    for (; k + 8 <= e; k += 8) {  // s += val[k..k+7] · x[col[k..k+7]]
      __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + k));
      __m256 xs = _mm256_i32gather_ps(x, idx, 4);  // 8 scattered loads in one instruction
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(val + k), xs, acc);
    }
    float s = hsum8_avx2(acc);
    for (; k < e; ++k) s += val[k] * x[col[k]];  // the row's ragged tail
    y[r] = s;
  }
}

MGF_AVX2 void csr_matvec_avx2_loads(const CsrMatrix& W, const float* x, float* y) {
  const float* val = W.values.data();
  const int32_t* col = W.col_idx.data();
  for (int64_t r = 0; r < W.rows; ++r) {
    int32_t k = W.row_ptr[r];
    const int32_t e = W.row_ptr[r + 1];
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    // The gather done by hand: 8 plain scalar loads x[col[k+i]] assembled into one register
    // (the compiler emits vmovss + vinsertps), then one vector FMA with val[k..k+7]. Two
    // accumulators, 16 nonzeros per trip, so consecutive FMAs do not wait on each other.
    for (; k + 16 <= e; k += 16) {
      const __m256 x0 = _mm256_set_ps(x[col[k + 7]], x[col[k + 6]], x[col[k + 5]], x[col[k + 4]], x[col[k + 3]],
                                      x[col[k + 2]], x[col[k + 1]], x[col[k]]);
      const __m256 x1 = _mm256_set_ps(x[col[k + 15]], x[col[k + 14]], x[col[k + 13]], x[col[k + 12]],
                                      x[col[k + 11]], x[col[k + 10]], x[col[k + 9]], x[col[k + 8]]);
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k), x0, acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k + 8), x1, acc1);
    }
    for (; k + 8 <= e; k += 8) {
      const __m256 x0 = _mm256_set_ps(x[col[k + 7]], x[col[k + 6]], x[col[k + 5]], x[col[k + 4]], x[col[k + 3]],
                                      x[col[k + 2]], x[col[k + 1]], x[col[k]]);
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k), x0, acc0);
    }
    float s = hsum8_avx2(_mm256_add_ps(acc0, acc1));
    for (; k < e; ++k) s += val[k] * x[col[k]];
    y[r] = s;
  }
}

MGF_AVX2 void csr_matvec_avx2_unrolled(const CsrMatrix& W, const float* x, float* y) {
  const float* val = W.values.data();
  const int32_t* col = W.col_idx.data();
  for (int64_t r = 0; r < W.rows; ++r) {
    int32_t k = W.row_ptr[r];
    const int32_t e = W.row_ptr[r + 1];
    // Four independent chains hide the FMA latency; the loads are plain scalar loads, which
    // the core issues several per cycle (a gather is microcoded into 8 of them anyway).
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (; k + 4 <= e; k += 4) {
      s0 = __builtin_fmaf(val[k], x[col[k]], s0);
      s1 = __builtin_fmaf(val[k + 1], x[col[k + 1]], s1);
      s2 = __builtin_fmaf(val[k + 2], x[col[k + 2]], s2);
      s3 = __builtin_fmaf(val[k + 3], x[col[k + 3]], s3);
    }
    float s = (s0 + s1) + (s2 + s3);
    for (; k < e; ++k) s += val[k] * x[col[k]];
    y[r] = s;
  }
}
#else
void csr_matvec_avx2(const CsrMatrix& W, const float* x, float* y) { csr_matvec_scalar(W, x, y); }
void csr_matvec_avx2_loads(const CsrMatrix& W, const float* x, float* y) { csr_matvec_scalar(W, x, y); }
void csr_matvec_avx2_unrolled(const CsrMatrix& W, const float* x, float* y) { csr_matvec_scalar(W, x, y); }
#endif

void csr_matvec(const CsrMatrix& W, const float* x, float* y) {
  // The hand-assembled gather measured fastest on Zen 5 (book ch. 14 has the table; the
  // hardware gather was the slowest of the three there).
  if (use_avx2()) return csr_matvec_avx2_loads(W, x, y);
  csr_matvec_scalar(W, x, y);
}

// ---- sparse × dense: C[R×P] = W · B[K×P] ----------------------------------------------------
void csr_spmm_scalar(const CsrMatrix& W, const float* B, int64_t P, float* C) {
  for (int64_t r = 0; r < W.rows; ++r) {
    float* c = C + r * P;  // C[r, :]
    for (int64_t j = 0; j < P; ++j) c[j] = 0.0f;
    for (int32_t k = W.row_ptr[r]; k < W.row_ptr[r + 1]; ++k) {
      const float v = W.values[k];
      const float* b = B + static_cast<int64_t>(W.col_idx[k]) * P;  // B[col, :]
      for (int64_t j = 0; j < P; ++j) c[j] += v * b[j];
    }
  }
}

#if MGF_HAVE_X86
MGF_AVX2 void csr_spmm_avx2(const CsrMatrix& W, const float* B, int64_t P, float* C) {
  const float* val = W.values.data();
  const int32_t* col = W.col_idx.data();
  for (int64_t r = 0; r < W.rows; ++r) {
    const int32_t b0 = W.row_ptr[r], e = W.row_ptr[r + 1];
    float* c = C + r * P;
    int64_t j = 0;
    // 32 columns of C[r, :] live in 4 registers while all of row r's nonzeros stream past.
    for (; j + 32 <= P; j += 32) {
      __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
      for (int32_t k = b0; k < e; ++k) {  // c[j..j+31] += v · B[col, j..j+31]
        const __m256 v = _mm256_broadcast_ss(val + k);
        const float* b = B + static_cast<int64_t>(col[k]) * P + j;
        c0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b), c0);
        c1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 8), c1);
        c2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 16), c2);
        c3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 24), c3);
      }
      _mm256_storeu_ps(c + j, c0);
      _mm256_storeu_ps(c + j + 8, c1);
      _mm256_storeu_ps(c + j + 16, c2);
      _mm256_storeu_ps(c + j + 24, c3);
    }
    for (; j + 8 <= P; j += 8) {  // the same, 8 columns at a time
      __m256 c0 = _mm256_setzero_ps();
      for (int32_t k = b0; k < e; ++k)
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(val + k), _mm256_loadu_ps(B + static_cast<int64_t>(col[k]) * P + j), c0);
      _mm256_storeu_ps(c + j, c0);
    }
    for (; j < P; ++j) {  // ragged tail columns: the scalar loop, one column at a time
      float s = 0.0f;
      for (int32_t k = b0; k < e; ++k) s += val[k] * B[static_cast<int64_t>(col[k]) * P + j];
      c[j] = s;
    }
  }
}
#else
void csr_spmm_avx2(const CsrMatrix& W, const float* B, int64_t P, float* C) { csr_spmm_scalar(W, B, P, C); }
#endif

void csr_spmm(const CsrMatrix& W, const float* B, int64_t P, float* C) {
  if (use_avx2()) return csr_spmm_avx2(W, B, P, C);
  csr_spmm_scalar(W, B, P, C);
}

// ---- batched FC: Y[N×R] = X[N×K]·Wᵀ + bias ---------------------------------------------------
void csr_linear_forward(const CsrMatrix& W, const float* bias, const float* X, int64_t N, float* Y) {
  const int64_t R = W.rows, K = W.cols;
  if (N < 4) {  // one input at a time: the batch-1 kernel, no transposes
    for (int64_t n = 0; n < N; ++n) csr_matvec(W, X + n * K, Y + n * R);
  } else {
    // Xt[K×N]: input feature c of every image in one contiguous row, so a nonzero W[r,c]
    // meets all N images with unit-stride loads. Yt[R×N] = W·Xt, then Y = Ytᵀ.
    std::vector<float> Xt(static_cast<size_t>(K * N)), Yt(static_cast<size_t>(R * N));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < K; ++c) Xt[c * N + n] = X[n * K + c];
    csr_spmm(W, Xt.data(), N, Yt.data());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t r = 0; r < R; ++r) Y[n * R + r] = Yt[r * N + n];
  }
  if (bias)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t r = 0; r < R; ++r) Y[n * R + r] += bias[r];
}

// ---- SparseLinear ----------------------------------------------------------------------------
SparseLinear::SparseLinear(const Tensor& weight, const Tensor& bias) {
  if (weight.ndim() != 2) throw std::invalid_argument("SparseLinear: expected weight [out, in], found " + weight.str());
  if (!bias.empty() && bias.shape() != Shape{weight.dim(0)})
    throw std::invalid_argument("SparseLinear: expected bias " + shape_str({weight.dim(0)}) + ", found " + bias.str());
  W_ = csr_from_tensor(weight);
  if (!bias.empty()) bias_ = bias.to_vector();
}

Tensor SparseLinear::forward(const Tensor& x) const {
  if (x.ndim() != 2 || x.dim(1) != W_.cols)
    throw std::invalid_argument("SparseLinear::forward: expected x [N, " + std::to_string(W_.cols) + "], found " +
                                x.str());
  Tensor y({x.dim(0), W_.rows});
  csr_linear_forward(W_, bias_.empty() ? nullptr : bias_.data(), x.data(), x.dim(0), y.data());
  return y;
}

}  // namespace mgf
