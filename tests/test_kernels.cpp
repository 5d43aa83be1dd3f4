// tests/test_kernels.cpp — TEST_SUITE("kernels"): every hot loop, scalar = AVX2, on sizes that
// hit the vector body and the ragged tails (1, 7, 8, 9, 31, 33, 1027), plus the math each
// kernel states on tiny cases with known answers. Book: book/02-kernels.md.
// Speed is never asserted here: `make bench` measures it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
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

// Bit-for-bit equality (so −0 and +0 differ); on failure names the first differing index.
bool bits_equal(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      FAIL_CHECK(what << ": first differing index " << i << " (" << a[i] << " vs " << b[i] << ")");
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
              // alpha = 1 takes the AVX2 path that reads A in place; other alphas pack alpha·A
              for (float alpha : {0.75f, 1.0f}) {
                CAPTURE(alpha);
                std::vector<float> ref;
                auto s = run_gemm(sgemm_scalar, ta, tb, M, N, K, alpha, 0.5f, 100 + M * 7 + N * 3 + K, &ref);
                CHECK(close(s, ref, 1e-5f, 1e-5f, "scalar vs double reference"));
                if (cpu_has_avx2()) {
                  auto v = run_gemm(sgemm_avx2, ta, tb, M, N, K, alpha, 0.5f, 100 + M * 7 + N * 3 + K);
                  CHECK(close(v, s, 1e-5f, 1e-5f, "avx2 vs scalar"));
                }
              }
            }
  }

  TEST_CASE("sgemm: the thin LeNet shapes and their edge kernels (balanced row slivers, 8-column and masked "
            "in-place column tails, K slices: one up to 384, or up to 512 when M <= 64) match scalar") {
    if (!cpu_has_avx2()) return;
    const Trans tt[] = {Trans::N, Trans::T};
    struct Dims {
      int64_t M, N, K;
    };
    // M·N·K as the layers call them (M = 20 and 50 as 5-row slivers, N = 10 and 100 with a column
    // tail of <= 8), K at the one-slice limits (384; 512 when M <= 64) and one past them, and a
    // long-row B that is packed.
    const Dims dims[] = {{64, 100, 300}, {64, 10, 100}, {20, 576, 25}, {50, 64, 500}, {20, 1100, 25},
                         {13, 1027, 384}, {64, 17, 385}, {7, 300, 1},   {11, 4, 8},    {64, 300, 784},
                         {64, 33, 513},   {65, 40, 385}};
    for (Trans ta : tt)
      for (Trans tb : tt)
        for (const Dims& d : dims)
          for (float alpha : {1.0f, -0.5f})
            for (float beta : {0.0f, 0.5f}) {
              CAPTURE(d.M);
              CAPTURE(d.N);
              CAPTURE(d.K);
              CAPTURE(alpha);
              CAPTURE(beta);
              CAPTURE(static_cast<int>(ta));
              CAPTURE(static_cast<int>(tb));
              auto s = run_gemm(sgemm_scalar, ta, tb, d.M, d.N, d.K, alpha, beta, 11);
              auto v = run_gemm(sgemm_avx2, ta, tb, d.M, d.N, d.K, alpha, beta, 11);
              CHECK(close(v, s, 1e-4f, 1e-4f, "avx2 vs scalar"));
            }
  }

  TEST_CASE("sgemm: 1027 in each dimension (blocking edges, K slices, thread split) matches scalar") {
    const Trans tt[] = {Trans::N, Trans::T};
    struct Dims {
      int64_t M, N, K;
    };
    const Dims dims[] = {{1027, 9, 17}, {9, 1027, 17}, {17, 9, 1027}, {150, 200, 300}, {2, 1027, 33}, {3, 33, 1027}, {70, 1100, 40}};
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

// ---- convolution: im2col / col2im / depthwise -------------------------------------------
namespace {

std::vector<ConvGeom> conv_geoms() {
  std::vector<ConvGeom> gs;
  for (int64_t hw : {1, 7, 8, 9, 31, 33})
    for (int64_t k : {1, 3, 5})
      for (int64_t s : {1, 2})
        for (int64_t p : {0, 1, 2}) {
          ConvGeom g{2, hw, hw + 2, k, k, s, s, p, p};
          if (g.H + 2 * p < k || g.W + 2 * p < k) continue;
          gs.push_back(g);
        }
  gs.push_back(ConvGeom{3, 4, 1027, 3, 3, 1, 1, 1, 1});  // a long row: vector body + tail
  gs.push_back(ConvGeom{1, 5, 1027, 3, 5, 1, 2, 0, 2});  // rectangular kernel, stride 2 in W
  return gs;
}

std::string geom_str(const ConvGeom& g) {
  return "C" + std::to_string(g.C) + " " + std::to_string(g.H) + "x" + std::to_string(g.W) + " k" +
         std::to_string(g.KH) + "x" + std::to_string(g.KW) + " s" + std::to_string(g.SW) + " p" + std::to_string(g.PW);
}

}  // namespace

TEST_SUITE("kernels") {
  TEST_CASE("im2col and col2im: AVX2 equals scalar exactly (pure data movement, same add order)") {
    if (!cpu_has_avx2()) return;
    for (const ConvGeom& g : conv_geoms()) {
      CAPTURE(geom_str(g));
      const int64_t rows = g.C * g.KH * g.KW, cols = g.OH() * g.OW();
      auto x = random_vec(g.C * g.H * g.W, 5);
      std::vector<float> a(rows * cols, -7.0f), b(rows * cols, 7.0f);
      im2col_scalar(g, x.data(), a.data());
      im2col_avx2(g, x.data(), b.data());
      CHECK(close(b, a, 0.0f, 0.0f, "im2col"));
      auto col = random_vec(rows * cols, 6);
      auto dx1 = random_vec(g.C * g.H * g.W, 8), dx2 = dx1;
      col2im_scalar(g, col.data(), dx1.data());
      col2im_avx2(g, col.data(), dx2.data());
      CHECK(close(dx2, dx1, 0.0f, 0.0f, "col2im"));
    }
  }

  TEST_CASE("col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)>") {
    for (const ConvGeom& g : conv_geoms()) {
      CAPTURE(geom_str(g));
      const int64_t rows = g.C * g.KH * g.KW, cols = g.OH() * g.OW();
      auto x = random_vec(g.C * g.H * g.W, 9);
      auto y = random_vec(rows * cols, 10);
      std::vector<float> cx(rows * cols), xy(g.C * g.H * g.W, 0.0f);
      im2col(g, x.data(), cx.data());
      col2im(g, y.data(), xy.data());
      double lhs = 0, rhs = 0, mag = 0;
      for (size_t i = 0; i < cx.size(); ++i) lhs += double(cx[i]) * y[i], mag += std::fabs(double(cx[i]) * y[i]);
      for (size_t i = 0; i < x.size(); ++i) rhs += double(x[i]) * xy[i];
      CHECK(std::fabs(lhs - rhs) <= 1e-5 * (mag + 1));
    }
  }

  TEST_CASE("convolution as im2col + sgemm equals the direct sum on a known 3x3 example") {
    // x = 1..9 in a 3×3 image, one 2×2 filter of ones, stride 1, no padding: each output is
    // the sum of a 2×2 window: 1+2+4+5 = 12, 16, 24, 28.
    ConvGeom g{1, 3, 3, 2, 2, 1, 1, 0, 0};
    std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 1, 1, 1}, col(4 * 4), y(4);
    im2col(g, x.data(), col.data());
    sgemm(Trans::N, Trans::N, 1, 4, 4, 1.0f, w.data(), 4, col.data(), 4, 0.0f, y.data(), 4);
    CHECK(y == std::vector<float>({12, 16, 24, 28}));
    // With padding 1 the corner output sees only x[0][0]: 1.
    ConvGeom gp{1, 3, 3, 2, 2, 1, 1, 1, 1};
    std::vector<float> colp(4 * 16), yp(16);
    im2col(gp, x.data(), colp.data());
    sgemm(Trans::N, Trans::N, 1, 16, 4, 1.0f, w.data(), 4, colp.data(), 16, 0.0f, yp.data(), 16);
    CHECK(yp[0] == 1.0f);
    CHECK(yp[5] == 12.0f);
  }

  TEST_CASE("depthwise: forward and backward, AVX2 equals scalar on ragged rows and strides") {
    if (!cpu_has_avx2()) return;
    for (const ConvGeom& g : conv_geoms()) {
      CAPTURE(geom_str(g));
      const int64_t n_in = g.C * g.H * g.W, n_out = g.C * g.OH() * g.OW(), n_w = g.C * g.KH * g.KW;
      auto x = random_vec(n_in, 11), w = random_vec(n_w, 12), b = random_vec(g.C, 13), dy = random_vec(n_out, 14);
      std::vector<float> y1(n_out), y2(n_out);
      depthwise_forward_scalar(g, x.data(), w.data(), b.data(), y1.data());
      depthwise_forward_avx2(g, x.data(), w.data(), b.data(), y2.data());
      CHECK(close(y2, y1, 1e-5f, 1e-5f, "depthwise forward"));
      auto dx1 = random_vec(n_in, 15), dx2 = dx1, dw1 = random_vec(n_w, 16), dw2 = dw1;
      depthwise_backward_scalar(g, x.data(), w.data(), dy.data(), dx1.data(), dw1.data());
      depthwise_backward_avx2(g, x.data(), w.data(), dy.data(), dx2.data(), dw2.data());
      CHECK(close(dx2, dx1, 1e-5f, 1e-5f, "depthwise dx"));
      CHECK(close(dw2, dw1, 1e-4f, 1e-4f, "depthwise dw"));
    }
  }

  TEST_CASE("depthwise backward is the exact derivative: accumulated dx, dw match central differences") {
    // y is linear in x and in w, so a central difference with h = 1 is exact up to rounding.
    for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
      if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
      KernelModeGuard guard(mode);
      ConvGeom g{2, 5, 9, 3, 3, 1, 1, 1, 1};
      const int64_t n_in = g.C * g.H * g.W, n_out = g.C * g.OH() * g.OW(), n_w = g.C * g.KH * g.KW;
      auto x = random_vec(n_in, 21), w = random_vec(n_w, 22), r = random_vec(n_out, 23);
      auto loss = [&](const std::vector<float>& xv, const std::vector<float>& wv) {
        std::vector<float> y(n_out);
        depthwise_forward(g, xv.data(), wv.data(), nullptr, y.data());
        double s = 0;
        for (int64_t i = 0; i < n_out; ++i) s += double(y[i]) * r[i];
        return s;
      };
      std::vector<float> dx(n_in, 1.0f), dw(n_w, 1.0f);  // start at 1: the kernel must ADD
      depthwise_backward(g, x.data(), w.data(), r.data(), dx.data(), dw.data());
      for (int64_t i = 0; i < n_in; ++i) {
        auto xp = x, xm = x;
        xp[i] += 1.0f;
        xm[i] -= 1.0f;
        REQUIRE(dx[i] - 1.0f == doctest::Approx((loss(xp, w) - loss(xm, w)) / 2).epsilon(1e-4));
      }
      for (int64_t i = 0; i < n_w; ++i) {
        auto wp = w, wm = w;
        wp[i] += 1.0f;
        wm[i] -= 1.0f;
        REQUIRE(dw[i] - 1.0f == doctest::Approx((loss(x, wp) - loss(x, wm)) / 2).epsilon(1e-4));
      }
    }
  }

  TEST_CASE("bad convolution geometry is rejected with every field named") {
    CHECK_NOTHROW(check_conv_geom(ConvGeom{1, 5, 5, 3, 3, 1, 1, 0, 0}));
    try {
      check_conv_geom(ConvGeom{1, 2, 2, 5, 5, 1, 1, 0, 0});
      FAIL("expected std::invalid_argument");
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      CHECK(m.find("kernel no larger") != std::string::npos);
      CHECK(m.find("KH=5") != std::string::npos);
    }
    CHECK_THROWS_AS(check_conv_geom(ConvGeom{1, 5, 5, 3, 3, 0, 1, 0, 0}), std::invalid_argument);
  }
}

// ---- elementwise, softmax, pooling ---------------------------------------------------------
#include "engine/kernels/pool.h"
#include "engine/kernels/softmax.h"

namespace {
// Values spread over [−8, 8] so every activation's branches (x < −3, 0 < x < 6, x > 6 ...) occur.
std::vector<float> spread_vec(int64_t n, uint64_t seed) { return random_vec(n, seed, -8.0f, 8.0f); }
}  // namespace

TEST_SUITE("kernels") {
  TEST_CASE("activations: AVX2 equals scalar exactly for ReLU, ReLU6, hard-swish forward and backward") {
    if (!cpu_has_avx2()) return;
    using Fwd = void (*)(const float*, float*, int64_t);
    using Bwd = void (*)(const float*, const float*, float*, int64_t);
    struct Act {
      const char* name;
      Fwd fs, fv;
      Bwd bs, bv;
    };
    const Act acts[] = {
        {"relu", relu_forward_scalar, relu_forward_avx2, relu_backward_scalar, relu_backward_avx2},
        {"relu6", relu6_forward_scalar, relu6_forward_avx2, relu6_backward_scalar, relu6_backward_avx2},
        {"hard_swish", hard_swish_forward_scalar, hard_swish_forward_avx2, hard_swish_backward_scalar,
         hard_swish_backward_avx2},
    };
    for (const Act& a : acts)
      for (int64_t n : kSizes) {
        CAPTURE(a.name);
        CAPTURE(n);
        auto x = spread_vec(n, 31 + n), dy = random_vec(n, 32);
        std::vector<float> y1(n), y2(n);
        a.fs(x.data(), y1.data(), n);
        a.fv(x.data(), y2.data(), n);
        CHECK(close(y2, y1, 0.0f, 0.0f, std::string(a.name) + " forward"));
        auto dx1 = random_vec(n, 33), dx2 = dx1;
        a.bs(x.data(), dy.data(), dx1.data(), n);
        a.bv(x.data(), dy.data(), dx2.data(), n);
        CHECK(close(dx2, dx1, 1e-6f, 1e-6f, std::string(a.name) + " backward"));
      }
  }

  TEST_CASE("activations: the derivatives match central differences away from the kinks") {
    // x = −5 (flat), −1.5 (hard-swish middle), 2 (linear), 7 (ReLU6 saturated); kinks at −3, 0, 3, 6.
    const std::vector<float> x = {-5.0f, -1.5f, 2.0f, 7.0f};
    const std::vector<float> ones(4, 1.0f);
    using Fwd = void (*)(const float*, float*, int64_t);
    using Bwd = void (*)(const float*, const float*, float*, int64_t);
    const std::pair<Fwd, Bwd> fs[] = {{relu_forward, relu_backward},
                                      {relu6_forward, relu6_backward},
                                      {hard_swish_forward, hard_swish_backward}};
    for (auto [f, b] : fs) {
      std::vector<float> dx(4, 0.0f);
      b(x.data(), ones.data(), dx.data(), 4);
      for (int i = 0; i < 4; ++i) {
        float xp = x[i] + 1e-2f, xm = x[i] - 1e-2f, yp, ym;
        f(&xp, &yp, 1);
        f(&xm, &ym, 1);
        CHECK(dx[i] == doctest::Approx((yp - ym) / 2e-2f).epsilon(1e-3));
      }
    }
    float hs[3] = {-4.0f, 0.0f, 4.0f}, out[3];
    hard_swish_forward(hs, out, 3);  // x·relu6(x+3)/6: 0, 0, 4
    CHECK(out[0] == 0.0f);
    CHECK(out[1] == 0.0f);
    CHECK(out[2] == 4.0f);
  }

  TEST_CASE("sgd_momentum_step: AVX2 equals scalar to one rounding, plain and Nesterov, and matches the formula") {
    for (int64_t n : kSizes)
      for (bool nesterov : {false, true}) {
        CAPTURE(n);
        CAPTURE(nesterov);
        auto w1 = random_vec(n, 60), v1 = random_vec(n, 61), g = random_vec(n, 62);
        auto w2 = w1, v2 = v1, w0 = w1, v0 = v1;
        sgd_momentum_step_scalar(w1.data(), v1.data(), g.data(), n, 0.1f, 0.9f, 5e-4f, nesterov);
        // the formula, written out for element 0
        const float g0 = g[0] + 5e-4f * w0[0], vv = 0.9f * v0[0] + g0;
        CHECK(v1[0] == vv);
        CHECK(w1[0] == w0[0] - 0.1f * (nesterov ? g0 + 0.9f * vv : vv));
        if (!cpu_has_avx2()) continue;
        sgd_momentum_step_avx2(w2.data(), v2.data(), g.data(), n, 0.1f, 0.9f, 5e-4f, nesterov);
        CHECK(close(w2, w1, 1e-6f, 1e-7f, "sgd_momentum_step w"));
        CHECK(close(v2, v1, 1e-6f, 1e-7f, "sgd_momentum_step v"));
      }
  }

  TEST_CASE("add, bias add, scale-shift and sums: AVX2 equals scalar; sums accumulate") {
    if (!cpu_has_avx2()) return;
    for (int64_t a : kSizes)
      for (int64_t b : {int64_t(1), int64_t(7), int64_t(9), int64_t(33)}) {
        CAPTURE(a);
        CAPTURE(b);
        const int64_t N = 3;
        auto bias = random_vec(a, 40), s = random_vec(a, 41), t = random_vec(a, 42);
        auto y1 = random_vec(N * a * b, 43), y2 = y1;
        bias_add_channels_scalar(y1.data(), bias.data(), N, a, b);
        bias_add_channels_avx2(y2.data(), bias.data(), N, a, b);
        CHECK(close(y2, y1, 0.0f, 0.0f, "bias_add_channels"));
        bias_add_rows_scalar(y1.data(), bias.data(), N * b, a);
        bias_add_rows_avx2(y2.data(), bias.data(), N * b, a);
        CHECK(close(y2, y1, 0.0f, 0.0f, "bias_add_rows"));
        auto x = random_vec(N * a * b, 44);
        std::vector<float> z1(x.size()), z2(x.size());
        scale_shift_channels_scalar(x.data(), s.data(), t.data(), z1.data(), N, a, b);
        scale_shift_channels_avx2(x.data(), s.data(), t.data(), z2.data(), N, a, b);
        CHECK(close(z2, z1, 1e-6f, 1e-6f, "scale_shift_channels"));
        std::vector<float> r1(N * a, 1.0f), r2 = r1, c1(b, 1.0f), c2 = c1;
        sum_rows_scalar(x.data(), N * a, b, r1.data());
        sum_rows_avx2(x.data(), N * a, b, r2.data());
        CHECK(close(r2, r1, 1e-5f, 1e-5f, "sum_rows"));
        sum_cols_scalar(x.data(), N * a, b, c1.data());
        sum_cols_avx2(x.data(), N * a, b, c2.data());
        CHECK(close(c2, c1, 1e-5f, 1e-5f, "sum_cols"));
      }
    for (int64_t n : kSizes) {  // add_inplace, the kernel the bias and column sums are built on
      CAPTURE(n);
      auto x = random_vec(n, 45), y1 = random_vec(n, 46), y2 = y1;
      add_inplace_scalar(y1.data(), x.data(), n);
      add_inplace_avx2(y2.data(), x.data(), n);
      CHECK(close(y2, y1, 0.0f, 0.0f, "add_inplace"));
    }
    // accumulate: out starts at 10, rows {1,2,3} and {4,5,6}
    const float m[6] = {1, 2, 3, 4, 5, 6};
    float rows[2] = {10, 10}, cols[3] = {10, 10, 10};
    sum_rows(m, 2, 3, rows);
    sum_cols(m, 2, 3, cols);
    CHECK(rows[0] == 16.0f);
    CHECK(rows[1] == 25.0f);
    CHECK(cols[2] == 19.0f);
  }

  TEST_CASE("softmax and log-softmax rows: AVX2 agrees with scalar, rows sum to 1, backward matches") {
    for (int64_t C : kSizes) {
      CAPTURE(C);
      const int64_t R = 3;
      auto x = random_vec(R * C, 50 + C, -30.0f, 30.0f), dy = random_vec(R * C, 51);
      std::vector<float> p1(R * C), l1(R * C);
      softmax_rows_scalar(x.data(), p1.data(), R, C);
      log_softmax_rows_scalar(x.data(), l1.data(), R, C);
      for (int64_t r = 0; r < R; ++r) {
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += p1[r * C + c];
        CHECK(s == doctest::Approx(1.0).epsilon(1e-5));
      }
      auto d1 = random_vec(R * C, 52), e1 = d1;
      softmax_rows_backward_scalar(p1.data(), dy.data(), d1.data(), R, C);
      log_softmax_rows_backward_scalar(l1.data(), dy.data(), e1.data(), R, C);
      if (!cpu_has_avx2()) continue;
      std::vector<float> p2(R * C), l2(R * C);
      softmax_rows_avx2(x.data(), p2.data(), R, C);
      log_softmax_rows_avx2(x.data(), l2.data(), R, C);
      CHECK(close(p2, p1, 1e-5f, 1e-7f, "softmax"));
      CHECK(close(l2, l1, 1e-5f, 1e-5f, "log_softmax"));
      auto d2 = random_vec(R * C, 52), e2 = d2;
      softmax_rows_backward_avx2(p1.data(), dy.data(), d2.data(), R, C);
      log_softmax_rows_backward_avx2(l1.data(), dy.data(), e2.data(), R, C);
      CHECK(close(d2, d1, 1e-5f, 1e-5f, "softmax backward"));
      CHECK(close(e2, e1, 1e-5f, 1e-5f, "log_softmax backward"));
    }
  }

  TEST_CASE("softmax backward is the derivative of softmax (central differences)") {
    for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
      if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
      KernelModeGuard guard(mode);
      const int64_t C = 11;
      auto x = random_vec(C, 60, -2.0f, 2.0f), r = random_vec(C, 61);
      auto loss = [&](const std::vector<float>& v, bool log) {
        std::vector<float> y(C);
        if (log) log_softmax_rows(v.data(), y.data(), 1, C);
        else softmax_rows(v.data(), y.data(), 1, C);
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += double(y[c]) * r[c];
        return s;
      };
      for (bool log : {false, true}) {
        std::vector<float> y(C), dx(C, 0.0f);
        if (log) {
          log_softmax_rows(x.data(), y.data(), 1, C);
          log_softmax_rows_backward(y.data(), r.data(), dx.data(), 1, C);
        } else {
          softmax_rows(x.data(), y.data(), 1, C);
          softmax_rows_backward(y.data(), r.data(), dx.data(), 1, C);
        }
        for (int64_t i = 0; i < C; ++i) {
          auto xp = x, xm = x;
          xp[i] += 1e-2f;
          xm[i] -= 1e-2f;
          CHECK(dx[i] == doctest::Approx((loss(xp, log) - loss(xm, log)) / 2e-2).epsilon(2e-3));
        }
      }
    }
  }

  TEST_CASE("max-pool records the first maximum; AVX2 values and indices equal scalar exactly") {
    ConvGeom g{1, 2, 4, 2, 2, 2, 2, 0, 0};  // 2×4 image, 2×2 windows, stride 2
    const float x[8] = {1, 5, 3, 3, 2, 0, 3, 1};
    float y[2];
    int32_t arg[2];
    max_pool2d_forward(g, x, y, arg);
    CHECK(y[0] == 5.0f);
    CHECK(arg[0] == 1);
    CHECK(y[1] == 3.0f);
    CHECK(arg[1] == 2);  // three 3s: the first in window order wins
    if (!cpu_has_avx2()) return;
    for (const ConvGeom& cg : conv_geoms()) {
      if (cg.PH >= cg.KH || cg.PW >= cg.KW) continue;
      CAPTURE(geom_str(cg));
      const int64_t n_in = cg.C * cg.H * cg.W, n_out = cg.C * cg.OH() * cg.OW();
      auto xi = random_vec(n_in, 70);
      for (int64_t i = 0; i < n_in; i += 5) xi[i] = 0.5f;  // ties
      std::vector<float> y1(n_out), y2(n_out);
      std::vector<int32_t> a1(n_out), a2(n_out);
      max_pool2d_forward_scalar(cg, xi.data(), y1.data(), a1.data());
      max_pool2d_forward_avx2(cg, xi.data(), y2.data(), a2.data());
      CHECK(close(y2, y1, 0.0f, 0.0f, "max_pool values"));
      CHECK(a2 == a1);
      auto dy = random_vec(n_out, 71);
      auto dx1 = random_vec(n_in, 72), dx2 = dx1;
      max_pool2d_backward_scalar(cg, dy.data(), a1.data(), dx1.data());
      max_pool2d_backward_avx2(cg, dy.data(), a1.data(), dx2.data());
      CHECK(close(dx2, dx1, 0.0f, 0.0f, "max_pool backward"));
      std::vector<float> v1(n_out), v2(n_out);
      avg_pool2d_forward_scalar(cg, xi.data(), v1.data());
      avg_pool2d_forward_avx2(cg, xi.data(), v2.data());
      CHECK(close(v2, v1, 0.0f, 0.0f, "avg_pool forward"));
      auto ex1 = random_vec(n_in, 73), ex2 = ex1;
      avg_pool2d_backward_scalar(cg, dy.data(), ex1.data());
      avg_pool2d_backward_avx2(cg, dy.data(), ex2.data());
      CHECK(close(ex2, ex1, 1e-5f, 1e-6f, "avg_pool backward"));
    }
  }

  TEST_CASE("max-pool 2x2 stride 2 (the LeNet window, its own AVX2 path): values and indices equal scalar exactly") {
    if (!cpu_has_avx2()) return;
    for (int64_t h : {2, 3, 8, 24})
      for (int64_t w : {2, 7, 8, 9, 24, 31, 33, 1027}) {
        const ConvGeom cg{3, h, w, 2, 2, 2, 2, 0, 0};
        CAPTURE(geom_str(cg));
        const int64_t n_in = cg.C * h * w, n_out = cg.C * cg.OH() * cg.OW();
        auto xi = random_vec(n_in, 74);
        for (int64_t i = 0; i < n_in; i += 3) xi[i] = 0.25f;  // ties, in every tap position
        std::vector<float> y1(n_out), y2(n_out);
        std::vector<int32_t> a1(n_out), a2(n_out);
        max_pool2d_forward_scalar(cg, xi.data(), y1.data(), a1.data());
        max_pool2d_forward_avx2(cg, xi.data(), y2.data(), a2.data());
        CHECK(close(y2, y1, 0.0f, 0.0f, "max_pool 2x2 values"));
        CHECK(a2 == a1);
        auto dy = random_vec(n_out, 75);
        auto dx1 = random_vec(n_in, 76), dx2 = dx1;
        max_pool2d_backward_scalar(cg, dy.data(), a1.data(), dx1.data());
        max_pool2d_backward_avx2(cg, dy.data(), a1.data(), dx2.data());
        CHECK(bits_equal(dx2, dx1, "max_pool 2x2 backward"));
      }
  }

  TEST_CASE("max-pool backward on non-overlapping windows (tiling, gaps, padding; the AVX2 side's 2x2/2 input "
            "loop and its scalar fallback): bit-for-bit the scalar scatter-add, -0 kept") {
    if (!cpu_has_avx2()) return;
    int cases = 0;
    for (int64_t kh : {1, 2, 3})
      for (int64_t kw : {1, 2, 3})
        for (int64_t extra : {0, 1})  // stride = window (tiling) or window + 1 (gaps no window covers)
          for (int64_t p : {0, 1})
            for (int64_t h : {3, 8, 9})
              for (int64_t w : {3, 7, 8, 9, 31, 33, 1027}) {
                const ConvGeom cg{2, h, w, kh, kw, kh + extra, kw + extra, std::min(p, kh - 1), std::min(p, kw - 1)};
                if (cg.H + 2 * cg.PH < kh || cg.W + 2 * cg.PW < kw) continue;
                CAPTURE(geom_str(cg));
                const int64_t n_in = cg.C * h * w, n_out = cg.C * cg.OH() * cg.OW();
                auto xi = random_vec(n_in, 77);
                for (int64_t i = 0; i < n_in; i += 4) xi[i] = 0.5f;  // ties
                std::vector<float> y(n_out);
                std::vector<int32_t> arg(n_out);
                max_pool2d_forward_scalar(cg, xi.data(), y.data(), arg.data());
                auto dy = random_vec(n_out, 78);
                auto dx1 = random_vec(n_in, 79);
                for (int64_t i = 0; i < n_in; i += 3) dx1[i] = -0.0f;  // kept −0 where no gradient lands
                auto dx2 = dx1;
                max_pool2d_backward_scalar(cg, dy.data(), arg.data(), dx1.data());
                max_pool2d_backward_avx2(cg, dy.data(), arg.data(), dx2.data());
                CHECK(bits_equal(dx2, dx1, "max_pool backward"));
                ++cases;
              }
    CHECK(cases > 500);
  }

  TEST_CASE("avg-pool backward is the adjoint of avg-pool forward; padding as large as the window is rejected") {
    ConvGeom g{2, 7, 9, 3, 3, 2, 1, 1, 1};
    const int64_t n_in = g.C * g.H * g.W, n_out = g.C * g.OH() * g.OW();
    auto x = random_vec(n_in, 80), r = random_vec(n_out, 81);
    std::vector<float> y(n_out), dx(n_in, 0.0f);
    avg_pool2d_forward(g, x.data(), y.data());
    avg_pool2d_backward(g, r.data(), dx.data());
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < n_out; ++i) lhs += double(y[i]) * r[i];
    for (int64_t i = 0; i < n_in; ++i) rhs += double(x[i]) * dx[i];
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
    ConvGeom bad{1, 4, 4, 2, 2, 1, 1, 2, 2};
    std::vector<float> yb(bad.OH() * bad.OW());
    std::vector<int32_t> ab(yb.size());
    CHECK_THROWS_AS(max_pool2d_forward(bad, x.data(), yb.data(), ab.data()), std::invalid_argument);
  }
}

// ---- the GEMM ladder of the book -------------------------------------------------------------
#include "engine/kernels/gemm_ladder.h"

TEST_SUITE("kernels") {
  TEST_CASE("every step of the GEMM ladder computes the same product as the naive loop") {
    using Step = void (*)(int64_t, int64_t, int64_t, const float*, const float*, float*);
    const Step steps[] = {gemm_ladder_loop_order, gemm_ladder_blocked, gemm_ladder_packed};
    for (int64_t M : {1, 7, 33, 100})
      for (int64_t N : {1, 9, 31, 300})
        for (int64_t K : {1, 8, 257}) {
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          auto A = random_vec(M * K, 90), B = random_vec(K * N, 91);
          std::vector<float> ref(M * N), C(M * N, -1.0f);
          gemm_ladder_naive(M, N, K, A.data(), B.data(), ref.data());
          for (Step s : steps) {
            std::fill(C.begin(), C.end(), -1.0f);
            s(M, N, K, A.data(), B.data(), C.data());
            CHECK(close(C, ref, 1e-4f, 1e-4f, "ladder step"));
          }
        }
  }
  TEST_CASE("the plain packed AVX2 rung of the ladder equals the plain packed C++ rung") {
    // Same packing, same 6×16 tile, same summation order per element: only FMA rounding differs.
    // Sizes cross the tile (6, 16), the M block (96) and the K slice (256) with ragged tails.
    for (int64_t M : {1, 5, 6, 7, 97, 193})
      for (int64_t N : {1, 15, 16, 17, 33})
        for (int64_t K : {1, 7, 256, 300}) {
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          auto A = random_vec(M * K, 92), B = random_vec(K * N, 93);
          std::vector<float> ref(M * N, -1.0f), C(M * N, -1.0f);
          gemm_ladder_packed(M, N, K, A.data(), B.data(), ref.data());
          gemm_ladder_packed_avx2(M, N, K, A.data(), B.data(), C.data());
          CHECK(close(C, ref, 1e-4f, 1e-5f, "packed AVX2 rung"));
        }
  }
}
