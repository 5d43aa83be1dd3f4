// engine/kernels/gemm.cpp — sgemm, scalar and AVX2 side by side. See gemm.h for the contract.
//
// Implements the Goto/BLIS structure ("Anatomy of high-performance matrix multiplication",
// Goto & van de Geijn 2008; "BLIS: a framework for rapidly instantiating BLAS functionality",
// Van Zee & van de Geijn 2015): five loops around a register-blocked micro-kernel, with the
// operands copied ("packed") into the order the micro-kernel reads them.
// Book: book/02-kernels.md (the ladder naive → loop order → blocking → packing → micro-kernel
// → threads; every step is a function in engine/kernels/gemm_ladder.cpp).
// Deliberately not done: AVX-512 (this engine's vector ISA is AVX2), complex/double types,
// strided (non-unit column stride) matrices, run-time auto-tuning of the block sizes.
#include "engine/kernels/gemm.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>

#include "engine/kernels/cpu.h"
#include "engine/threads.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

// ============================================================================================
// Scalar: the specification. C = beta·C first, then C += alpha·op(A)·op(B) in cache blocks.
// Two inner loops, chosen so the innermost one walks memory contiguously:
//   op(B) = B  (tb = N):  c[i][j..] += a_ip · B[p][j..]    (an "axpy" over a row of B)
//   op(B) = Bᵀ (tb = T):  c[i][j]   += Σ_p a_ip · B[j][p]   (a dot product along a row of B)
// ============================================================================================
void sgemm_scalar(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {  // beta = 0: C is written, never read (BLAS convention)
    float* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
  }
  if (K <= 0 || alpha == 0.0f) return;
  // op(A)[i][p]: row-major A (ta = N) or its transpose (ta = T).
  auto a_at = [&](int64_t i, int64_t p) { return ta == Trans::N ? A[i * lda + p] : A[p * lda + i]; };
  // Blocks small enough that a block of B (KB×NB floats = 128 KiB) stays in L2 while the rows
  // of A and C stream past it: the loop order is the math, the blocking is the only trick.
  const int64_t MB = 64, KB = 128, NB = 256;
  for (int64_t i0 = 0; i0 < M; i0 += MB)
    for (int64_t p0 = 0; p0 < K; p0 += KB)
      for (int64_t j0 = 0; j0 < N; j0 += NB) {
        const int64_t i1 = std::min(M, i0 + MB), p1 = std::min(K, p0 + KB), j1 = std::min(N, j0 + NB);
        for (int64_t i = i0; i < i1; ++i) {
          float* c = C + i * ldc;
          if (tb == Trans::N) {
            for (int64_t p = p0; p < p1; ++p) {
              const float a = alpha * a_at(i, p);
              const float* b = B + p * ldb;
              for (int64_t j = j0; j < j1; ++j) c[j] += a * b[j];
            }
          } else {
            for (int64_t j = j0; j < j1; ++j) {
              const float* b = B + j * ldb;
              float s = 0.0f;
              for (int64_t p = p0; p < p1; ++p) s += a_at(i, p) * b[p];
              c[j] += alpha * s;
            }
          }
        }
      }
}

// ============================================================================================
// AVX2 + FMA.
//
// Register blocking. The micro-kernel keeps a 6×16 tile of C in 12 ymm registers (6 rows × 2
// vectors of 8) and, per step p of the K loop, loads 16 floats of B (2 vectors), broadcasts 6
// floats of A and issues 12 FMAs:  c[i][0..15] += a[i][p] · b[p][0..15].
// Why 6×16: Zen 5 retires 2 FMAs per cycle with a 4-cycle latency, so at least 8 independent
// accumulators are needed to keep both pipes busy; 12 accumulators + 2 B vectors + 1 broadcast
// = 15 of the 16 ymm registers. Per step: 8 loads for 12 FMAs (6 cycles), well inside the
// load ports.
//
// Cache blocking (Zen 5: L1d 48 KiB, L2 1 MiB per core, L3 32 MiB shared):
//   KC × NR  packed sliver of B  (256·16·4 = 16 KiB)  stays in L1 across the ir loop;
//   MC × KC  packed block of A   (144·256·4 = 144 KiB) stays in L2 across the jr loop;
//   KC × NC  packed panel of B   (256·4080·4 = 4 MiB)  stays in L3 across the ic loop.
// Packing copies each block once into exactly the order the micro-kernel reads it
// (A: MR rows interleaved per p; B: NR columns contiguous per p), zero-padded to full tiles,
// so the kernel's loads are unit-stride, aligned to nothing in particular, and TLB-friendly,
// whatever the transposes and leading dimensions. alpha is folded into packed A.
// Thin products (M <= 64: LeNet's layers) skip packing where it costs more than it saves —
// A when alpha = 1, B when its rows are short — and the edges of C get micro-kernels of their
// own size (RM × 8 or RM × 16, RM <= 6, from one template) instead of a padded 6×16 tile.
// ============================================================================================
#if MGF_HAVE_X86
namespace {

constexpr int64_t MR = 6, NR = 16;
constexpr int64_t KC = 256, MC = 144, NC = 4080;  // MC multiple of MR, NC multiple of NR

// A 64-byte-aligned scratch buffer, one per thread per role, grown on demand.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t want) {
    if (want > n) {
      ::operator delete[](p, std::align_val_t(64));
      p = static_cast<float*>(::operator new[](want * sizeof(float), std::align_val_t(64)));
      n = want;
    }
    return p;
  }
  ~Scratch() { ::operator delete[](p, std::align_val_t(64)); }
};


// M (or an MC block of it) is cut into ceil(m/MR) slivers of as equal a height as possible —
// 20 rows as 5+5+5+5, not 6+6+6+2 — so no sliver runs a short, latency-bound kernel. Sliver s
// starts at row sliver_start(m, s) and has sliver_start(m, s + 1) − sliver_start(m, s) rows.
inline int64_t sliver_count(int64_t m) { return (m + MR - 1) / MR; }
inline int64_t sliver_start(int64_t m, int64_t s) {
  const int64_t ns = sliver_count(m), base = m / ns, extra = m % ns;
  return s * base + std::min(s, extra);
}

// Packs rows [0, mc) × columns [0, kc) of alpha·op(A) into the slivers of sliver_start():
//   dst[s·MR·kc + p·MR + r] = alpha · op(A)[sliver_start(mc, s) + r][p]   (0 past the sliver).
// A points at op(A)[0][0] of the block.
MGF_AVX2 void pack_a(Trans ta, const float* A, int64_t lda, int64_t mc, int64_t kc, float alpha, float* dst) {
  for (int64_t si = 0, ns = sliver_count(mc); si < ns; ++si, dst += MR * kc) {
    const int64_t s = sliver_start(mc, si), m = sliver_start(mc, si + 1) - s;
    if (ta == Trans::T) {  // op(A)[i][p] = A[p][i]: each p gives MR contiguous floats
      const float* a = A + s;
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t r = 0; r < m; ++r) dst[p * MR + r] = alpha * a[p * lda + r];
        for (int64_t r = m; r < MR; ++r) dst[p * MR + r] = 0.0f;
      }
    } else {  // op(A) = A: MR row streams, interleaved
      const float* a = A + s * lda;
      if (m == MR) {
        const float* a0 = a;
        const float* a1 = a0 + lda;
        const float* a2 = a1 + lda;
        const float* a3 = a2 + lda;
        const float* a4 = a3 + lda;
        const float* a5 = a4 + lda;
        for (int64_t p = 0; p < kc; ++p) {
          float* d = dst + p * MR;
          d[0] = alpha * a0[p];
          d[1] = alpha * a1[p];
          d[2] = alpha * a2[p];
          d[3] = alpha * a3[p];
          d[4] = alpha * a4[p];
          d[5] = alpha * a5[p];
        }
      } else {
        for (int64_t p = 0; p < kc; ++p) {
          for (int64_t r = 0; r < m; ++r) dst[p * MR + r] = alpha * a[r * lda + p];
          for (int64_t r = m; r < MR; ++r) dst[p * MR + r] = 0.0f;
        }
      }
    }
  }
}

// 8×8 transpose of rows src[r·lds + 0..7] into dst[c·ldd + 0..7] (dst[c][r] = src[r][c]).
MGF_AVX2 inline void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
  __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
  __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
  __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// Packs rows [0, kc) × columns [0, nc) of op(B) into NR-column slivers:
//   dst[s·NR·kc + p·NR + c] = op(B)[p][s·NR + c]   (0 for columns past nc).
// B points at op(B)[0][0] of the block.
MGF_AVX2 inline void copy16(const float* src, float* dst) {  // dst 32-byte aligned
  _mm256_store_ps(dst, _mm256_loadu_ps(src));
  _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + 8));
}

MGF_AVX2 void pack_b(Trans tb, const float* B, int64_t ldb, int64_t kc, int64_t nc, float* dst, bool by_rows) {
  const int64_t nfull = nc / NR * NR;
  if (tb == Trans::N) {
    // op(B) = B: per row p, each sliver takes 16 contiguous floats (two vector copies). One of
    // the two sides of the copy has to jump: reading sliver by sliver walks B down its columns
    // (a new page per row when B's rows are long), writing row by row scatters into every
    // sliver (a new page per sliver). Row by row for the small-M panels (few slivers, used
    // straight away from L2; measured faster on LeNet-5's wide im2col GEMMs), sliver by sliver
    // for the big L3 panels.
    if (by_rows) {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t s = 0; s < nfull; s += NR) copy16(B + p * ldb + s, dst + s * kc + p * NR);
    } else {
      for (int64_t s = 0; s < nfull; s += NR)
        for (int64_t p = 0; p < kc; ++p) copy16(B + p * ldb + s, dst + s * kc + p * NR);
    }
    if (nfull < nc)  // the partial sliver, zero-padded to NR columns
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + nfull * kc + p * NR;
        for (int64_t c = 0; c < nc - nfull; ++c) d[c] = B[p * ldb + nfull + c];
        for (int64_t c = nc - nfull; c < NR; ++c) d[c] = 0.0f;
      }
    return;
  }
  // op(B)[p][c] = B[c][p]: a transpose, done 8×8 at a time in registers; each sliver reads 16
  // rows of B along p, 16 sequential streams.
  for (int64_t s = 0; s < nc; s += NR, dst += NR * kc) {
    const int64_t n = std::min(NR, nc - s);
    const float* b = B + s * ldb;
    int64_t p = 0;
    if (n == NR)
      for (; p + 8 <= kc; p += 8) {
        transpose8x8(b + p, ldb, dst + p * NR, NR);                // columns 0..7
        transpose8x8(b + 8 * ldb + p, ldb, dst + p * NR + 8, NR);  // columns 8..15
      }
    for (; p < kc; ++p) {
      for (int64_t c = 0; c < n; ++c) dst[p * NR + c] = b[c * ldb + p];
      for (int64_t c = n; c < NR; ++c) dst[p * NR + c] = 0.0f;
    }
  }
}

// The micro-kernel: C[0..RM)[0..n) = A·B (+ beta·C) over kc steps, for an RM×(8·NV) tile.
// A sliver: element (r, p) at a[r·ars + p·aps] — packed (ars = 1, aps = MR) or read in place
// from op(A) (alpha = 1; see sgemm_avx2_serial). B: kc rows of 8·NV floats, ldbk apart (NR
// when packed, ldb when B is read in place). The 6×16 instance is the main kernel; the others
// are its edges, instantiated so an edge costs FMAs for the rows and vectors it has, not for a
// full 6×16 tile: RM < 6 rows (a ragged M, or M cut into slivers of 5 rows: 20 = 4·5), NV = 1
// for a last sliver of at most 8 columns. MASKB: the last vector of each B row is read through
// the lane mask (columns >= n are not loaded at all): a partial sliver read in place.
// Columns n..8·NV−1 of the tile are computed (from zero padding or masked-off lanes) but
// stored through the mask only.
// The loops over r and v have constant trip counts: unrolled fully, acc[][] lives in registers.
#define MGF_UNROLL _Pragma("GCC unroll 16")
template <int RM, int NV, bool MASKB>
MGF_AVX2 void micro_kernel(int64_t kc, const float* a, int64_t ars, int64_t aps, const float* b, int64_t ldbk,
                           float* C, int64_t ldc, float beta, int64_t n) {
  // Ask for the C tile now, so its lines arrive while the K loop runs (C is touched once per
  // KC slice and is usually not in L1).
  MGF_UNROLL
  for (int r = 0; r < RM; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    if (NV == 2) _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + 15), _MM_HINT_T0);
  }
  // Lane j of mask v is on when column 8·v + j exists.
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mlast = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n) - 8 * (NV - 1)), lane);
  const float* ar[RM];
  MGF_UNROLL
  for (int r = 0; r < RM; ++r) ar[r] = a + r * ars;
  __m256 acc[RM][NV];
  MGF_UNROLL
  for (int r = 0; r < RM; ++r)
    MGF_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t p = 0, ap = 0; p < kc; ++p, ap += aps, b += ldbk) {
    // c[r][0..8·NV) += a[r][p] · b[p][0..8·NV)
    __m256 bv[NV];
    MGF_UNROLL
    for (int v = 0; v < NV; ++v)
      bv[v] = MASKB && v == NV - 1 ? _mm256_maskload_ps(b + 8 * v, mlast) : _mm256_loadu_ps(b + 8 * v);
    MGF_UNROLL
    for (int r = 0; r < RM; ++r) {
      const __m256 ai = _mm256_broadcast_ss(ar[r] + ap);
      MGF_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ai, bv[v], acc[r][v]);
    }
  }
  const __m256 vb = _mm256_set1_ps(beta);
  if (n == 8 * NV) {
    MGF_UNROLL
    for (int r = 0; r < RM; ++r) {
      float* c = C + r * ldc;
      MGF_UNROLL
      for (int v = 0; v < NV; ++v) {
        if (beta == 0.0f)  // C written, never read
          _mm256_storeu_ps(c + 8 * v, acc[r][v]);
        else  // c = acc + beta·c
          _mm256_storeu_ps(c + 8 * v, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8 * v), acc[r][v]));
      }
    }
    return;
  }
  MGF_UNROLL
  for (int r = 0; r < RM; ++r) {
    float* c = C + r * ldc;
    MGF_UNROLL
    for (int v = 0; v < NV; ++v) {
      __m256 x = acc[r][v];
      if (v < NV - 1) {  // a full vector
        if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8 * v), x);
        _mm256_storeu_ps(c + 8 * v, x);
      } else {  // masked loads and stores never touch the missing columns
        if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8 * v, mlast), x);
        _mm256_maskstore_ps(c + 8 * v, mlast, x);
      }
    }
  }
}

using MicroKernel = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, float,
                             int64_t);

template <int RM>
constexpr MicroKernel kernel_for(int nv, bool maskb) {
  return nv == 1 ? (maskb ? micro_kernel<RM, 1, true> : micro_kernel<RM, 1, false>)
                 : (maskb ? micro_kernel<RM, 2, true> : micro_kernel<RM, 2, false>);
}

// The instance for an m×n tile (1 <= m <= MR, 1 <= n <= NR).
MicroKernel pick_kernel(int64_t m, int64_t n, bool maskb) {
  const int nv = n <= 8 ? 1 : 2;
  switch (m) {
    case 1: return kernel_for<1>(nv, maskb);
    case 2: return kernel_for<2>(nv, maskb);
    case 3: return kernel_for<3>(nv, maskb);
    case 4: return kernel_for<4>(nv, maskb);
    case 5: return kernel_for<5>(nv, maskb);
    default: return kernel_for<6>(nv, maskb);
  }
}

// One thread's share: the five Goto loops over an M×N block of C.
MGF_AVX2 void sgemm_avx2_serial(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  static thread_local Scratch sa, sb;
  // B is read in place, without packing, when op(B) = B, M is small and B's rows are short:
  // each B sliver is then reused by only a few A slivers (M/6 of them), so copying B would cost
  // as much memory traffic as using it (LeNet-300-100 at batch 64: M = 64). Rows at most 4 KiB
  // apart keep a sliver's rows on few pages; longer rows (LeNet-5's conv1 as im2col at batch 64:
  // N = 36864) make every row of the sliver a TLB miss and a prefetcher-unfriendly stride, and
  // packing wins again (reading them in place measured 37-40 against 57-59 GFLOP/s there). In
  // place, the last, partial sliver is read through a lane mask (MASKB), so no kernel reads
  // past the end of a row.
  const bool direct_b = tb == Trans::N && M <= 64 && ldb <= 1024;
  // A is read in place too when alpha = 1 and M <= 64: packing A costs M·K copies per B panel,
  // which for thin products (LeNet-300-100's 64×300×100: 19 200 floats for 3.8 MFLOP) is a
  // tenth of the time; in place the micro-kernel broadcasts from MR row streams (ta = N) or
  // from one strided stream (ta = T) instead of one packed one. Measured (bench, 1 thread, CPU
  // clock, medians of 3 alternating rounds): 64×300×100 82 -> 98, 64×100×10 27 -> 56,
  // 50×500×64 70 -> 98 GFLOP/s. Large M keeps packing: its A block is reused from L2 by
  // many B slivers, and MC rows read in place would span as many pages.
  const bool direct_a = alpha == 1.0f && M <= 64;
  // K slices. Large products: KC = 256 (a 256×16 B sliver, 16 KiB, stays in L1 beside the A
  // sliver), one slice when K <= 384 (K = 300 is then one pass over C instead of 256 + 44,
  // which reads C again). Thin products (M <= 64: few A slivers per B sliver, and C is touched
  // again by every slice) take slices of equal depth up to 512 (32 KiB of B sliver still fits
  // the 48 KiB L1): K = 500 is one slice, K = 800 two of 400. bench, 1 thread, CPU clock, 5
  // alternating rounds, GFLOP/s medians, before -> after: 50×500×4096 81.1 -> 83.7,
  // 50×500×64 107.6 -> 109.5, 64×800×500 92.3 -> 94.1 (every after-run above every
  // before-run on 50×500×64).
  int64_t kc_blk = K <= 384 ? K : KC;
  if (M <= 64) {
    const int64_t slices = (K + 511) / 512;
    kc_blk = (K + slices - 1) / slices;
  }
  const int64_t kc_max = std::min(kc_blk, K);
  // The B panel lives in L3 when A has many MC blocks to run past it. When A is a single
  // block (M <= MC) the panel is used once, right after it is packed: keep it small enough
  // (512 KiB) to still be in L2 then. A is repacked per panel, but it is only M <= 144 rows.
  const int64_t nc_blk = M <= MC ? std::clamp<int64_t>((128 * 1024 / kc_max) / NR * NR, NR, NC) : NC;
  float* bp = direct_b ? nullptr : sb.get(static_cast<size_t>(kc_max * std::min(nc_blk, (N + NR - 1) / NR * NR)));
  float* ap = direct_a ? nullptr : sa.get(static_cast<size_t>(kc_max * MR * sliver_count(std::min(MC, M))));
  for (int64_t jc = 0; jc < N; jc += nc_blk) {  // loop 5: NC-wide panels of B and C
    const int64_t nc = std::min(nc_blk, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_blk) {  // loop 4: KC-deep slices of the K dimension
      const int64_t kc = std::min(kc_blk, K - pc);
      // After the first K slice, C already holds beta·C + the partial sums: add to it.
      const float beta_here = pc == 0 ? beta : 1.0f;
      const float* Bblk = tb == Trans::N ? B + pc * ldb + jc : B + jc * ldb + pc;
      if (!direct_b) pack_b(tb, Bblk, ldb, kc, nc, bp, M <= MC);
      for (int64_t ic = 0; ic < M; ic += MC) {  // loop 3: MC-tall blocks of A and C
        const int64_t mc = std::min(MC, M - ic), ns = sliver_count(mc);
        const float* Ablk = ta == Trans::N ? A + ic * lda + pc : A + pc * lda + ic;
        if (!direct_a) pack_a(ta, Ablk, lda, mc, kc, alpha, ap);
        // op(A)[r][p] of sliver si: packed at ap + si·MR·kc + p·MR + r; in place (alpha = 1) at
        // Ablk + (row + r)·lda + p (ta = N) or Ablk + p·lda + row + r (ta = T).
        const int64_t ars = direct_a ? (ta == Trans::N ? lda : 1) : 1;
        const int64_t aps = direct_a ? (ta == Trans::N ? 1 : lda) : MR;
        for (int64_t jr = 0; jr < nc; jr += NR) {  // loop 2: one B sliver, kept in L1 ...
          const int64_t n = std::min(NR, nc - jr);
          const float* bs = direct_b ? Bblk + jr : bp + jr * kc;
          const int64_t ldbk = direct_b ? ldb : NR;
          // In place, the rows of the next sliver are ldb apart, a pattern the hardware
          // prefetcher does not follow: ask for them while this sliver is being used.
          if (direct_b && jr + NR < nc)
            for (int64_t p = 0; p < kc; ++p) _mm_prefetch(reinterpret_cast<const char*>(Bblk + jr + NR + p * ldb), _MM_HINT_T0);
          // Likewise the next sliver's column of C tiles, into L2 (the kernel itself pulls its
          // own tile into L1): when K is small a tile's FMAs take less time than a DRAM miss.
          if (M <= MC && kc < 128 && jr + NR < nc)
            for (int64_t i = 0; i < mc; ++i) {
              const float* c = C + (ic + i) * ldc + jc + jr + NR;
              _mm_prefetch(reinterpret_cast<const char*>(c), _MM_HINT_T1);
              _mm_prefetch(reinterpret_cast<const char*>(c + 15), _MM_HINT_T1);
            }
          const MicroKernel full = pick_kernel(MR, n, direct_b && n < NR);
          for (int64_t si = 0; si < ns; ++si) {  // loop 1: ... against every A sliver
            const int64_t r0 = sliver_start(mc, si), m = sliver_start(mc, si + 1) - r0;
            const float* as = direct_a ? Ablk + r0 * ars : ap + si * MR * kc;
            const MicroKernel k = m == MR ? full : pick_kernel(m, n, direct_b && n < NR);
            k(kc, as, ars, aps, bs, ldbk, C + (ic + r0) * ldc + jc + jr, ldc, beta_here, n);
          }
        }
      }
    }
  }
}

// Tiny M (batch-1 inference, M < 4): packing B would copy as many bytes as the product
// reads, so the rows of C are computed straight from the unpacked operands.
//   tb = N:  c[j..j+31] += a_p · B[p][j..j+31]  (4 accumulators over a row strip of B)
//   tb = T:  c[j] = Σ_p a_p · B[j][p]            (dot products along rows of B, 4 at a time)

MGF_AVX2 void gemv_row(Trans ta, Trans tb, int64_t i, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, const float* B, int64_t ldb, float beta, float* c) {
  auto a_at = [&](int64_t p) { return ta == Trans::N ? A[i * lda + p] : A[p * lda + i]; };
  auto store = [&](int64_t j, float v) { c[j] = beta == 0.0f ? alpha * v : alpha * v + beta * c[j]; };
  if (tb == Trans::N) {
    int64_t j = 0;
    for (; j + 32 <= N; j += 32) {
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (int64_t p = 0; p < K; ++p) {
        const __m256 a = _mm256_set1_ps(a_at(p));
        const float* b = B + p * ldb + j;
        s0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b), s0);
        s1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 8), s1);
        s2 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 16), s2);
        s3 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 24), s3);
      }
      alignas(32) float t[32];
      _mm256_store_ps(t, s0);
      _mm256_store_ps(t + 8, s1);
      _mm256_store_ps(t + 16, s2);
      _mm256_store_ps(t + 24, s3);
      for (int64_t q = 0; q < 32; ++q) store(j + q, t[q]);
    }
    for (; j + 8 <= N; j += 8) {
      __m256 s0 = _mm256_setzero_ps();
      for (int64_t p = 0; p < K; ++p) s0 = _mm256_fmadd_ps(_mm256_set1_ps(a_at(p)), _mm256_loadu_ps(B + p * ldb + j), s0);
      alignas(32) float t[8];
      _mm256_store_ps(t, s0);
      for (int64_t q = 0; q < 8; ++q) store(j + q, t[q]);
    }
    for (; j < N; ++j) {
      float s = 0.0f;
      for (int64_t p = 0; p < K; ++p) s += a_at(p) * B[p * ldb + j];
      store(j, s);
    }
    return;
  }
  // tb = T. Gather op(A)'s row i once when it is strided (ta = T), so both streams are contiguous.
  static thread_local Scratch row;
  const float* a = A + i * lda;
  if (ta == Trans::T) {
    float* r = row.get(static_cast<size_t>(K));
    for (int64_t p = 0; p < K; ++p) r[p] = A[p * lda + i];
    a = r;
  }
  int64_t j = 0;
  for (; j + 4 <= N; j += 4) {
    const float* b0 = B + j * ldb;
    const float* b1 = b0 + ldb;
    const float* b2 = b1 + ldb;
    const float* b3 = b2 + ldb;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t p = 0;
    for (; p + 8 <= K; p += 8) {
      const __m256 av = _mm256_loadu_ps(a + p);
      s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b0 + p), s0);
      s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b1 + p), s1);
      s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b2 + p), s2);
      s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b3 + p), s3);
    }
    float t0 = hsum8_avx2(s0), t1 = hsum8_avx2(s1), t2 = hsum8_avx2(s2), t3 = hsum8_avx2(s3);
    for (; p < K; ++p) {
      t0 += a[p] * b0[p];
      t1 += a[p] * b1[p];
      t2 += a[p] * b2[p];
      t3 += a[p] * b3[p];
    }
    store(j, t0);
    store(j + 1, t1);
    store(j + 2, t2);
    store(j + 3, t3);
  }
  for (; j < N; ++j) {
    const float* b = B + j * ldb;
    __m256 s = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= K; p += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), s);
    float t = hsum8_avx2(s);
    for (; p < K; ++p) t += a[p] * b[p];
    store(j, t);
  }
}

}  // namespace

// Threads: C is cut into one block per thread, along N (in multiples of NR) when N >= M, else
// along M (multiples of MR); each thread runs the serial algorithm on its block with its own
// packing buffers. The operand that is not cut is packed once per thread: M·K (or K·N) extra
// copies against M·N·K/threads FMAs — negligible except for tiny shapes, which stay serial.
MGF_AVX2 void sgemm_avx2(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) return sgemm_scalar(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (M < 4) {
    const int64_t tiles = flops >= 4e6 ? std::min<int64_t>(num_threads(), (N + 63) / 64) : 1;
    if (tiles <= 1) {
      for (int64_t i = 0; i < M; ++i) gemv_row(ta, tb, i, N, K, alpha, A, lda, B, ldb, beta, C + i * ldc);
      return;
    }
    parallel_for(0, tiles, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t j0 = N * t / tiles, j1 = N * (t + 1) / tiles;
        const float* Bt = tb == Trans::N ? B + j0 : B + j0 * ldb;
        for (int64_t i = 0; i < M; ++i)
          gemv_row(ta, tb, i, j1 - j0, K, alpha, A, lda, Bt, ldb, beta, C + i * ldc + j0);
      }
    });
    return;
  }
  const int64_t threads = flops >= 2e6 ? num_threads() : 1;
  const bool along_n = N >= M;
  const int64_t unit = along_n ? NR : MR, units = ((along_n ? N : M) + unit - 1) / unit;
  const int64_t tiles = std::min<int64_t>(threads, units);
  if (tiles <= 1) return sgemm_avx2_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  parallel_for(0, tiles, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t u0 = units * t / tiles, u1 = units * (t + 1) / tiles;
      if (along_n) {
        const int64_t j0 = u0 * NR, j1 = std::min(N, u1 * NR);
        sgemm_avx2_serial(ta, tb, M, j1 - j0, K, alpha, A, lda, tb == Trans::N ? B + j0 : B + j0 * ldb, ldb, beta,
                          C + j0, ldc);
      } else {
        const int64_t i0 = u0 * MR, i1 = std::min(M, u1 * MR);
        sgemm_avx2_serial(ta, tb, i1 - i0, N, K, alpha, ta == Trans::N ? A + i0 * lda : A + i0, lda, B, ldb, beta,
                          C + i0 * ldc, ldc);
      }
    }
  });
}
#else
void sgemm_avx2(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_scalar(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (use_avx2()) return sgemm_avx2(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  sgemm_scalar(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace mgf
