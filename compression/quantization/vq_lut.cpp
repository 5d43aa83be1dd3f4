// compression/quantization/vq_lut.cpp — see vq_lut.h (Gong et al. 2014, PQ by lookup tables).
#include "compression/quantization/vq_lut.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compression/quantization/vq.h"
#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

// ---- the table ---------------------------------------------------------------------------------
void vq_lut_table_scalar(const float* cb, int64_t ld, const float* x, int64_t n, int64_t d, int64_t k, float* T) {
  const int64_t kp = vq_table_stride(k), s = (n + d - 1) / d;
  std::fill(T, T + s * kp, 0.0f);
  // Column by column: column j adds x_j times its codebook row to the table row of its segment.
  // std::fma, so the AVX2 side (vfmadd) rounds exactly the same way.
  for (int64_t j = 0; j < n; ++j) {
    float* t = T + (j / d) * kp;
    const float* c = cb + j * ld;
    for (int64_t q = 0; q < k; ++q) t[q] = std::fma(c[q], x[j], t[q]);
  }
}

#if MGF_HAVE_X86
MGF_AVX2 void vq_lut_table_avx2(const float* cb, int64_t ld, const float* x, int64_t n, int64_t d, int64_t k, float* T) {
  const int64_t kp = vq_table_stride(k), s = (n + d - 1) / d;
  std::fill(T, T + s * kp, 0.0f);
  const int64_t k8 = k / 8 * 8;
  for (int64_t j = 0; j < n; ++j) {
    float* t = T + (j / d) * kp;
    const float* c = cb + j * ld;
    const __m256 xj = _mm256_set1_ps(x[j]);
    // t[q..q+7] = fma(c[q..q+7], x_j, t[q..q+7])
    for (int64_t q = 0; q < k8; q += 8)
      _mm256_storeu_ps(t + q, _mm256_fmadd_ps(_mm256_loadu_ps(c + q), xj, _mm256_loadu_ps(t + q)));
    for (int64_t q = k8; q < k; ++q) t[q] = std::fma(c[q], x[j], t[q]);   // centroid tail (k = 2, 4)
  }
}
#else
void vq_lut_table_avx2(const float* cb, int64_t ld, const float* x, int64_t n, int64_t d, int64_t k, float* T) {
  vq_lut_table_scalar(cb, ld, x, n, d, k, T);
}
#endif

void vq_lut_table(const float* cb, int64_t ld, const float* x, int64_t n, int64_t d, int64_t k, float* T) {
  if (use_avx2()) return vq_lut_table_avx2(cb, ld, x, n, d, k, T);
  vq_lut_table_scalar(cb, ld, x, n, d, k, T);
}

// ---- the lookups -------------------------------------------------------------------------------
void vq_lut_accumulate_scalar(const float* T, int64_t s, int64_t k, const uint8_t* codes, int64_t ldc, int64_t m, float* y) {
  const int64_t kp = vq_table_stride(k);
  for (int64_t i = 0; i < s; ++i) {
    const float* t = T + i * kp;
    const uint8_t* c = codes + i * ldc;
    for (int64_t o = 0; o < m; ++o) y[o] += t[c[o]];
  }
}

#if MGF_HAVE_X86
MGF_AVX2 void vq_lut_accumulate_avx2(const float* T, int64_t s, int64_t k, const uint8_t* codes, int64_t ldc, int64_t m,
                                     float* y) {
  const int64_t kp = vq_table_stride(k), m8 = m / 8 * 8;
  // Eight outputs per register; each adds its s lookups in segment order, as the scalar code.
  for (int64_t o = 0; o < m8; o += 8) {
    __m256 acc = _mm256_loadu_ps(y + o);
    const uint8_t* c = codes + o;
    if (k <= 8) {
      // t[c[o..o+7]] with the segment's (zero-padded) 8 table entries in one register: vpermps.
      for (int64_t i = 0; i < s; ++i) {
        __m128i c8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + i * ldc));
        __m256i idx = _mm256_cvtepu8_epi32(c8);
        acc = _mm256_add_ps(acc, _mm256_permutevar8x32_ps(_mm256_loadu_ps(T + i * kp), idx));
      }
    } else if (k <= 16) {
      // Two registers of 8 entries; vpermps uses the low 3 bits of each code, bit 3 picks the
      // register: shifted to the sign bit, it is blendv's mask.
      for (int64_t i = 0; i < s; ++i) {
        __m128i c8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + i * ldc));
        __m256i idx = _mm256_cvtepu8_epi32(c8);
        __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(T + i * kp), idx);
        __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(T + i * kp + 8), idx);
        __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));
        acc = _mm256_add_ps(acc, _mm256_blendv_ps(lo, hi, sel));
      }
    } else {
      // Any k up to 256: vgatherdps from the segment's table row.
      for (int64_t i = 0; i < s; ++i) {
        __m128i c8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + i * ldc));
        __m256i idx = _mm256_cvtepu8_epi32(c8);
        acc = _mm256_add_ps(acc, _mm256_i32gather_ps(T + i * kp, idx, 4));
      }
    }
    _mm256_storeu_ps(y + o, acc);
  }
  if (m8 < m) vq_lut_accumulate_scalar(T, s, k, codes + m8, ldc, m - m8, y + m8);   // ragged outputs
}
#else
void vq_lut_accumulate_avx2(const float* T, int64_t s, int64_t k, const uint8_t* codes, int64_t ldc, int64_t m, float* y) {
  vq_lut_accumulate_scalar(T, s, k, codes, ldc, m, y);
}
#endif

void vq_lut_accumulate(const float* T, int64_t s, int64_t k, const uint8_t* codes, int64_t ldc, int64_t m, float* y) {
  if (use_avx2()) return vq_lut_accumulate_avx2(T, s, k, codes, ldc, m, y);
  vq_lut_accumulate_scalar(T, s, k, codes, ldc, m, y);
}

// ---- a layer -----------------------------------------------------------------------------------
int64_t vq_lut_scratch_floats(const VqMatrix& W) { return W.segments() * vq_table_stride(W.k()); }

void vq_linear_forward(const VqMatrix& W, const float* bias, const float* X, int64_t B, float* Y, float* T) {
  const int64_t m = W.rows, n = W.cols, k = W.k(), s = W.segments();
  const int64_t ld = W.shared ? 0 : k;
  for (int64_t b = 0; b < B; ++b) {
    float* y = Y + b * m;
    if (bias) std::memcpy(y, bias, sizeof(float) * static_cast<size_t>(m));
    else std::fill(y, y + m, 0.0f);
    for (const VqStage& st : W.stages) {
      vq_lut_table(st.codebook.data(), ld, X + b * n, n, W.seg, k, T);
      vq_lut_accumulate(T, s, k, st.codes.data(), m, m, y);
    }
  }
}

}  // namespace mgf
