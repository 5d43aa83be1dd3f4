// engine/kernels/simd.h — the few AVX2 helpers several kernels share. Include it only inside
// `#if MGF_HAVE_X86`; every function carries MGF_AVX2 like the kernels that call it.
#pragma once
#include "engine/kernels/cpu.h"

#if MGF_HAVE_X86
#include <immintrin.h>

namespace mgf {

// Σ of the 8 lanes of v — the reduction at the end of a vectorised dot product or row sum.
// Scalar equivalent: v[0] + v[1] + ... + v[7], added as ((0+4)+(2+6)) + ((1+5)+(3+7)).
MGF_AVX2 inline float hsum8_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // 4 pairs
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                         // 2 pairs
  s = _mm_add_ss(s, _mm_movehdup_ps(s));                                          // 1
  return _mm_cvtss_f32(s);
}

}  // namespace mgf
#endif
