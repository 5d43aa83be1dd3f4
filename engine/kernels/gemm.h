// engine/kernels/gemm.h — single-precision matrix multiply, the engine's hottest loop.
//
//   C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C        (row-major, BLAS-style)
//
// op(X) is X (Trans::N) or Xᵀ (Trans::T). lda, ldb, ldc are row strides of A, B, C as
// stored: A is M×K (lda >= K) when ta = N and K×M (lda >= M) when ta = T; likewise B.
// beta = 0 means C is written, never read (it may hold garbage or NaN).
// Forward needs NN (x·Wᵀ is NT), backward needs NT and TN. Book: book/02-kernels.md.
#pragma once
#include <cstdint>

namespace mgf {

enum class Trans { N, T };

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void sgemm_scalar(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void sgemm_avx2(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace mgf
