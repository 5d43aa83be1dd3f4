// compression/coding/relative_index.h — Deep Compression's sparse format: relative indices
// with filler zeros (Han, Mao, Dally 2016, §2, Fig. 2), and the kernels that run a Linear
// layer, or a convolution after im2col, straight from it.
//
// A pruned, quantized weight matrix [rows, cols] is flattened row-major; each surviving weight
// becomes one entry (gap, code): `gap` = how many positions were skipped since the previous
// entry (the run of zeros before it, so position = previous + gap + 1), stored in b bits
// (b = 5 for FC layers, 8 for conv in the paper); `code` = its codebook index (1 .. 2^bits−1).
// A run longer than 2^b − 1 does not fit: we emit a filler entry (gap = 2^b − 1, code 0) that
// lands on a pruned position and writes the zero it already holds (the paper's "filler zero"),
// and continue with the rest of the run. Code 0 is the exact zero of the codebook
// (weight_sharing.h), so a kernel never needs to tell fillers apart.
// The deployed model no longer runs these kernels: it turns the stream into the sliced-ELL form
// of sliced_ell.h once, at load, which is faster at batch 1 (book/15, "The fast runner"); they
// stay as the direct reading of the format and as the baseline in the example's timing table.
// Book: book/15-deep_compression.md. Deliberately not here: CSR/CSC row pointers (the stream is
// one run over the whole matrix, so a row boundary is just a position) — see compression/coding/csr.*.
#pragma once
#include <cstdint>
#include <vector>

namespace mgf {

struct RelativeIndex {
  int64_t numel = 0;            // size of the dense array the stream describes
  int gap_bits = 5;             // b: gaps are 0 .. 2^b − 1
  std::vector<uint8_t> gaps;    // one per entry: zeros skipped before it
  std::vector<uint8_t> codes;   // one per entry: codebook index; 0 only on fillers
  int64_t entries() const { return static_cast<int64_t>(gaps.size()); }
  int64_t fillers() const;      // entries with code 0
};

// Encodes the nonzero codes of a dense code array. 1 <= gap_bits <= 8.
RelativeIndex relative_index_encode(const uint8_t* dense_codes, int64_t numel, int gap_bits);
// Expands back to numel codes. Throws std::runtime_error (naming the entry, the position and
// numel) when the stream runs past the end, has a gap wider than b bits, or the two arrays differ.
std::vector<uint8_t> relative_index_decode(const RelativeIndex& s);
// The checks of relative_index_decode without building the array (the loader runs it once,
// so the kernels below may trust the stream).
void relative_index_validate(const RelativeIndex& s);

// ---- the sparse codebook kernel: y += W·x, W [rows, cols] given as (gaps, codes, codebook) --
// y [rows] accumulates (set it to the bias first); x [cols]. The stream must be valid for
// rows·cols positions (relative_index_validate).
void relative_index_matvec_scalar(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                  const float* x, float* y, int64_t rows, int64_t cols);
void relative_index_matvec_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                const float* x, float* y, int64_t rows, int64_t cols);
void relative_index_matvec(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                           const float* x, float* y, int64_t rows, int64_t cols);

// ---- the same stream times a dense matrix: C[rows×P] = W·B, B [cols×P] row-major -------------
// The convolution run from its compressed weight: W [OC, C·KH·KW] (the 4-D weight flattened,
// as the stream stores it), B = im2col of one image [C·KH·KW, OH·OW], C [OC, OH·OW] is
// overwritten. Every entry (r, c, code) adds C[code]·B[c, :] to C[r, :]; fillers (code 0) are
// skipped. Scalar: exactly that, entry by entry. AVX2: 32 columns of C at a time held in four
// registers while the whole stream is walked (re-decoding the gaps per 32 columns costs one
// add per entry), so C is written once per row and block; 8-column blocks, then a scalar tail.
void relative_index_spmm_scalar(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                                const float* B, int64_t P, float* C, int64_t rows, int64_t cols);
void relative_index_spmm_avx2(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                              const float* B, int64_t P, float* C, int64_t rows, int64_t cols);
void relative_index_spmm(const uint8_t* gaps, const uint8_t* codes, int64_t entries, const float* codebook,
                         const float* B, int64_t P, float* C, int64_t rows, int64_t cols);

}  // namespace mgf
