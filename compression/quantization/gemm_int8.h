// compression/quantization/gemm_int8.h — the u8 × s8 → int32 GEMM of the int8 chapter.
//
// Vanhoucke, Senior, Mao 2011 ("Improving the speed of neural networks on CPUs") §3–4:
// activations stored as unsigned bytes, weights as signed bytes, products accumulated in
// integers, with SSSE3 pmaddubsw doing the byte multiplies. Here, for an activation matrix
// A (M rows × K, u8, row stride lda) and a weight matrix W (N rows × K, s8, PyTorch's [out, in]):
//
//   C[m][n] = Σ_k A[m][k] · W[n][k]          exact int32, m < M, n < N      (row stride ldc)
//
// The contract every rung shares: A's bytes are 7-bit (0..127). That is the design that makes
// vpmaddubsw safe: it sums two u8·s8 products into a saturating int16, and 127·127·2 = 32 258
// and 127·(−128)·2 = −32 512 both fit in [−32 768, 32 767], whereas a full-range byte
// (255·127·2 = 64 770) would saturate silently (the peers' oneDNN AVX2 path does exactly that,
// ../shared/peers). The scalar rung is exact for any byte; the AVX2 rung is exact only under the
// contract, which the quantised nets (int8.h) guarantee by construction.
//
// Weights are packed once at load (pack_s8): panels of 16 output rows, K padded to a multiple
// of 4, each group of 4 k's stored as 64 bytes [n0:k0..k3, n1:k0..k3, …, n15:k0..k3] — one
// zmm or two ymm. Broadcasting A[m][k..k+3] as an int32 then lines up with that group, which
// is the layout both vpmaddubsw+vpmaddwd (AVX2) and vpdpbusd (VNNI) consume without shuffles.
// Padded weights are 0, so ragged N and K need no masks in the inner loop.
//
// Three rungs, one contract, exactly equal results (tests/test_int8.cpp):
//   gemm_u8s8_scalar       plain loops over the unpacked rows (reads the packed copy's source)
//   gemm_u8s8_avx2         vpmaddubsw (u8·s8 pairs → s16) → vpmaddwd with ones (→ s32) → vpaddd
//   gemm_u8s8_avx512vnni   the third, labelled rung: AVX-512 VNNI vpdpbusd does all three in
//                          one instruction on 16 columns; used when use_avx512() (cpu.h)
// gemm_u8s8() dispatches on the kernel mode. One thread: the chapter measures single-core speed.
// Book: book/21-int8.md. Not here: a zero-point-aware kernel (zero points are folded into the
// bias at load, int8.h), s8×s8, int4, multi-threading.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/kernels/cpu.h"

namespace mgf {

// Weights packed for the vector rungs, with the original rows kept for the scalar spec.
struct PackedS8 {
  int64_t N = 0, K = 0;
  int64_t Kp = 0;                 // K rounded up to a multiple of 4
  int64_t panels = 0;             // ⌈N/16⌉
  std::vector<int8_t> rows;       // [N, K] as given (the spec reads these)
  std::vector<int8_t> packed;     // panels × (Kp/4) × 64 bytes (unaligned loads: no alignment assumed)
  std::vector<int32_t> row_sums;  // Σ_k W[n][k], for folding an activation zero point into the bias
  const int8_t* panel(int64_t p) const;
};

// Packs W [N, K] row major (stride K). Throws std::invalid_argument on a non-positive shape.
PackedS8 pack_s8(const int8_t* W, int64_t N, int64_t K);

void gemm_u8s8(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc);
void gemm_u8s8_scalar(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc);
void gemm_u8s8_avx2(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc);
// Requires cpu_has_avx512() (which includes VNNI); throws std::runtime_error naming the
// missing features otherwise (never a silent fallback).
void gemm_u8s8_avx512vnni(int64_t M, const uint8_t* A, int64_t lda, const PackedS8& W, int32_t* C, int64_t ldc);

// The dispatcher's choice, as a pure function of the kernel mode and the CPU's features (the
// tests run it on CPUs this one is not): VNNI only when the mode asks for avx512 *and* the CPU
// has it, AVX2 when the mode allows it and the CPU has it, else the spec. kernel_mode() is
// avx2 unless MGF_KERNELS / --kernels asks for avx512, and set_kernel_mode() refuses avx512 on
// a CPU without it, naming the missing features (cpu_lacks(), engine/kernels/cpu.h): the
// default dispatch never picks VNNI, and an explicit request on such a CPU is an error.
enum class U8S8Rung { scalar, avx2, avx512vnni };
U8S8Rung gemm_u8s8_rung(KernelMode mode, bool cpu_avx2, bool cpu_vnni);
const char* gemm_u8s8_rung_name(U8S8Rung r);
// The rung gemm_u8s8() would run now: "scalar", "avx2" or "avx512vnni".
const char* gemm_u8s8_variant();

}  // namespace mgf
