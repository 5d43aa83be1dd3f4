// compression/coding/sliced_ell.h — the in-memory form a Deep Compression layer runs from:
// sliced ELLPACK with 8 rows per slice (SELL-8-σ; Kreutzer, Hager, Wellein, Fehske, Bishop,
// SIAM J. Sci. Comput. 2014), built at load time straight from the file's gap stream and
// codebook (Han, Mao, Dally 2016, §2-3), with no dense float matrix on the way.
//
// Why this form. At batch 1 the file's own form (compression/coding/relative_index.h) costs a
// serial walk of the gaps plus a codebook lookup per weight, and a row's dot product ends in a
// horizontal sum; fc1 from it is slower than the dense GEMV when the weights are cached
// (book/15, "The fast runner"). Here:
//   - rows are sorted by their number of weights (σ = all rows) and cut into slices of 8;
//     each slice is padded to its longest row, so a slice is a [width × 8] table;
//   - entry t of the slice's lane i is row i's t-th weight: 8 rows advance together, lane i of
//     one AVX2 register accumulates row i, and the register *is* 8 outputs — no horizontal
//     sum, no ragged row tail;
//   - each entry holds its column as uint16 (every LeNet layer has at most 800 inputs) and
//     its weight as float: C[code], looked up once here instead of once per call. Keeping
//     the uint8 code instead (3 bytes an entry instead of 6; sell_matvec_codes) costs a
//     second by-hand gather per 8 weights — the codebook — and that is measured slower
//     (book/15, the example's timing table).
// Padding entries have column 0 and weight 0 (they add 0·x[0]).
// Book: book/15-deep_compression.md. Tests: make test SUITE=deep_compression.
// Deliberately not here: building from a dense matrix (chapter 14's CSR does that), threads
// inside the kernels (the layer splits a batch), AVX-512.
#pragma once
#include <cstdint>
#include <vector>

#include "compression/coding/relative_index.h"

namespace mgf {

struct SellMatrix {
  static constexpr int kLanes = 8;   // rows per slice: one AVX2 register of floats
  int64_t rows = 0, cols = 0;
  int64_t nonzeros = 0;              // the stream's weights (fillers and padding not counted)
  std::vector<int32_t> row;          // [slices·8]: the matrix row in lane i of slice s; −1: no row (rows % 8 lanes)
  std::vector<int32_t> slice_ptr;    // [slices + 1]: first entry of slice s; slice s is (slice_ptr[s+1] − slice_ptr[s]) / 8 wide
  std::vector<uint16_t> col;         // [entries]: entry t of lane i of slice s is at slice_ptr[s] + 8t + i
  std::vector<float> val;            // [entries]: its weight C[code]; 0 on padding
  // Only with `with_codes` (the comparison kernel sell_matvec_codes): the uint8 code of each
  // entry (0 on padding) and the codebook, instead of looking the value up once at load.
  std::vector<uint8_t> code;
  std::vector<float> codebook;
  int64_t slices() const { return static_cast<int64_t>(slice_ptr.size()) - 1; }
  int64_t entries() const { return static_cast<int64_t>(col.size()); }
  // Bytes sell_matvec / sell_spmm read for the weights: columns, values, slice pointers, row map.
  int64_t bytes() const {
    return static_cast<int64_t>(col.size() * sizeof(uint16_t) + val.size() * sizeof(float) +
                                slice_ptr.size() * sizeof(int32_t) + row.size() * sizeof(int32_t));
  }
  // Bytes sell_matvec_codes reads instead: columns, codes, codebook, slice pointers, row map.
  int64_t code_bytes() const {
    return static_cast<int64_t>(col.size() * sizeof(uint16_t) + code.size() + codebook.size() * sizeof(float) +
                                slice_ptr.size() * sizeof(int32_t) + row.size() * sizeof(int32_t));
  }
};

// The matrix W [rows, cols] = C[I] that the stream describes (row-major positions, as the file
// stores them; `codebook` has codebook_size entries). Validates the stream (std::runtime_error
// naming the entry, also for a code >= codebook_size); throws std::invalid_argument when
// cols > 65 536 (uint16 columns) or the stream's numel is not rows·cols. Fillers (code 0) are
// dropped: they carry no weight. with_codes also keeps `code` and `codebook`.
SellMatrix sell_from_relative_index(const RelativeIndex& s, const float* codebook, int64_t codebook_size, int64_t rows,
                                    int64_t cols, bool with_codes = false);

// ---- batch 1: y[rows] = W·x + bias (bias may be nullptr) ---------------------------------------
// Scalar: for every row, its entries in order (the specification; padding adds 0·x[0]).
// AVX2: per slice, one register of 8 row sums; per entry step, the 8 x[col] are assembled by
//   hand from scalar loads (the hardware gather measured slower, as in chapter 14) and one FMA
//   with the 8 weights; two registers take alternate steps so consecutive FMAs do not wait on
//   each other; the slice's 8 sums are stored to their rows.
void sell_matvec_scalar(const SellMatrix& W, const float* x, const float* bias, float* y);
void sell_matvec_avx2(const SellMatrix& W, const float* x, const float* bias, float* y);
void sell_matvec(const SellMatrix& W, const float* x, const float* bias, float* y);

// The same product from the codes: w = codebook[code] looked up per entry and per call, the
// form that keeps Deep Compression's uint8 indices in memory (3 bytes an entry instead of 6).
// Needs a matrix built with_codes. AVX2: the 8 values of a step are put together by hand from
// one 64-bit load of 8 codes and 8 scalar loads of the codebook — a second by-hand gather
// beside x's, which is what makes it slower than sell_matvec (book/15 has the table). Same
// arithmetic, in the same order, as sell_matvec_scalar / _avx2: the results are equal.
void sell_matvec_codes_scalar(const SellMatrix& W, const float* x, const float* bias, float* y);
void sell_matvec_codes_avx2(const SellMatrix& W, const float* x, const float* bias, float* y);
void sell_matvec_codes(const SellMatrix& W, const float* x, const float* bias, float* y);

// ---- sparse × dense: C[rows×P] = W·B + bias (per row), B [cols×P], C row-major ------------------
// The convolution after im2col (B = col [C·KH·KW × OH·OW]) and the batched FC layer (B = Xᵀ).
// Scalar: C[r, :] = bias_r + Σ entries v·B[c, :]. AVX2: per row, 32 columns of C[r, :] in four
// registers while the row's entries stream past (one broadcast, four FMAs each), then 8-wide
// blocks, then the scalar loop for the last P mod 8 columns.
void sell_spmm_scalar(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C);
void sell_spmm_avx2(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C);
void sell_spmm(const SellMatrix& W, const float* B, int64_t P, const float* bias, float* C);

// ---- a Linear layer: Y[N×rows] = X[N×cols]·Wᵀ + bias ------------------------------------------
// N < 4: sell_matvec per sample. Otherwise Xᵀ [cols×N] is formed (each input feature's whole
// batch contiguous), Yᵀ = W·Xᵀ by sell_spmm, then transposed back.
void sell_linear_forward(const SellMatrix& W, const float* bias, const float* X, int64_t N, float* Y);

}  // namespace mgf
