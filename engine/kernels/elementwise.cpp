// engine/kernels/elementwise.cpp — see elementwise.h.
#include "engine/kernels/elementwise.h"

#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>
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

}  // namespace mgf
