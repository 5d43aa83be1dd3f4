// tests/support/compare.h — the one way the tests compare floating-point arrays, and the named
// error budgets they compare against (STYLE.md rules 5 and 12).
//
// A budget is a Tol{atol, rtol}, always in that order: element i passes when
//   |a[i] − b[i]| <= atol + rtol·|b[i]|        (b is the reference; NaN never passes)
// expect_all_close() checks every element, and on failure reports through doctest the first bad
// index (with both values) and the largest difference, then returns false. The arithmetic is in
// float, as the kernels' outputs are. Integer and bit paths compare with kExact.
// Header-only, so the Makefile needs no rule for it. Deliberately not here: gradient checks
// (tests/gradcheck.h), ULP distances.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mgf::testing {

struct Tol {
  float atol = 0.0f;  // absolute part of the budget
  float rtol = 0.0f;  // relative part, times |reference|
};

// The budgets, from strictest to loosest. A test that needs another names it beside its use.
constexpr Tol kExact{0.0f, 0.0f};           // copies, integer/bit kernels, thread splits that do not reassociate
constexpr Tol kElementwise{1e-6f, 1e-6f};   // one multiply-add per element: FMA vs separate mul and add
constexpr Tol kKernelParity{1e-5f, 1e-5f};  // scalar vs AVX2 dot products: a sum reassociated over 8 lanes
constexpr Tol kDecode{1e-5f, 1e-4f};        // a decoded/compressed layer vs its float reference
constexpr Tol kAccumulate{1e-4f, 1e-4f};    // long reductions: GEMM at large K, conv vs a double reference

inline bool expect_all_close(const float* a, const float* b, int64_t n, Tol tol, const std::string& what) {
  int64_t first = -1;
  float worst = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float d = std::fabs(a[i] - b[i]);
    const bool bad = !(d <= tol.atol + tol.rtol * std::fabs(b[i]));  // written so that NaN is bad
    if (bad && first < 0) first = i;
    if (d > worst || std::isnan(d)) worst = d;
  }
  // One doctest assertion per comparison, pass or fail; the message is built only on failure.
  CHECK_MESSAGE(first < 0, what << ": first bad index " << first << " of " << n << " (" << a[first < 0 ? 0 : first]
                                << " vs " << b[first < 0 ? 0 : first] << "), largest |a-b| = " << worst
                                << ", budget atol " << tol.atol << " + rtol " << tol.rtol);
  return first < 0;
}

inline bool expect_all_close(const std::vector<float>& a, const std::vector<float>& b, Tol tol, const std::string& what) {
  if (a.size() != b.size()) {
    FAIL_CHECK(what << ": sizes differ, " << a.size() << " vs " << b.size());
    return false;
  }
  return expect_all_close(a.data(), b.data(), static_cast<int64_t>(a.size()), tol, what);
}

inline bool expect_all_close(const Tensor& a, const Tensor& b, Tol tol, const std::string& what) {
  if (a.shape() != b.shape()) {
    FAIL_CHECK(what << ": shapes differ, " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
    return false;
  }
  return expect_all_close(a.data(), b.data(), a.numel(), tol, what);
}

}  // namespace mgf::testing
