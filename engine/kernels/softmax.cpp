// engine/kernels/softmax.cpp — see softmax.h. Scalar (std::exp, std::log) beside AVX2 (a
// vector exp). Row sums accumulate in float in both; the row max makes every term <= 1.
// Book: book/02-kernels.md. Not done: online (single-pass) softmax — our rows are short
// (10 classes, 1000 at most) and live in L1, so the second pass over them is cheap.
#include "engine/kernels/softmax.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

// ---- scalar: the specification --------------------------------------------------------------
void softmax_rows_scalar(const float* x, float* y, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float m = xr[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, xr[c]);
    float s = 0.0f;
    for (int64_t c = 0; c < C; ++c) s += (yr[c] = std::exp(xr[c] - m));
    const float inv = 1.0f / s;
    for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
  }
}
void log_softmax_rows_scalar(const float* x, float* y, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float m = xr[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, xr[c]);
    float s = 0.0f;
    for (int64_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
    const float lse = m + std::log(s);  // log Σ exp(x) = m + log Σ exp(x − m)
    for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] - lse;
  }
}
void softmax_rows_backward_scalar(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float *yr = y + r * C, *g = dy + r * C;
    float dot = 0.0f;
    for (int64_t c = 0; c < C; ++c) dot += g[c] * yr[c];
    for (int64_t c = 0; c < C; ++c) dx[r * C + c] += yr[c] * (g[c] - dot);
  }
}
void log_softmax_rows_backward_scalar(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float *yr = y + r * C, *g = dy + r * C;
    float sum = 0.0f;
    for (int64_t c = 0; c < C; ++c) sum += g[c];
    for (int64_t c = 0; c < C; ++c) dx[r * C + c] += g[c] - std::exp(yr[c]) * sum;
  }
}

#if MGF_HAVE_X86
namespace {

// exp(x) for 8 floats: x = n·ln2 + f with n = round(x / ln2), |f| <= ln2/2; exp(f) by a degree-6
// Taylor polynomial (error ≈ f^7/7! < 2e-7 relative); 2^n built in the exponent bits. ln2 is
// split in a high part (exact in float) and a low part so n·ln2 is subtracted without loss.
// Inputs below −87.3 give 0 (exp underflows anyway), above 88.7 give +inf.
MGF_AVX2 inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // x − n·ln2_hi
  f = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), f);      // − n·ln2_lo
  // Horner: 1 + f(1 + f/2(1 + f/3(1 + f/4(1 + f/5(1 + f/6)))))  written with Taylor coefficients
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  // 2^n: n + 127 in the exponent field. n is in [−126, 128]; n = 128 only at the +inf clamp.
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 r = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(under, r);  // below the range: exactly 0
}

MGF_AVX2 inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Row max, then Σ exp(x − m) with exp(x − m) stored in y when `store` (softmax) — both with a
// vector body and a scalar tail that uses std::exp, as the scalar side does.
MGF_AVX2 inline float row_max(const float* x, int64_t C) {
  float m = x[0];
  int64_t c = 0;
  if (C >= 8) {
    __m256 mv = _mm256_loadu_ps(x);
    for (c = 8; c + 8 <= C; c += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + c));
    m = hmax(mv);
  }
  for (; c < C; ++c) m = std::max(m, x[c]);
  return m;
}
MGF_AVX2 inline float exp_sum(const float* x, float m, float* y, int64_t C) {
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sv = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + c), mv));
    if (y) _mm256_storeu_ps(y + c, e);
    sv = _mm256_add_ps(sv, e);
  }
  float s = hsum8_avx2(sv);
  for (; c < C; ++c) {
    const float e = std::exp(x[c] - m);
    if (y) y[c] = e;
    s += e;
  }
  return s;
}

}  // namespace

// The three passes of the scalar side, each 8 columns at a time: max (vmaxps, reduced once
// per row), exp and sum (exp256 + vaddps, the exps kept in y), scale by 1/sum (vmulps).
MGF_AVX2 void softmax_rows_avx2(const float* x, float* y, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    const float m = row_max(xr, C);
    const float inv = 1.0f / exp_sum(xr, m, yr, C);
    const __m256 iv = _mm256_set1_ps(inv);
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) _mm256_storeu_ps(yr + c, _mm256_mul_ps(_mm256_loadu_ps(yr + c), iv));
    for (; c < C; ++c) yr[c] *= inv;
  }
}
MGF_AVX2 void log_softmax_rows_avx2(const float* x, float* y, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    const float m = row_max(xr, C);
    const float lse = m + std::log(exp_sum(xr, m, nullptr, C));
    const __m256 lv = _mm256_set1_ps(lse);
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) _mm256_storeu_ps(yr + c, _mm256_sub_ps(_mm256_loadu_ps(xr + c), lv));
    for (; c < C; ++c) yr[c] = xr[c] - lse;
  }
}
// dx += y ⊙ (dy − ⟨dy, y⟩): the Jacobian of softmax, diag(y) − y·yᵀ, applied to dy without
// forming it (C² numbers) — one dot product per row, then one fused pass.
MGF_AVX2 void softmax_rows_backward_avx2(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float *yr = y + r * C, *g = dy + r * C;
    float* d = dx + r * C;
    __m256 dv = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) dv = _mm256_fmadd_ps(_mm256_loadu_ps(g + c), _mm256_loadu_ps(yr + c), dv);
    float dot = hsum8_avx2(dv);
    for (; c < C; ++c) dot += g[c] * yr[c];
    const __m256 dotv = _mm256_set1_ps(dot);
    for (c = 0; c + 8 <= C; c += 8) {  // dx += y · (dy − dot)
      const __m256 t = _mm256_mul_ps(_mm256_loadu_ps(yr + c), _mm256_sub_ps(_mm256_loadu_ps(g + c), dotv));
      _mm256_storeu_ps(d + c, _mm256_add_ps(_mm256_loadu_ps(d + c), t));
    }
    for (; c < C; ++c) d[c] += yr[c] * (g[c] - dot);
  }
}
// dx += dy − softmax(x)·Σdy, with softmax(x) = exp(y) recomputed from the log-probabilities y.
MGF_AVX2 void log_softmax_rows_backward_avx2(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; ++r) {
    const float *yr = y + r * C, *g = dy + r * C;
    float* d = dx + r * C;
    __m256 sv = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) sv = _mm256_add_ps(sv, _mm256_loadu_ps(g + c));
    float sum = hsum8_avx2(sv);
    for (; c < C; ++c) sum += g[c];
    const __m256 sumv = _mm256_set1_ps(sum);
    for (c = 0; c + 8 <= C; c += 8) {  // dx += dy − exp(y) · Σdy
      const __m256 t = _mm256_fnmadd_ps(exp256(_mm256_loadu_ps(yr + c)), sumv, _mm256_loadu_ps(g + c));
      _mm256_storeu_ps(d + c, _mm256_add_ps(_mm256_loadu_ps(d + c), t));
    }
    for (; c < C; ++c) d[c] += g[c] - std::exp(yr[c]) * sum;
  }
}
#else
void softmax_rows_avx2(const float* x, float* y, int64_t R, int64_t C) { softmax_rows_scalar(x, y, R, C); }
void log_softmax_rows_avx2(const float* x, float* y, int64_t R, int64_t C) { log_softmax_rows_scalar(x, y, R, C); }
void softmax_rows_backward_avx2(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  softmax_rows_backward_scalar(y, dy, dx, R, C);
}
void log_softmax_rows_backward_avx2(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  log_softmax_rows_backward_scalar(y, dy, dx, R, C);
}
#endif

void softmax_rows(const float* x, float* y, int64_t R, int64_t C) {
  if (use_avx2()) return softmax_rows_avx2(x, y, R, C);
  softmax_rows_scalar(x, y, R, C);
}
void log_softmax_rows(const float* x, float* y, int64_t R, int64_t C) {
  if (use_avx2()) return log_softmax_rows_avx2(x, y, R, C);
  log_softmax_rows_scalar(x, y, R, C);
}
void softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  if (use_avx2()) return softmax_rows_backward_avx2(y, dy, dx, R, C);
  softmax_rows_backward_scalar(y, dy, dx, R, C);
}
void log_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t R, int64_t C) {
  if (use_avx2()) return log_softmax_rows_backward_avx2(y, dy, dx, R, C);
  log_softmax_rows_backward_scalar(y, dy, dx, R, C);
}

}  // namespace mgf
