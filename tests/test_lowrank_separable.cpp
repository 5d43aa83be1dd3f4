// tests/test_lowrank_separable.cpp — TEST_SUITE("lowrank_separable"): Jaderberg, Vedaldi,
// Zisserman 2014 scheme 2 (compression/lowrank/separable.h) and what it needs from the engine:
// non-square d×1 / 1×d kernels in im2col / col2im (scalar = AVX2), in conv2d (gradcheck, against
// a direct double reference) and in Conv2d; the factored layer equals the dense layer its
// factors reconstruct; filter reconstruction by SVD is optimal and ALS reaches it; data
// reconstruction lowers the output error below the filter solution's; the cost formulas, scheme
// 1's checked against the multiply-adds of the three convolutions it describes.
// Book: book/13-lowrank_separable.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "compression/lowrank/separable.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/cpu.h"
#include "engine/ops.h"
#include "engine/summary.h"
#include "layers/sequential.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::expect_all_close;
using mgf::testing::kAccumulate;
using mgf::testing::kExact;
using mgf::testing::random_tensor;

namespace {

// Direct convolution in double: the specification conv2d must meet for any KH × KW.
std::vector<float> conv_reference(const Tensor& x, const Tensor& w, const Tensor* b) {
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t N = w.dim(0), KH = w.dim(2), KW = w.dim(3), OH = H - KH + 1, OW = W - KW + 1;
  std::vector<float> y(static_cast<size_t>(B * N * OH * OW));
  for (int64_t i = 0; i < B; ++i)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? (*b)[n] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw)
                acc += static_cast<double>(w[((n * C + c) * KH + kh) * KW + kw]) *
                       x[((i * C + c) * H + oh + kh) * W + ow + kw];
          y[((i * N + n) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
  return y;
}

// The filters a separable layer stands for: W̃_n^c(y, x) = Σ_k h_n^k(x) v_k^c(y).
Tensor reconstruct(const SeparableConv& f) {
  Tensor w({f.N, f.C, f.d, f.d});
  const float* wv = f.vertical->weight.var.value().data();
  const float* wh = f.horizontal->weight.var.value().data();
  for (int64_t n = 0; n < f.N; ++n)
    for (int64_t c = 0; c < f.C; ++c)
      for (int64_t y = 0; y < f.d; ++y)
        for (int64_t x = 0; x < f.d; ++x) {
          double p = 0;
          for (int64_t k = 0; k < f.K; ++k) p += double(wh[(n * f.K + k) * f.d + x]) * wv[(k * f.C + c) * f.d + y];
          w[((n * f.C + c) * f.d + y) * f.d + x] = static_cast<float>(p);
        }
  return w;
}

std::shared_ptr<Conv2d> random_conv(int64_t c, int64_t n, int64_t d, uint64_t seed) {
  auto conv = std::make_shared<Conv2d>(c, n, d);
  conv->weight.var.value() = random_tensor({n, c, d, d}, seed, -0.5f, 0.5f);
  conv->bias->var.value() = random_tensor({n}, seed + 1, -0.1f, 0.1f);
  return conv;
}

}  // namespace

TEST_SUITE("lowrank_separable") {

TEST_CASE("im2col / col2im with d×1 and 1×d kernels: AVX2 equals scalar exactly on vector body and tail") {
  if (!cpu_has_avx2()) return;
  // Widths 1, 7, 8, 9, 31, 33 and 1027 put the output rows in and around the 8-float vector.
  for (int64_t w : {1, 7, 8, 9, 31, 33, 1027})
    for (const auto& khw : {std::pair<int64_t, int64_t>{5, 1}, {1, 5}, {3, 1}, {1, 3}, {2, 7}}) {
      const int64_t kh = khw.first, kw = khw.second;  // not a structured binding: CAPTURE's lambda needs a variable
      if (w < kw) continue;
      const ConvGeom g{3, 9, w + kw - 1, kh, kw, 1, 1, 0, 0};
      CAPTURE(w);
      CAPTURE(kh);
      CAPTURE(kw);
      const int64_t rows = g.C * g.KH * g.KW, cols = g.OH() * g.OW();
      const Tensor x = random_tensor({g.C * g.H * g.W}, 7);
      std::vector<float> a(static_cast<size_t>(rows * cols), -7.0f), b(static_cast<size_t>(rows * cols), 7.0f);
      im2col_scalar(g, x.data(), a.data());
      im2col_avx2(g, x.data(), b.data());
      expect_all_close(b, a, kExact, "im2col non-square");
      const Tensor col = random_tensor({rows * cols}, 8);
      std::vector<float> d1(static_cast<size_t>(g.C * g.H * g.W), 0.5f), d2 = d1;
      col2im_scalar(g, col.data(), d1.data());
      col2im_avx2(g, col.data(), d2.data());
      expect_all_close(d2, d1, kExact, "col2im non-square");
    }
}

TEST_CASE("conv2d with d×1 and 1×d weights equals a direct double reference, scalar and AVX2") {
  const Tensor x = random_tensor({2, 3, 7, 11}, 21);
  for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
    if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
    KernelModeGuard guard(mode);
    for (auto [kh, kw] : {std::pair<int64_t, int64_t>{5, 1}, {1, 5}, {3, 2}}) {
      const Tensor w = random_tensor({4, 3, kh, kw}, 22 + kh);
      const Tensor b = random_tensor({4}, 23);
      NoGradGuard ng;
      const Var y = conv2d(Var(x), Var(w), Var(b));
      CHECK(y.value().dim(2) == 7 - kh + 1);
      CHECK(y.value().dim(3) == 11 - kw + 1);
      expect_all_close(y.value().to_vector(), conv_reference(x, w, &b), kAccumulate, "conv2d non-square");
    }
  }
}

TEST_CASE("conv2d gradients by central differences with d×1 and 1×d kernels, scalar and AVX2") {
  for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
    if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
    KernelModeGuard guard(mode);
    for (auto [kh, kw] : {std::pair<int64_t, int64_t>{3, 1}, {1, 3}}) {
      Var x(random_tensor({2, 2, 5, 10}, 31), true);
      Var w(random_tensor({3, 2, kh, kw}, 32), true);
      Var b(random_tensor({3}, 33), true);
      CHECK(check_gradients([](const std::vector<Var>& v) { return conv2d(v[0], v[1], v[2]); }, {x, w, b}));
    }
  }
}

TEST_CASE("Conv2d takes a non-square kernel; the square constructor is unchanged") {
  Conv2d v(3, 4, 5, 1, Conv2dOptions{});
  CHECK(v.weight.var.value().shape() == Shape{4, 3, 5, 1});
  CHECK(v.kernel_h == 5);
  CHECK(v.kernel_w == 1);
  Conv2d s(3, 4, 5);
  CHECK(s.weight.var.value().shape() == Shape{4, 3, 5, 5});
  CHECK(s.kernel_h == 5);
  CHECK(s.kernel_w == 5);
  Var y = v.forward(Var(random_tensor({1, 3, 8, 8}, 3)));
  CHECK(y.value().shape() == Shape{1, 4, 4, 8});
  CHECK_THROWS_AS(Conv2d(3, 4, 0, 1, Conv2dOptions{}), std::invalid_argument);
}

TEST_CASE("scheme 2: the factored layer equals the dense layer its factors reconstruct (simulation = deployment)") {
  auto dense = random_conv(6, 8, 5, 41);
  const Tensor x = random_tensor({2, 6, 12, 13}, 42);
  for (int64_t k : {1, 3, 8}) {
    auto f = separable_from_filters(*dense, k);
    NoGradGuard ng;
    const Var fy = f->forward(Var(x));
    const Tensor w = reconstruct(*f);
    expect_all_close(fy.value().to_vector(), conv_reference(x, w, &dense->bias->var.value()), kAccumulate,
                     "vertical then horizontal vs the reconstructed dense conv");
  }
  // At K = min(C·d, N·d) the expansion is exact: the factored layer computes the original conv.
  auto full = separable_from_filters(*dense, 30);
  CHECK(separable_filter_error(*dense, *full) < 1e-5);
  NoGradGuard ng;
  expect_all_close(full->forward(Var(x)).value(), dense->forward(Var(x)).value(), kAccumulate, "full rank");
}

TEST_CASE("filter reconstruction: the SVD error falls with K and ALS reaches the SVD optimum") {
  auto dense = random_conv(5, 7, 3, 51);
  double prev = 1.0;
  for (int64_t k = 1; k <= 15; ++k) {
    const double e = separable_filter_error(*dense, *separable_from_filters(*dense, k));
    CHECK(e <= prev + 1e-7);
    prev = e;
  }
  for (int64_t k : {2, 5}) {
    const double es = separable_filter_error(*dense, *separable_from_filters(*dense, k, SeparableFit::svd));
    const double ea = separable_filter_error(*dense, *separable_from_filters(*dense, k, SeparableFit::als, 300));
    CHECK(ea >= es - 1e-5);        // nothing beats Eckart–Young
    CHECK(ea <= es * 1.01 + 1e-5);  // and ALS gets there
  }
  CHECK_THROWS_AS(separable_from_filters(*dense, 0), std::invalid_argument);
  CHECK_THROWS_AS(separable_from_filters(*dense, 16), std::invalid_argument);
  Conv2dOptions strided;
  strided.stride_h = strided.stride_w = 2;
  CHECK_THROWS_AS(separable_from_filters(Conv2d(5, 7, 3, strided), 2), std::invalid_argument);
}

TEST_CASE("data reconstruction lowers the output error below the filter reconstruction's at equal K") {
  // Inputs with strongly correlated channels (a few latent maps mixed): the output error the data
  // sees differs from the filter error, which is what data reconstruction exploits.
  auto dense = random_conv(6, 8, 5, 61);
  const int64_t n = 48;
  Tensor z({n, 6, 10, 10});
  const Tensor latent = random_tensor({n, 2, 10, 10}, 62);
  const Tensor mix = random_tensor({6, 2}, 63);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 6; ++c)
      for (int64_t p = 0; p < 100; ++p)
        z[(i * 6 + c) * 100 + p] = mix[c * 2] * latent[(i * 2) * 100 + p] + mix[c * 2 + 1] * latent[(i * 2 + 1) * 100 + p];
  auto out_err = [&](SeparableConv& f) {
    NoGradGuard ng;
    const Tensor a = dense->forward(Var(z)).value(), b = f.forward(Var(z)).value();
    double num = 0, den = 0;
    for (int64_t i = 0; i < a.numel(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += double(a[i]) * a[i];
    return std::sqrt(num / den);
  };
  auto f = separable_from_filters(*dense, 2);
  const double before = out_err(*f);
  const auto losses = separable_data_reconstruction(*f, *dense, z, 30, 16, 3e-3f, 64);
  const double after = out_err(*f);
  CHECK(losses.back() < losses.front());
  CHECK(after < 0.9 * before);
}

TEST_CASE("cost formulas: scheme 2 dK(C+N) vs d²CN, scheme 1 CM(2d+N), LeNet-5 conv2 speed-ups") {
  // LeNet-5 conv2: C = 20, N = 50, d = 5 (papers.md §10: 7.1× at K = 10, 3.6× at K = 20).
  CHECK(conv_macs_per_pixel(20, 50, 5) == 25000);
  CHECK(scheme2_macs_per_pixel(20, 50, 5, 10) == 3500);
  CHECK(scheme2_speedup(20, 50, 5, 10) == doctest::Approx(25000.0 / 3500.0));
  CHECK(scheme2_speedup(20, 50, 5, 10) == doctest::Approx(7.142857).epsilon(1e-6));
  CHECK(scheme2_speedup(20, 50, 5, 20) == doctest::Approx(3.571429).epsilon(1e-6));
  // Scheme 1: per input channel M separable basis filters (d + d MACs each), then N outputs
  // combining the C·M responses: C·M·(2d + N); the speed-up is d²N / (M(2d + N)), free of C.
  CHECK(scheme1_macs_per_pixel(20, 50, 5, 4) == 20 * 4 * 60);
  CHECK(scheme1_speedup(20, 50, 5, 4) == doctest::Approx(double(conv_macs_per_pixel(20, 50, 5)) /
                                                          double(scheme1_macs_per_pixel(20, 50, 5, 4))));
  CHECK(scheme1_speedup(7, 50, 5, 4) == doctest::Approx(scheme1_speedup(20, 50, 5, 4)));
  // The measured cost of the factored layer's multiply–adds matches the formula (valid conv:
  // the vertical pass runs over OH × W pixels, the horizontal over OH × OW).
  const int64_t H = 12, W = 12, d = 5, C = 20, N = 50, K = 10, OH = H - d + 1, OW = W - d + 1;
  const int64_t exact = d * C * K * OH * W + d * K * N * OH * OW;
  CHECK(exact > scheme2_macs_per_pixel(C, N, d, K) * OH * OW);   // the border costs extra
  CHECK(exact < scheme2_macs_per_pixel(C, N, d, K) * OH * OW * 13 / 10);
}

TEST_CASE("scheme 1's cost formula CM(2d+N) is the multiply-adds of the layers it describes, which compute its conv") {
  // Scheme 1 built from our convs ("same" padding, so every stage has H × W outputs and the
  // count per pixel is exact): a d×1 depthwise-style conv (groups = C, C → C·M: M vertical
  // basis filters per input channel), a 1×d depthwise conv (groups = C·M: each vertical
  // response gets its horizontal partner), a 1×1 conv C·M → N (each output combines them).
  const int64_t C = 3, N = 7, d = 5, M = 2, H = 9, W = 11, p = (d - 1) / 2;
  Conv2dOptions ov, oh, od;
  ov.groups = C;
  ov.pad_h = p;
  oh.groups = C * M;
  oh.pad_w = p;
  od.pad_h = od.pad_w = p;
  auto vert = std::make_shared<Conv2d>(C, C * M, d, 1, ov, false);
  auto horiz = std::make_shared<Conv2d>(C * M, C * M, 1, d, oh, false);
  auto comb = std::make_shared<Conv2d>(C * M, N, 1, Conv2dOptions{}, true);
  Sequential s1;
  s1.add("vertical", vert);
  s1.add("horizontal", horiz);
  s1.add("combine", comb);
  const Shape in{1, C, H, W};
  NoGradGuard ng;
  const Tensor x = random_tensor(in, 77);
  const Tensor y = s1.forward(Var(x)).value();
  REQUIRE(y.shape() == Shape{1, N, H, W});
  CHECK(layer_macs(s1, in, y.shape()) == scheme1_macs_per_pixel(C, N, d, M) * H * W);
  CHECK(scheme1_macs_per_pixel(C, N, d, M) == C * M * (2 * d + N));
  // And it is scheme 1: the dense filters W_n^c = Σ_m a[n, cM+m] · v_{c,m} h_{c,m}ᵀ, run as one
  // d×d conv, give the same outputs.
  const Tensor& v = vert->weight.var.value();    // [C·M, 1, d, 1]
  const Tensor& h = horiz->weight.var.value();   // [C·M, 1, 1, d]
  const Tensor& a = comb->weight.var.value();    // [N, C·M, 1, 1]
  Conv2d dense(C, N, d, od, true);
  Tensor& w = dense.weight.var.value();          // [N, C, d, d]
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t yy = 0; yy < d; ++yy)
        for (int64_t xx = 0; xx < d; ++xx) {
          double acc = 0;
          for (int64_t m = 0; m < M; ++m) acc += double(a[n * C * M + c * M + m]) * v[(c * M + m) * d + yy] * h[(c * M + m) * d + xx];
          w[((n * C + c) * d + yy) * d + xx] = static_cast<float>(acc);
        }
  dense.bias->var.value() = comb->bias->var.value().clone();
  expect_all_close(y, dense.forward(Var(x)).value(), kAccumulate, "scheme 1's three convs vs its dense filters");
  // The dense count d²CN per pixel, the speed-up's numerator.
  CHECK(layer_macs(dense, in, y.shape()) == conv_macs_per_pixel(C, N, d) * H * W);
}

}  // TEST_SUITE
