// compression/quantization/bitpack.h — signs packed into 64-bit words, the storage of XNOR-Net.
//
// Rastegari et al. 2016 (XNOR-Net), §3.2: once weights and inputs are restricted to {−1, +1},
// a dot product of K of them is  a·b = K − 2·popcount(a ⊕ b)  when +1 is stored as bit 1 and
// −1 as bit 0. We pack along the REDUCTION dimension (the K of a GEMM, the C·KH·KW of a conv),
// 64 signs per uint64_t word, bit k%64 of word k/64. A row of K signs takes words = ⌈K/64⌉.
// Padding bits (k ≥ K in the last word) are 0 in BOTH operands, so a ⊕ b is 0 there and they
// never reach the popcount: any K works (tests use K = 1, 63, 64, 65, 200).
// sign(0) = +1 throughout (the same rule as the float simulation in xnor.cpp).
// Book: book/23-xnor.md. Deliberately not here: multi-bit (k-bit) packings, bit-serial layouts.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/kernels/conv.h"

namespace mgf {

inline int64_t bit_words(int64_t K) { return (K + 63) / 64; }

// The hot loop of every packing: one row of K floats to ⌈K/64⌉ words, out[k/64] bit k%64 =
// (x[k] >= 0), padding bits 0. NaN packs as 0 and −0.0 as 1 on both sides (the float compare).
//   pack_signs_row_scalar  one compare and one shift-or per float: the specification
//   pack_signs_row_avx2    8 floats per vcmpps (≥ 0, ordered) + one vmovmskps → 8 bits; scalar tail
//   pack_signs_row         the dispatcher (kernel mode); exact equality tested in tests/test_xnor.cpp
void pack_signs_row_scalar(const float* x, int64_t K, uint64_t* out);
void pack_signs_row_avx2(const float* x, int64_t K, uint64_t* out);
void pack_signs_row(const float* x, int64_t K, uint64_t* out);

// out[r·words + k/64] bit k%64 = (x[r·ld + k] >= 0), for r < rows, k < K; padding bits 0.
// Used for weights W[OC × C·KH·KW] (rows = filters) and for the rows of a fully connected input.
void pack_signs_rows(const float* x, int64_t rows, int64_t K, int64_t ld, uint64_t* out);

// "im2col on bits": the packed sign of every receptive field of one image x[C×H×W].
// Row p = oh·OW + ow of out (P = OH·OW rows, words = ⌈C·KH·KW/64⌉ each) holds bit
// k = (c·KH + kh)·KW + kw  =  (x[c][oh·SH−PH+kh][ow·SW−PW+kw] >= 0), with a zero-padded
// position counting as 0, i.e. sign +1 — exactly sign(im2col(x)), without the float matrix.
void im2col_pack_signs(const ConvGeom& g, const float* x, uint64_t* out);

// XNOR-Net's K = A ∗ k (§3.2, Fig. 2): A = Σ_c |x_c| / C (mean magnitude over channels), then a
// KH×KW box filter of value 1/(KH·KW) with the conv's stride and zero padding.
// out[oh·OW + ow] = β of that receptive field. Equal to the column means of |im2col(x)|.
void xnor_beta_map(const ConvGeom& g, const float* x, float* out);

// Unpacks row r back to ±1 floats (for tests and for printing).
void unpack_signs_row(const uint64_t* row, int64_t K, float* out);

// A matrix of packed sign rows: what a binary layer stores instead of floats.
struct PackedSigns {
  int64_t rows = 0, K = 0, words = 0;
  std::vector<uint64_t> bits;  // rows × words
  const uint64_t* row(int64_t r) const { return bits.data() + r * words; }
  int64_t bytes() const { return static_cast<int64_t>(bits.size() * sizeof(uint64_t)); }
  static PackedSigns from_rows(const float* x, int64_t rows, int64_t K);
};

}  // namespace mgf
