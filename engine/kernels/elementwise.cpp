// engine/kernels/elementwise.cpp — see elementwise.h. Scalar first (the specification), AVX2
// beside it with the same contract; every vector body hands its ragged tail to the scalar code.
// Book: book/02-kernels.md. These kernels are memory-bound: the AVX2 side saves instructions,
// not bytes, so expect ratios well under GEMM's (see `make bench`).
#include "engine/kernels/elementwise.h"

#include <algorithm>

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

// ---- add_inplace: y += x --------------------------------------------------------------
void add_inplace_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

#if MGF_HAVE_X86
MGF_AVX2 void add_inplace_avx2(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {  // y[i..i+7] += x[i..i+7]
    __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i));
    _mm256_storeu_ps(y + i, v);
  }
  add_inplace_scalar(y + i, x + i, n - i);  // the ragged tail
}
#else
void add_inplace_avx2(float* y, const float* x, int64_t n) { add_inplace_scalar(y, x, n); }
#endif

void add_inplace(float* y, const float* x, int64_t n) {
  if (use_avx2()) return add_inplace_avx2(y, x, n);
  add_inplace_scalar(y, x, n);
}

// ---- bias ---------------------------------------------------------------------------------
void bias_add_rows_scalar(float* y, const float* b, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) y[n * C + c] += b[c];
}
void bias_add_channels_scalar(float* y, const float* b, int64_t N, int64_t C, int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      float* p = y + (n * C + c) * HW;
      for (int64_t k = 0; k < HW; ++k) p[k] += b[c];
    }
}

#if MGF_HAVE_X86
// A row of y plus the bias row: exactly add_inplace per row.
MGF_AVX2 void bias_add_rows_avx2(float* y, const float* b, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) add_inplace_avx2(y + n * C, b, C);
}
// One channel plane at a time: broadcast b[c] once, add it to HW contiguous floats.
MGF_AVX2 void bias_add_channels_avx2(float* y, const float* b, int64_t N, int64_t C, int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      float* p = y + (n * C + c) * HW;
      const __m256 bv = _mm256_set1_ps(b[c]);
      int64_t k = 0;
      for (; k + 8 <= HW; k += 8) _mm256_storeu_ps(p + k, _mm256_add_ps(_mm256_loadu_ps(p + k), bv));
      bias_add_channels_scalar(p + k, b + c, 1, 1, HW - k);
    }
}
#else
void bias_add_rows_avx2(float* y, const float* b, int64_t N, int64_t C) { bias_add_rows_scalar(y, b, N, C); }
void bias_add_channels_avx2(float* y, const float* b, int64_t N, int64_t C, int64_t HW) {
  bias_add_channels_scalar(y, b, N, C, HW);
}
#endif

void bias_add_rows(float* y, const float* b, int64_t N, int64_t C) {
  if (use_avx2()) return bias_add_rows_avx2(y, b, N, C);
  bias_add_rows_scalar(y, b, N, C);
}
void bias_add_channels(float* y, const float* b, int64_t N, int64_t C, int64_t HW) {
  if (use_avx2()) return bias_add_channels_avx2(y, b, N, C, HW);
  bias_add_channels_scalar(y, b, N, C, HW);
}

// ---- sums -----------------------------------------------------------------------------------
// The bias gradients: dL/db[c] = Σ over every position the bias was added to, of dy there.
// Both accumulate into `out` so a caller can sum over a batch one image at a time.
void sum_rows_scalar(const float* x, int64_t R, int64_t Cn, float* out) {
  for (int64_t r = 0; r < R; ++r) {
    float s = 0.0f;
    for (int64_t c = 0; c < Cn; ++c) s += x[r * Cn + c];
    out[r] += s;
  }
}
void sum_cols_scalar(const float* x, int64_t R, int64_t Cn, float* out) {
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < Cn; ++c) out[c] += x[r * Cn + c];
}

#if MGF_HAVE_X86
// Two independent vector accumulators per row (the add latency is 2–3 cycles), reduced
// horizontally once at the end; the tail is summed by the scalar code.
MGF_AVX2 void sum_rows_avx2(const float* x, int64_t R, int64_t Cn, float* out) {
  for (int64_t r = 0; r < R; ++r) {
    const float* p = x + r * Cn;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= Cn; c += 16) {
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + c));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + c + 8));
    }
    for (; c + 8 <= Cn; c += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + c));
    float tail = 0.0f;
    sum_rows_scalar(p + c, 1, Cn - c, &tail);
    out[r] += hsum8_avx2(_mm256_add_ps(s0, s1)) + tail;
  }
}
// out[c..c+7] += x[r][c..c+7] for every row: add_inplace per row.
MGF_AVX2 void sum_cols_avx2(const float* x, int64_t R, int64_t Cn, float* out) {
  for (int64_t r = 0; r < R; ++r) add_inplace_avx2(out, x + r * Cn, Cn);
}
#else
void sum_rows_avx2(const float* x, int64_t R, int64_t Cn, float* out) { sum_rows_scalar(x, R, Cn, out); }
void sum_cols_avx2(const float* x, int64_t R, int64_t Cn, float* out) { sum_cols_scalar(x, R, Cn, out); }
#endif

void sum_rows(const float* x, int64_t R, int64_t Cn, float* out) {
  if (use_avx2()) return sum_rows_avx2(x, R, Cn, out);
  sum_rows_scalar(x, R, Cn, out);
}
void sum_cols(const float* x, int64_t R, int64_t Cn, float* out) {
  if (use_avx2()) return sum_cols_avx2(x, R, Cn, out);
  sum_cols_scalar(x, R, Cn, out);
}

// ---- activations ------------------------------------------------------------------------------
// Each backward takes the forward INPUT x (not the output) and accumulates f'(x)·dy into dx.
// At the kinks (x = 0 for ReLU, 0 and 6 for ReLU6, ±3 for hard-swish) we take the derivative
// of the flat side, as PyTorch does; the tests check the derivative away from the kinks.
// g++ 12 at -O2 compiles these scalar loops to a compare and a branch per element, which
// mispredicts about half the time on random signs; the AVX2 side (vmaxps, or compare-and-mask)
// has no branch at all — part of its speed-up in `make bench` comes from that, not from width.
void relu_forward_scalar(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::max(0.0f, x[i]);  // (0 < x) ? x : 0, NaN → 0 like vmaxps
}
void relu_backward_scalar(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}
void relu6_forward_scalar(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(0.0f, x[i]), 6.0f);
}
void relu6_backward_scalar(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] += (x[i] > 0.0f && x[i] < 6.0f) ? dy[i] : 0.0f;
}
void hard_swish_forward_scalar(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * std::min(std::max(0.0f, x[i] + 3.0f), 6.0f) * (1.0f / 6.0f);
}
void hard_swish_backward_scalar(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] <= -3.0f ? 0.0f : x[i] >= 3.0f ? 1.0f : (2.0f * x[i] + 3.0f) * (1.0f / 6.0f);
    dx[i] += d * dy[i];
  }
}

#if MGF_HAVE_X86
// max(x, 0) is one vmaxps; the gradient mask is one compare ANDed with dy (the bits of 0.0f
// are all zero, so `mask & dy` is dy where the mask is set and +0 elsewhere).
MGF_AVX2 void relu_forward_avx2(const float* x, float* y, int64_t n) {
  const __m256 z = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_max_ps(_mm256_loadu_ps(x + i), z));
  relu_forward_scalar(x + i, y + i, n - i);
}
MGF_AVX2 void relu_backward_avx2(const float* x, const float* dy, float* dx, int64_t n) {
  const __m256 z = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(x + i), z, _CMP_GT_OQ);  // x > 0
    _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), _mm256_and_ps(on, _mm256_loadu_ps(dy + i))));
  }
  relu_backward_scalar(x + i, dy + i, dx + i, n - i);
}
MGF_AVX2 void relu6_forward_avx2(const float* x, float* y, int64_t n) {
  const __m256 z = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(x + i), z), six));
  relu6_forward_scalar(x + i, y + i, n - i);
}
MGF_AVX2 void relu6_backward_avx2(const float* x, const float* dy, float* dx, int64_t n) {
  const __m256 z = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256 on = _mm256_and_ps(_mm256_cmp_ps(xv, z, _CMP_GT_OQ), _mm256_cmp_ps(xv, six, _CMP_LT_OQ));
    _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), _mm256_and_ps(on, _mm256_loadu_ps(dy + i))));
  }
  relu6_backward_scalar(x + i, dy + i, dx + i, n - i);
}
MGF_AVX2 void hard_swish_forward_avx2(const float* x, float* y, int64_t n) {
  const __m256 z = _mm256_setzero_ps(), three = _mm256_set1_ps(3.0f), six = _mm256_set1_ps(6.0f),
               sixth = _mm256_set1_ps(1.0f / 6.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {  // y = x · min(max(x + 3, 0), 6) · (1/6), same rounding order as scalar
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256 r6 = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(xv, three), z), six);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(xv, r6), sixth));
  }
  hard_swish_forward_scalar(x + i, y + i, n - i);
}
MGF_AVX2 void hard_swish_backward_avx2(const float* x, const float* dy, float* dx, int64_t n) {
  const __m256 m3 = _mm256_set1_ps(-3.0f), p3 = _mm256_set1_ps(3.0f), two = _mm256_set1_ps(2.0f),
               one = _mm256_set1_ps(1.0f), sixth = _mm256_set1_ps(1.0f / 6.0f), z = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    // d = (2x + 3)/6 in the middle, then blended to 1 above 3 and to 0 at or below −3
    __m256 d = _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(two, xv), p3), sixth);
    d = _mm256_blendv_ps(d, one, _mm256_cmp_ps(xv, p3, _CMP_GE_OQ));
    d = _mm256_blendv_ps(d, z, _mm256_cmp_ps(xv, m3, _CMP_LE_OQ));
    _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), _mm256_mul_ps(d, _mm256_loadu_ps(dy + i))));
  }
  hard_swish_backward_scalar(x + i, dy + i, dx + i, n - i);
}
#else
void relu_forward_avx2(const float* x, float* y, int64_t n) { relu_forward_scalar(x, y, n); }
void relu_backward_avx2(const float* x, const float* dy, float* dx, int64_t n) { relu_backward_scalar(x, dy, dx, n); }
void relu6_forward_avx2(const float* x, float* y, int64_t n) { relu6_forward_scalar(x, y, n); }
void relu6_backward_avx2(const float* x, const float* dy, float* dx, int64_t n) {
  relu6_backward_scalar(x, dy, dx, n);
}
void hard_swish_forward_avx2(const float* x, float* y, int64_t n) { hard_swish_forward_scalar(x, y, n); }
void hard_swish_backward_avx2(const float* x, const float* dy, float* dx, int64_t n) {
  hard_swish_backward_scalar(x, dy, dx, n);
}
#endif

void relu_forward(const float* x, float* y, int64_t n) {
  if (use_avx2()) return relu_forward_avx2(x, y, n);
  relu_forward_scalar(x, y, n);
}
void relu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  if (use_avx2()) return relu_backward_avx2(x, dy, dx, n);
  relu_backward_scalar(x, dy, dx, n);
}
void relu6_forward(const float* x, float* y, int64_t n) {
  if (use_avx2()) return relu6_forward_avx2(x, y, n);
  relu6_forward_scalar(x, y, n);
}
void relu6_backward(const float* x, const float* dy, float* dx, int64_t n) {
  if (use_avx2()) return relu6_backward_avx2(x, dy, dx, n);
  relu6_backward_scalar(x, dy, dx, n);
}
void hard_swish_forward(const float* x, float* y, int64_t n) {
  if (use_avx2()) return hard_swish_forward_avx2(x, y, n);
  hard_swish_forward_scalar(x, y, n);
}
void hard_swish_backward(const float* x, const float* dy, float* dx, int64_t n) {
  if (use_avx2()) return hard_swish_backward_avx2(x, dy, dx, n);
  hard_swish_backward_scalar(x, dy, dx, n);
}

// ---- scale and shift per channel --------------------------------------------------------------
void scale_shift_channels_scalar(const float* x, const float* s, const float* t, float* y, int64_t N, int64_t C,
                                 int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float* xp = x + (n * C + c) * HW;
      float* yp = y + (n * C + c) * HW;
      for (int64_t k = 0; k < HW; ++k) yp[k] = xp[k] * s[c] + t[c];
    }
}

#if MGF_HAVE_X86
// HW >= 8: one FMA per vector of a channel plane. HW < 8 (a [N, C] matrix, HW = 1): the plane
// is too short to vectorise, so vectorise along C instead — s and t are then contiguous.
// The scalar line is x·s + t with two roundings; the FMA rounds once, so the sides agree to
// 1 ulp, not bit for bit.
MGF_AVX2 void scale_shift_channels_avx2(const float* x, const float* s, const float* t, float* y, int64_t N,
                                        int64_t C, int64_t HW) {
  if (HW == 1) {
    for (int64_t n = 0; n < N; ++n) {
      const float* xp = x + n * C;
      float* yp = y + n * C;
      int64_t c = 0;
      for (; c + 8 <= C; c += 8)
        _mm256_storeu_ps(yp + c, _mm256_fmadd_ps(_mm256_loadu_ps(xp + c), _mm256_loadu_ps(s + c), _mm256_loadu_ps(t + c)));
      for (; c < C; ++c) yp[c] = xp[c] * s[c] + t[c];
    }
    return;
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float* xp = x + (n * C + c) * HW;
      float* yp = y + (n * C + c) * HW;
      const __m256 sv = _mm256_set1_ps(s[c]), tv = _mm256_set1_ps(t[c]);
      int64_t k = 0;
      for (; k + 8 <= HW; k += 8) _mm256_storeu_ps(yp + k, _mm256_fmadd_ps(_mm256_loadu_ps(xp + k), sv, tv));
      scale_shift_channels_scalar(xp + k, s + c, t + c, yp + k, 1, 1, HW - k);
    }
}
#else
void scale_shift_channels_avx2(const float* x, const float* s, const float* t, float* y, int64_t N, int64_t C,
                               int64_t HW) {
  scale_shift_channels_scalar(x, s, t, y, N, C, HW);
}
#endif

void scale_shift_channels(const float* x, const float* s, const float* t, float* y, int64_t N, int64_t C,
                          int64_t HW) {
  if (use_avx2()) return scale_shift_channels_avx2(x, s, t, y, N, C, HW);
  scale_shift_channels_scalar(x, s, t, y, N, C, HW);
}

// ---- sgd_momentum_step --------------------------------------------------------------------
void sgd_momentum_step_scalar(float* w, float* v, const float* g, int64_t n, float eta, float mu, float lambda,
                              bool nesterov) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + lambda * w[i];
    v[i] = mu * v[i] + gi;
    w[i] -= eta * (nesterov ? gi + mu * v[i] : v[i]);
  }
}

#if MGF_HAVE_X86
MGF_AVX2 void sgd_momentum_step_avx2(float* w, float* v, const float* g, int64_t n, float eta, float mu,
                                     float lambda, bool nesterov) {
  const __m256 veta = _mm256_set1_ps(eta), vmu = _mm256_set1_ps(mu), vlam = _mm256_set1_ps(lambda);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 wi = _mm256_loadu_ps(w + i);
    // gi = g[i] + lambda * w[i]
    const __m256 gi = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(vlam, wi));
    // v[i] = mu * v[i] + gi
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(vmu, _mm256_loadu_ps(v + i)), gi);
    _mm256_storeu_ps(v + i, vi);
    // w[i] -= eta * (nesterov ? gi + mu * v[i] : v[i])
    const __m256 step = nesterov ? _mm256_add_ps(gi, _mm256_mul_ps(vmu, vi)) : vi;
    _mm256_storeu_ps(w + i, _mm256_sub_ps(wi, _mm256_mul_ps(veta, step)));
  }
  sgd_momentum_step_scalar(w + i, v + i, g + i, n - i, eta, mu, lambda, nesterov);  // the ragged tail
}
#else
void sgd_momentum_step_avx2(float* w, float* v, const float* g, int64_t n, float eta, float mu, float lambda,
                            bool nesterov) {
  sgd_momentum_step_scalar(w, v, g, n, eta, mu, lambda, nesterov);
}
#endif

void sgd_momentum_step(float* w, float* v, const float* g, int64_t n, float eta, float mu, float lambda,
                       bool nesterov) {
  if (use_avx2()) return sgd_momentum_step_avx2(w, v, g, n, eta, mu, lambda, nesterov);
  sgd_momentum_step_scalar(w, v, g, n, eta, mu, lambda, nesterov);
}

}  // namespace mgf
