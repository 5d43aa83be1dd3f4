// compression/coding/csr.cpp — see csr.h. CSR construction and validation, then the three
// kernels (matvec, spmm, batched linear), each scalar beside AVX2.
// Book: book/14-magnitude_pruning.md.
#include "compression/coding/csr.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

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

CsrMatrix16 csr_narrow(const CsrMatrix& a) {
  if (a.cols > 65536)
    throw std::invalid_argument("csr_narrow: expected at most 65536 columns for 16-bit indices, found " +
                                std::to_string(a.cols));
  CsrMatrix16 n;
  n.rows = a.rows;
  n.cols = a.cols;
  n.row_ptr = a.row_ptr;
  n.values = a.values;
  n.col_idx.reserve(a.col_idx.size());
  for (int32_t c : a.col_idx) {
    if (c < 0 || c >= a.cols)
      throw std::invalid_argument("csr_narrow: expected columns in [0, " + std::to_string(a.cols) + "), found " +
                                  std::to_string(c));
    n.col_idx.push_back(static_cast<uint16_t>(c));
  }
  return n;
}

namespace {

template <typename Index>
Tensor to_dense_impl(const CsrT<Index>& a) {
  csr_validate(a);
  Tensor d({a.rows, a.cols});
  for (int64_t r = 0; r < a.rows; ++r)
    for (int32_t k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) d[r * a.cols + a.col_idx[k]] = a.values[k];
  return d;
}

template <typename Index>
void csr_validate_impl(const CsrT<Index>& a) {
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
      const int64_t c = a.col_idx[k];
      if (c < 0 || c >= a.cols)
        bad("expected column in [0, " + std::to_string(a.cols) + "), found " + std::to_string(c) + " at nonzero " +
            std::to_string(k) + " (row " + std::to_string(r) + ")");
      if (k > b && c <= static_cast<int64_t>(a.col_idx[k - 1]))
        bad("expected increasing columns within row " + std::to_string(r) + ", found " +
            std::to_string(static_cast<int64_t>(a.col_idx[k - 1])) + " then " + std::to_string(c));
    }
  }
}

}  // namespace

Tensor to_dense(const CsrMatrix& a) { return to_dense_impl(a); }
Tensor to_dense(const CsrMatrix16& a) { return to_dense_impl(a); }
void csr_validate(const CsrMatrix& a) { csr_validate_impl(a); }
void csr_validate(const CsrMatrix16& a) { csr_validate_impl(a); }

// The kernels are written once, as templates over the index type, and instantiated for
// int32 and uint16 columns by the public overloads at the end of each section.
namespace {

// ---- batch 1: y = W x --------------------------------------------------------------------
template <typename Index>
void matvec_scalar(const CsrT<Index>& W, const float* x, float* y) {
  for (int64_t r = 0; r < W.rows; ++r) {
    float s = 0.0f;
    for (int32_t k = W.row_ptr[r]; k < W.row_ptr[r + 1]; ++k) s += W.values[k] * x[W.col_idx[k]];
    y[r] = s;
  }
}

#if MGF_HAVE_X86
// 8 consecutive column indices as int32 lanes.
MGF_AVX2 inline __m256i load_cols8(const int32_t* c) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)); }
MGF_AVX2 inline __m256i load_cols8(const uint16_t* c) {
  return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)));
}

template <typename Index>
MGF_AVX2 void matvec_avx2_gather(const CsrT<Index>& W, const float* x, float* y) {
  const float* val = W.values.data();
  const Index* col = W.col_idx.data();
  for (int64_t r = 0; r < W.rows; ++r) {
    int32_t k = W.row_ptr[r];
    const int32_t e = W.row_ptr[r + 1];
    __m256 acc = _mm256_setzero_ps();
    for (; k + 8 <= e; k += 8) {  // s += val[k..k+7] · x[col[k..k+7]]
      __m256 xs = _mm256_i32gather_ps(x, load_cols8(col + k), 4);  // 8 scattered loads in one instruction
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(val + k), xs, acc);
    }
    float s = hsum8_avx2(acc);
    for (; k < e; ++k) s += val[k] * x[col[k]];  // the row's ragged tail
    y[r] = s;
  }
}

// x[col[k..k+7]] assembled by hand from 8 scalar loads (vmovss + vinsertps).
template <typename Index>
MGF_AVX2 inline __m256 gather_by_hand(const float* x, const Index* c) {
  return _mm256_set_ps(x[c[7]], x[c[6]], x[c[5]], x[c[4]], x[c[3]], x[c[2]], x[c[1]], x[c[0]]);
}

template <typename Index>
MGF_AVX2 void matvec_avx2_loads(const CsrT<Index>& W, const float* x, float* y) {
  const float* val = W.values.data();
  const Index* col = W.col_idx.data();
  // x is read in scattered order; when it is not cached each first touch of one of its lines
  // is a full memory latency on the critical path. Ask for all of its lines up front.
  for (int64_t c = 0; c < W.cols; c += 16) _mm_prefetch(reinterpret_cast<const char*>(x + c), _MM_HINT_T0);
  // The nonzero streams are read front to back; prefetching kPrefetch nonzeros ahead keeps the
  // next rows' bytes on their way while this row computes (the hardware prefetcher alone ramps
  // up too slowly for a matrix of ~100 KB read once).
  constexpr int32_t kPrefetch = 512;
  const int32_t nnz = static_cast<int32_t>(W.nnz());
  int32_t pf = 0;   // nonzeros [0, pf) have been prefetched
  for (int64_t r = 0; r < W.rows; ++r) {
    int32_t k = W.row_ptr[r];
    const int32_t e = W.row_ptr[r + 1];
    for (const int32_t target = std::min(e + kPrefetch, nnz); pf < target; pf += 16) {
      _mm_prefetch(reinterpret_cast<const char*>(val + pf), _MM_HINT_T0);
      if constexpr (sizeof(Index) == 4) _mm_prefetch(reinterpret_cast<const char*>(col + pf), _MM_HINT_T0);
      else if ((pf & 31) == 0) _mm_prefetch(reinterpret_cast<const char*>(col + pf), _MM_HINT_T0);
    }
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    // One vector FMA per 8 nonzeros; two accumulators, 16 nonzeros per trip, so consecutive
    // FMAs do not wait on each other.
    for (; k + 16 <= e; k += 16) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k), gather_by_hand(x, col + k), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k + 8), gather_by_hand(x, col + k + 8), acc1);
    }
    for (; k + 8 <= e; k += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k), gather_by_hand(x, col + k), acc0);
    float s = hsum8_avx2(_mm256_add_ps(acc0, acc1));
    for (; k < e; ++k) s += val[k] * x[col[k]];
    y[r] = s;
  }
}

template <typename Index>
MGF_AVX2 void matvec_avx2_unrolled(const CsrT<Index>& W, const float* x, float* y) {
  const float* val = W.values.data();
  const Index* col = W.col_idx.data();
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
#endif

// ---- sparse × dense: C[R×P] = W · B[K×P] ----------------------------------------------------
template <typename Index>
void spmm_scalar(const CsrT<Index>& W, const float* B, int64_t P, float* C) {
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
template <typename Index>
MGF_AVX2 void spmm_avx2(const CsrT<Index>& W, const float* B, int64_t P, float* C) {
  const float* val = W.values.data();
  const Index* col = W.col_idx.data();
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
#endif

// ---- batched FC: Y[N×R] = X[N×K]·Wᵀ + bias ---------------------------------------------------
template <typename Index>
void linear_forward(const CsrT<Index>& W, const float* bias, const float* X, int64_t N, float* Y) {
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

}  // namespace

// ---- the public entry points, for both index widths --------------------------------------------
void csr_matvec_scalar(const CsrMatrix& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_matvec_scalar(const CsrMatrix16& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_spmm_scalar(const CsrMatrix& W, const float* B, int64_t P, float* C) { spmm_scalar(W, B, P, C); }
void csr_spmm_scalar(const CsrMatrix16& W, const float* B, int64_t P, float* C) { spmm_scalar(W, B, P, C); }
#if MGF_HAVE_X86
void csr_matvec_avx2(const CsrMatrix& W, const float* x, float* y) { matvec_avx2_gather(W, x, y); }
void csr_matvec_avx2(const CsrMatrix16& W, const float* x, float* y) { matvec_avx2_gather(W, x, y); }
void csr_matvec_avx2_loads(const CsrMatrix& W, const float* x, float* y) { matvec_avx2_loads(W, x, y); }
void csr_matvec_avx2_loads(const CsrMatrix16& W, const float* x, float* y) { matvec_avx2_loads(W, x, y); }
void csr_matvec_avx2_unrolled(const CsrMatrix& W, const float* x, float* y) { matvec_avx2_unrolled(W, x, y); }
void csr_matvec_avx2_unrolled(const CsrMatrix16& W, const float* x, float* y) { matvec_avx2_unrolled(W, x, y); }
void csr_spmm_avx2(const CsrMatrix& W, const float* B, int64_t P, float* C) { spmm_avx2(W, B, P, C); }
void csr_spmm_avx2(const CsrMatrix16& W, const float* B, int64_t P, float* C) { spmm_avx2(W, B, P, C); }
#else
void csr_matvec_avx2(const CsrMatrix& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_matvec_avx2(const CsrMatrix16& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_matvec_avx2_loads(const CsrMatrix& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_matvec_avx2_loads(const CsrMatrix16& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_matvec_avx2_unrolled(const CsrMatrix& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_matvec_avx2_unrolled(const CsrMatrix16& W, const float* x, float* y) { matvec_scalar(W, x, y); }
void csr_spmm_avx2(const CsrMatrix& W, const float* B, int64_t P, float* C) { spmm_scalar(W, B, P, C); }
void csr_spmm_avx2(const CsrMatrix16& W, const float* B, int64_t P, float* C) { spmm_scalar(W, B, P, C); }
#endif

// Dispatchers. Batch 1: the hand-assembled gather measured fastest on Zen 5 (book ch. 14 has
// the table; the hardware gather was the slowest of the three there).
void csr_matvec(const CsrMatrix& W, const float* x, float* y) {
  if (use_avx2()) return csr_matvec_avx2_loads(W, x, y);
  csr_matvec_scalar(W, x, y);
}
void csr_matvec(const CsrMatrix16& W, const float* x, float* y) {
  if (use_avx2()) return csr_matvec_avx2_loads(W, x, y);
  csr_matvec_scalar(W, x, y);
}
void csr_spmm(const CsrMatrix& W, const float* B, int64_t P, float* C) {
  if (use_avx2()) return csr_spmm_avx2(W, B, P, C);
  csr_spmm_scalar(W, B, P, C);
}
void csr_spmm(const CsrMatrix16& W, const float* B, int64_t P, float* C) {
  if (use_avx2()) return csr_spmm_avx2(W, B, P, C);
  csr_spmm_scalar(W, B, P, C);
}
void csr_linear_forward(const CsrMatrix& W, const float* bias, const float* X, int64_t N, float* Y) {
  linear_forward(W, bias, X, N, Y);
}
void csr_linear_forward(const CsrMatrix16& W, const float* bias, const float* X, int64_t N, float* Y) {
  linear_forward(W, bias, X, N, Y);
}

// ---- SparseLinear ----------------------------------------------------------------------------
SparseLinear::SparseLinear(const Tensor& weight, const Tensor& bias) {
  if (weight.ndim() != 2) throw std::invalid_argument("SparseLinear: expected weight [out, in], found " + weight.str());
  if (!bias.empty() && bias.shape() != Shape{weight.dim(0)})
    throw std::invalid_argument("SparseLinear: expected bias " + shape_str({weight.dim(0)}) + ", found " + bias.str());
  W_ = csr_from_tensor(weight);
  if (W_.cols <= 65536) W16_ = csr_narrow(W_);
  if (!bias.empty()) bias_ = bias.to_vector();
}

Tensor SparseLinear::forward(const Tensor& x) const {
  if (x.ndim() != 2 || x.dim(1) != W_.cols)
    throw std::invalid_argument("SparseLinear::forward: expected x [N, " + std::to_string(W_.cols) + "], found " +
                                x.str());
  Tensor y({x.dim(0), W_.rows});
  const float* b = bias_.empty() ? nullptr : bias_.data();
  if (narrow()) csr_linear_forward(W16_, b, x.data(), x.dim(0), y.data());
  else csr_linear_forward(W_, b, x.data(), x.dim(0), y.data());
  return y;
}

}  // namespace mgf
