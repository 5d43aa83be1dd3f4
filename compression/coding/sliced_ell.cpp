// compression/coding/sliced_ell.cpp — see sliced_ell.h (the fast in-memory form of a Deep
// Compression layer: SELL-8-σ built from the gap stream, and its kernels).
#include "compression/coding/sliced_ell.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

SellMatrix sell_from_relative_index(const RelativeIndex& s, const float* codebook, int64_t codebook_size, int64_t rows,
                                    int64_t cols, bool with_codes) {
  if (rows < 0 || cols < 0 || s.numel != rows * cols)
    throw std::invalid_argument("sell_from_relative_index: expected a stream over rows·cols = " + std::to_string(rows) +
                                "·" + std::to_string(cols) + " positions, found numel " + std::to_string(s.numel));
  if (cols > 65536)
    throw std::invalid_argument("sell_from_relative_index: expected at most 65536 columns (uint16), found " +
                                std::to_string(cols));
  if (rows > (int64_t{1} << 30))
    throw std::invalid_argument("sell_from_relative_index: expected at most 2^30 rows, found " + std::to_string(rows));
  relative_index_validate(s);   // every entry lands inside the matrix
  // Pass 1: the weights of each row (fillers carry code 0 and no weight).
  std::vector<int64_t> count(static_cast<size_t>(rows), 0);
  int64_t p = -1;
  for (int64_t e = 0; e < s.entries(); ++e) {
    p += s.gaps[e] + 1;
    if (s.codes[e] >= codebook_size)
      throw std::runtime_error("sell_from_relative_index: entry " + std::to_string(e) + " has code " +
                               std::to_string(s.codes[e]) + ", expected < " + std::to_string(codebook_size) +
                               " (the codebook's size)");
    if (s.codes[e] != 0) ++count[static_cast<size_t>(p / cols)];
  }
  // σ = all rows: longest rows first, so the 8 rows of a slice have similar lengths and the
  // padding to the slice's longest row stays small (ties keep the row order).
  std::vector<int32_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return count[a] > count[b]; });
  SellMatrix W;
  W.rows = rows;
  W.cols = cols;
  const int64_t L = SellMatrix::kLanes, S = (rows + L - 1) / L;
  W.row.assign(static_cast<size_t>(S * L), -1);
  std::vector<int64_t> slot(static_cast<size_t>(rows));   // row r sits in slice slot[r] / 8, lane slot[r] % 8
  for (int64_t i = 0; i < rows; ++i) {
    W.row[static_cast<size_t>(i)] = order[static_cast<size_t>(i)];
    slot[static_cast<size_t>(order[static_cast<size_t>(i)])] = i;
  }
  W.slice_ptr.assign(static_cast<size_t>(S + 1), 0);
  for (int64_t sl = 0; sl < S; ++sl) {
    int64_t width = 0;
    for (int64_t i = 0; i < L; ++i) {
      const int32_t r = W.row[static_cast<size_t>(sl * L + i)];
      if (r >= 0) width = std::max(width, count[static_cast<size_t>(r)]);
    }
    const int64_t next = W.slice_ptr[static_cast<size_t>(sl)] + L * width;
    if (next > INT32_MAX) throw std::invalid_argument("sell_from_relative_index: more than 2^31 entries");
    W.slice_ptr[static_cast<size_t>(sl + 1)] = static_cast<int32_t>(next);
  }
  W.col.assign(static_cast<size_t>(W.slice_ptr.back()), 0);
  W.val.assign(static_cast<size_t>(W.slice_ptr.back()), 0.0f);
  if (with_codes) {
    if (codebook_size < 1 || codebook[0] != 0.0f)   // padding entries carry code 0 and must add nothing
      throw std::invalid_argument("sell_from_relative_index: expected codebook[0] = 0 (the pruned zero), found " +
                                  (codebook_size < 1 ? std::string("an empty codebook") : std::to_string(codebook[0])));
    W.code.assign(static_cast<size_t>(W.slice_ptr.back()), 0);
    W.codebook.assign(codebook, codebook + codebook_size);
  }
  // Pass 2: each weight to entry t of its row's lane (t = how many of the row came before).
  std::vector<int64_t> next(static_cast<size_t>(rows), 0);
  p = -1;
  for (int64_t e = 0; e < s.entries(); ++e) {
    p += s.gaps[e] + 1;
    if (s.codes[e] == 0) continue;
    const int64_t r = p / cols, c = p % cols, at = slot[static_cast<size_t>(r)];
    const size_t k = static_cast<size_t>(W.slice_ptr[static_cast<size_t>(at / L)] + L * next[static_cast<size_t>(r)]++ + at % L);
    W.col[k] = static_cast<uint16_t>(c);
    W.val[k] = codebook[s.codes[e]];
    if (with_codes) W.code[k] = s.codes[e];
    ++W.nonzeros;
  }
  return W;
}

// The walk every scalar kernel makes: f(r, first, width) for every row r of W, whose entries
// are first + 8t for t < width (the slice's width; the row's own weights come first).
template <class F>
static void sell_for_each_row(const SellMatrix& W, F f) {
  const int64_t L = SellMatrix::kLanes;
  for (int64_t sl = 0; sl < W.slices(); ++sl) {
    const int64_t p = W.slice_ptr[sl], width = (W.slice_ptr[sl + 1] - p) / L;
    for (int64_t i = 0; i < L; ++i)
      if (W.row[sl * L + i] >= 0) f(W.row[sl * L + i], p + i, width);
  }
}

// ---- batch 1 -------------------------------------------------------------------------------------
// One kernel body for both weight sources, so that sell_matvec_codes differs from sell_matvec
// only in where an entry's weight comes from: w(e) is the stored value, or C[code] looked up.
namespace {
struct FromValues {
  const float* val;
  float operator()(int64_t e) const { return val[e]; }
};
struct FromCodes {
  const float* cb;
  const uint8_t* code;
  float operator()(int64_t e) const { return cb[code[e]]; }
};

template <class Weight>
void matvec_scalar(const SellMatrix& W, Weight w, const float* x, const float* bias, float* y) {
  sell_for_each_row(W, [&](int32_t r, int64_t first, int64_t width) {
    float acc = 0.0f;   // y_r = Σ_t w_t·x[c_t] over the row's entries (padding adds 0·x[0])
    for (int64_t t = 0; t < width; ++t) acc += w(first + SellMatrix::kLanes * t) * x[W.col[first + SellMatrix::kLanes * t]];
    y[r] = bias ? acc + bias[r] : acc;
  });
}

#if MGF_HAVE_X86
// The 8 x[c] of one entry step, from 8 uint16 columns read as two 64-bit words: two loads
// instead of eight for the indices, then 8 scalar loads of x put together (vmovss +
// vinsertps). On Zen 4 this beats vpgatherdd, which issues the same 8 loads more slowly.
MGF_AVX2 inline __m256 gather8_by_hand(const float* x, const uint16_t* c) {
  uint64_t lo, hi;
  std::memcpy(&lo, c, 8);
  std::memcpy(&hi, c + 4, 8);
  return _mm256_set_ps(x[hi >> 48], x[(hi >> 32) & 0xffff], x[(hi >> 16) & 0xffff], x[hi & 0xffff], x[lo >> 48],
                       x[(lo >> 32) & 0xffff], x[(lo >> 16) & 0xffff], x[lo & 0xffff]);
}

// The 8 weights of one entry step: one vector load of the values, or C[code] of 8 entries
// from one 64-bit load of the codes and 8 scalar loads of the codebook (a second by-hand gather).
struct FromValues8 {
  const float* val;
  MGF_AVX2 __m256 operator()(int64_t e) const { return _mm256_loadu_ps(val + e); }
};
struct FromCodes8 {
  const float* cb;
  const uint8_t* code;
  MGF_AVX2 __m256 operator()(int64_t e) const {
    uint64_t a;
    std::memcpy(&a, code + e, 8);
    return _mm256_set_ps(cb[a >> 56], cb[(a >> 48) & 0xff], cb[(a >> 40) & 0xff], cb[(a >> 32) & 0xff],
                         cb[(a >> 24) & 0xff], cb[(a >> 16) & 0xff], cb[(a >> 8) & 0xff], cb[a & 0xff]);
  }
};

template <class Weights8>
MGF_AVX2 void matvec_avx2(const SellMatrix& W, Weights8 w8, const float* x, const float* bias, float* y) {
  const int64_t L = SellMatrix::kLanes;
  const uint16_t* col = W.col.data();
  for (int64_t sl = 0; sl < W.slices(); ++sl) {
    const int64_t p = W.slice_ptr[sl], width = (W.slice_ptr[sl + 1] - p) / L;
    // lane i of acc = row i's running sum: acc += w[t, 0..7] · x[c[t, 0..7]]
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t t = 0;
    for (; t + 2 <= width; t += 2) {
      const int64_t e = p + L * t;
      acc0 = _mm256_fmadd_ps(w8(e), gather8_by_hand(x, col + e), acc0);
      acc1 = _mm256_fmadd_ps(w8(e + L), gather8_by_hand(x, col + e + L), acc1);
    }
    if (t < width) acc0 = _mm256_fmadd_ps(w8(p + L * t), gather8_by_hand(x, col + p + L * t), acc0);
    alignas(32) float sum[8];
    _mm256_store_ps(sum, _mm256_add_ps(acc0, acc1));   // the slice's 8 row sums, no horizontal add
    for (int64_t i = 0; i < L; ++i) {
      const int32_t r = W.row[sl * L + i];
      if (r >= 0) y[r] = bias ? sum[i] + bias[r] : sum[i];
    }
  }
}
#endif

void require_codes(const SellMatrix& W) {
  if (W.code.size() != W.col.size() || W.codebook.empty())
    throw std::invalid_argument("sell_matvec_codes: expected a matrix built with_codes, found " +
                                std::to_string(W.code.size()) + " codes for " + std::to_string(W.col.size()) + " entries");
}
}  // namespace

void sell_matvec_scalar(const SellMatrix& W, const float* x, const float* bias, float* y) {
  matvec_scalar(W, FromValues{W.val.data()}, x, bias, y);
}
void sell_matvec_codes_scalar(const SellMatrix& W, const float* x, const float* bias, float* y) {
  require_codes(W);
  matvec_scalar(W, FromCodes{W.codebook.data(), W.code.data()}, x, bias, y);
}
#if MGF_HAVE_X86
void sell_matvec_avx2(const SellMatrix& W, const float* x, const float* bias, float* y) {
  matvec_avx2(W, FromValues8{W.val.data()}, x, bias, y);
}
void sell_matvec_codes_avx2(const SellMatrix& W, const float* x, const float* bias, float* y) {
  require_codes(W);
  matvec_avx2(W, FromCodes8{W.codebook.data(), W.code.data()}, x, bias, y);
}
#else
void sell_matvec_avx2(const SellMatrix& W, const float* x, const float* bias, float* y) {
  sell_matvec_scalar(W, x, bias, y);
}
void sell_matvec_codes_avx2(const SellMatrix& W, const float* x, const float* bias, float* y) {
  sell_matvec_codes_scalar(W, x, bias, y);
}
#endif

void sell_matvec(const SellMatrix& W, const float* x, const float* bias, float* y) {
  if (use_avx2()) return sell_matvec_avx2(W, x, bias, y);
  sell_matvec_scalar(W, x, bias, y);
}
void sell_matvec_codes(const SellMatrix& W, const float* x, const float* bias, float* y) {
  if (use_avx2()) return sell_matvec_codes_avx2(W, x, bias, y);
  sell_matvec_codes_scalar(W, x, bias, y);
}

// ---- sparse × dense ------------------------------------------------------------------------------
// Columns [j0, P) of every row, one column at a time: the specification, and the AVX2 tail.
static void spmm_columns_scalar(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C, int64_t j0) {
  sell_for_each_row(W, [&](int32_t r, int64_t first, int64_t width) {
    for (int64_t j = j0; j < P; ++j) {
      float acc = 0.0f;   // C[r, j] = Σ_t w_t·B[c_t, j] + bias_r
      for (int64_t t = 0; t < width; ++t) {
        const int64_t e = first + SellMatrix::kLanes * t;
        acc += W.val[e] * B[W.col[e] * P + j];
      }
      C[r * P + j] = bias ? acc + bias[r] : acc;
    }
  });
}

void sell_spmm_scalar(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C) {
  spmm_columns_scalar(W, B, P, bias, C, 0);
}

#if MGF_HAVE_X86
MGF_AVX2 void sell_spmm_avx2(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C) {
  const int64_t L = SellMatrix::kLanes;
  for (int64_t sl = 0; sl < W.slices(); ++sl) {
    const int64_t p = W.slice_ptr[sl], width = (W.slice_ptr[sl + 1] - p) / L;
    for (int64_t i = 0; i < L; ++i) {
      const int32_t r = W.row[sl * L + i];
      if (r < 0) continue;
      const __m256 b_r = _mm256_set1_ps(bias ? bias[r] : 0.0f);
      float* c = C + r * P;
      int64_t j = 0;
      // 32 columns of C[r, :] in four registers while the row's entries stream past.
      for (; j + 32 <= P; j += 32) {
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
        for (int64_t t = 0; t < width; ++t) {   // c[j..j+31] += w_t · B[c_t, j..j+31]
          const int64_t e = p + L * t + i;
          const __m256 v = _mm256_set1_ps(W.val[e]);
          const float* b = B + W.col[e] * P + j;
          c0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b), c0);
          c1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 8), c1);
          c2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 16), c2);
          c3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 24), c3);
        }
        _mm256_storeu_ps(c + j, _mm256_add_ps(c0, b_r));
        _mm256_storeu_ps(c + j + 8, _mm256_add_ps(c1, b_r));
        _mm256_storeu_ps(c + j + 16, _mm256_add_ps(c2, b_r));
        _mm256_storeu_ps(c + j + 24, _mm256_add_ps(c3, b_r));
      }
      for (; j + 8 <= P; j += 8) {   // the same, 8 columns at a time
        __m256 c0 = _mm256_setzero_ps();
        for (int64_t t = 0; t < width; ++t) {
          const int64_t e = p + L * t + i;
          c0 = _mm256_fmadd_ps(_mm256_set1_ps(W.val[e]), _mm256_loadu_ps(B + W.col[e] * P + j), c0);
        }
        _mm256_storeu_ps(c + j, _mm256_add_ps(c0, b_r));
      }
    }
  }
  if (P % 8) spmm_columns_scalar(W, B, P, bias, C, P - P % 8);   // the last P mod 8 columns
}
#else
void sell_spmm_avx2(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C) {
  sell_spmm_scalar(W, B, P, bias, C);
}
#endif

void sell_spmm(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C) {
  if (use_avx2()) return sell_spmm_avx2(W, B, P, bias, C);
  sell_spmm_scalar(W, B, P, bias, C);
}

void sell_linear_forward(const SellMatrix& W, const float* bias, const float* X, int64_t N, float* Y) {
  const int64_t R = W.rows, K = W.cols;
  if (N < 4) {   // one input at a time: the batch-1 kernel, no transposes
    for (int64_t n = 0; n < N; ++n) sell_matvec(W, X + n * K, bias, Y + n * R);
    return;
  }
  // Xt [K×N]: input feature c of every sample in one contiguous row, so a weight W[r, c] meets
  // the whole batch with unit-stride loads. Yt [R×N] = W·Xt, then Y = Ytᵀ.
  std::vector<float> Xt(static_cast<size_t>(K * N)), Yt(static_cast<size_t>(R * N));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < K; ++c) Xt[c * N + n] = X[n * K + c];
  sell_spmm(W, Xt.data(), N, bias, Yt.data());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < R; ++r) Y[n * R + r] = Yt[r * N + n];
}

}  // namespace mgf
