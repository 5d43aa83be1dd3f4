// tests/test_kernels.cpp — TEST_SUITE("kernels"): every hot loop, scalar = AVX2, on sizes that
// hit the vector body and the ragged tails (1, 7, 8, 9, 31, 33, 1027), plus the math each
// kernel states on tiny cases with known answers. Book: book/02-kernels.md.
// Speed is never asserted here: `make bench` measures it.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "engine/kernels/conv.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/elementwise.h"
#include "engine/kernels/gemm.h"
#include "engine/rng.h"
#include "engine/threads.h"

using namespace mgf;

namespace {

const int64_t kSizes[] = {1, 7, 8, 9, 31, 33, 1027};

std::vector<float> random_vec(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.uniform(lo, hi);
  return v;
}

// |a − b| <= atol + rtol·|b| everywhere; on failure names the first bad index and the largest
// difference (STYLE.md rule 5).
bool close(const std::vector<float>& a, const std::vector<float>& b, float rtol = 1e-5f, float atol = 1e-5f,
           const std::string& what = "") {
  if (a.size() != b.size()) {
    FAIL_CHECK(what << ": sizes differ " << a.size() << " vs " << b.size());
    return false;
  }
  int64_t first = -1;
  float worst = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    const bool bad = !(d <= atol + rtol * std::fabs(b[i]));  // NaN counts as bad
    if (bad && first < 0) first = static_cast<int64_t>(i);
    if (d > worst || std::isnan(d)) worst = d;
  }
  if (first >= 0) {
    FAIL_CHECK(what << ": first bad index " << first << " (" << a[first] << " vs " << b[first]
                    << "), largest |a-b| = " << worst);
    return false;
  }
  return true;
}

// op(A)·op(B) in double, the reference every sgemm is checked against.
std::vector<float> gemm_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha,
                            const std::vector<float>& A, int64_t lda, const std::vector<float>& B, int64_t ldb,
                            float beta, std::vector<float> C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < K; ++p) {
        const double a = ta == Trans::N ? A[i * lda + p] : A[p * lda + i];
        const double b = tb == Trans::N ? B[p * ldb + j] : B[j * ldb + p];
        s += a * b;
      }
      C[i * ldc + j] = static_cast<float>(alpha * s + (beta == 0.0f ? 0.0 : beta * C[i * ldc + j]));
    }
  return C;
}

using GemmFn = void (*)(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                        int64_t, float, float*, int64_t);

// Runs fn on one problem with padded leading dimensions; returns C.
std::vector<float> run_gemm(GemmFn fn, Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                            uint64_t seed, std::vector<float>* ref = nullptr) {
  const int64_t lda = (ta == Trans::N ? K : M) + 3, ldb = (tb == Trans::N ? N : K) + 5, ldc = N + 2;
  auto A = random_vec((ta == Trans::N ? M : K) * lda, seed);
  auto B = random_vec((tb == Trans::N ? K : N) * ldb, seed + 1);
  auto C = random_vec(M * ldc, seed + 2);
  if (ref) *ref = gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  fn(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  return C;
}

}  // namespace

TEST_SUITE("kernels") {
  TEST_CASE("sgemm: scalar and AVX2 both equal alpha*op(A)*op(B) + beta*C in all four transposes") {
    const Trans tt[] = {Trans::N, Trans::T};
    const int64_t small[] = {1, 7, 8, 9, 31, 33};
    for (Trans ta : tt)
      for (Trans tb : tt)
        for (int64_t M : small)
          for (int64_t N : small)
            for (int64_t K : {int64_t(1), int64_t(9), int64_t(33)}) {
              CAPTURE(M);
              CAPTURE(N);
              CAPTURE(K);
              CAPTURE(static_cast<int>(ta));
              CAPTURE(static_cast<int>(tb));
              std::vector<float> ref;
              auto s = run_gemm(sgemm_scalar, ta, tb, M, N, K, 0.75f, 0.5f, 100 + M * 7 + N * 3 + K, &ref);
              CHECK(close(s, ref, 1e-5f, 1e-5f, "scalar vs double reference"));
              if (cpu_has_avx2()) {
                auto v = run_gemm(sgemm_avx2, ta, tb, M, N, K, 0.75f, 0.5f, 100 + M * 7 + N * 3 + K);
                CHECK(close(v, s, 1e-5f, 1e-5f, "avx2 vs scalar"));
              }
            }
  }

  TEST_CASE("sgemm: 1027 in each dimension (blocking edges, K slices, thread split) matches scalar") {
    const Trans tt[] = {Trans::N, Trans::T};
    struct Dims {
      int64_t M, N, K;
    };
    const Dims dims[] = {{1027, 9, 17}, {9, 1027, 17}, {17, 9, 1027}, {150, 200, 300}, {2, 1027, 33}, {3, 33, 1027}};
    for (Trans ta : tt)
      for (Trans tb : tt)
        for (const Dims& d : dims) {
          CAPTURE(d.M);
          CAPTURE(d.N);
          CAPTURE(d.K);
          std::vector<float> ref;
          auto s = run_gemm(sgemm_scalar, ta, tb, d.M, d.N, d.K, 1.0f, 0.0f, 7, &ref);
          CHECK(close(s, ref, 1e-4f, 1e-4f, "scalar vs double reference"));
          if (cpu_has_avx2()) {
            auto v = run_gemm(sgemm_avx2, ta, tb, d.M, d.N, d.K, 1.0f, 0.0f, 7);
            CHECK(close(v, s, 1e-4f, 1e-4f, "avx2 vs scalar"));
          }
        }
  }

  TEST_CASE("sgemm: beta = 0 never reads C (NaN in C does not leak), alpha = 0 or K = 0 scales C") {
    for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
      if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
      KernelModeGuard g(mode);
      const int64_t M = 13, N = 21, K = 5;
      auto A = random_vec(M * K, 1), B = random_vec(K * N, 2);
      std::vector<float> C(M * N, std::numeric_limits<float>::quiet_NaN());
      sgemm(Trans::N, Trans::N, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
      for (float c : C) REQUIRE(std::isfinite(c));
      std::vector<float> D(M * N, 2.0f);
      sgemm(Trans::N, Trans::N, M, N, K, 0.0f, A.data(), K, B.data(), N, 3.0f, D.data(), N);
      for (float d : D) CHECK(d == 6.0f);
      sgemm(Trans::N, Trans::N, M, N, 0, 1.0f, A.data(), K, B.data(), N, 0.5f, D.data(), N);
      for (float d : D) CHECK(d == 3.0f);
    }
  }

  TEST_CASE("sgemm: the result does not depend on the thread count (same sums, same order)") {
    if (!cpu_has_avx2()) return;
    const int64_t M = 200, N = 300, K = 130;
    const int saved = num_threads();
    set_num_threads(1);
    auto one = run_gemm(sgemm_avx2, Trans::N, Trans::T, M, N, K, 1.0f, 0.0f, 3);
    auto tall = run_gemm(sgemm_avx2, Trans::N, Trans::T, 700, 40, K, 1.0f, 0.0f, 4);
    set_num_threads(2);
    auto two = run_gemm(sgemm_avx2, Trans::N, Trans::T, M, N, K, 1.0f, 0.0f, 3);
    auto tall2 = run_gemm(sgemm_avx2, Trans::N, Trans::T, 700, 40, K, 1.0f, 0.0f, 4);
    set_num_threads(saved);
    CHECK(close(two, one, 0.0f, 0.0f, "2 threads vs 1, split along N"));
    CHECK(close(tall2, tall, 0.0f, 0.0f, "2 threads vs 1, split along M"));
  }
}
