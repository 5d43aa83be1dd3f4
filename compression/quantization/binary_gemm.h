// compression/quantization/binary_gemm.h — the XNOR-popcount GEMM: binary MACs on packed bits.
//
// Rastegari et al. 2016 (XNOR-Net) §3.2: with weights and inputs in {−1, +1}, a convolution is
// "XNOR and bit-counting". With A and B holding packed sign rows (bitpack.h, bit 1 = +1):
//
//   C[i][j] = Σ_k a_ik·b_jk = K − 2·popcount(A_i ⊕ B_j)           i < M, j < N
//
// (xor counts the disagreeing signs; xnor-popcount is the same thing read the other way.)
// The result is an exact integer; the caller applies the scales (α·β, or Γ for XNOR-Net++).
// Shapes: A is M rows × words, B is N rows × words (words = ⌈K/64⌉, both packed along K);
// C is int32 with row stride ldc. Both operands are "row major along K", so a conv is
// C[OC × P] = bgemm(weights[OC rows], im2col_pack_signs(x)[P rows]).
//
// Three implementations, one contract, exactly equal results (tests/test_xnor.cpp):
//   bgemm_scalar  64-bit words and a hardware popcount (a target("popcnt") body on x86; the
//                 portable __builtin_popcountll elsewhere) — the specification.
//   bgemm_avx2    256-bit xor, popcount by a 16-entry nibble table (vpshufb) accumulated in
//                 bytes, summed with vpsadbw; 2 rows × 4 columns per pass (register blocking),
//                 the sums reduced in registers, a ragged last slice read with a masked load.
//   bgemm_avx512  the third, clearly labelled variant: AVX-512 VPOPCNTQ counts 8 words per
//                 instruction; masked loads handle the ragged tail. Used when use_avx512().
// bgemm() dispatches and splits the M rows over the thread pool.
// Book: book/23-xnor.md. Not here: bit-serial multi-bit GEMM, Winograd, GPU-style tiling.
#pragma once
#include <cstdint>

namespace mgf {

void bgemm(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C, int64_t ldc);
void bgemm_scalar(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C,
                  int64_t ldc);
void bgemm_avx2(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C, int64_t ldc);
// Requires cpu_has_avx512(); throws std::runtime_error otherwise (never silently falls back).
void bgemm_avx512(int64_t M, int64_t N, int64_t K, const uint64_t* A, const uint64_t* B, int32_t* C,
                  int64_t ldc);

// The name of the variant bgemm() would run now ("scalar", "avx2", "avx512").
const char* bgemm_variant();

}  // namespace mgf
