// tests/test_xnorpp.cpp — TEST_SUITE("xnorpp"): XNOR-Net++ (Bulat & Tzimiropoulos 2019), the learned
// scale Γ in its four shapes: gradients of every factor by central differences, the materialised Γ
// equals the product of the factors, equal binary cost. Book: book/24-xnorpp.md.
#include <doctest/doctest.h>

#include <string>

#include "compression/quantization/xnor.h"
#include "layers/models/binary_lenet5.h"
#include "compression/quantization/xnorpp.h"
#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

TEST_SUITE("xnorpp") {
  TEST_CASE("the four shapes of Gamma: o, o x h x w, o (x) hw, o (x) h (x) w; fully connected is alpha in R^o") {
    CHECK(gamma_parameter_count(1, 50, 8, 8) == 50);
    CHECK(gamma_parameter_count(2, 50, 8, 8) == 50 * 64);
    CHECK(gamma_parameter_count(3, 50, 8, 8) == 50 + 64);
    CHECK(gamma_parameter_count(4, 50, 8, 8) == 50 + 8 + 8);
    for (int c = 1; c <= 4; ++c) CHECK(gamma_parameter_count(c, 500, 0, 0) == 500);
    CHECK_THROWS_AS(gamma_factors(5, 4, 2, 2), std::invalid_argument);
  }

  TEST_CASE("every Gamma factor's gradient checks by central differences (y (.) Gamma is linear in each)") {
    const int64_t O = 3, OH = 2, OW = 4;
    for (int c = 1; c <= 4; ++c) {
      CAPTURE(c);
      std::vector<Var> in{Var(random_tensor({2, O, OH, OW}, 1), true)};
      uint64_t seed = 10;
      for (const GammaFactor& f : gamma_factors(c, O, OH, OW)) in.push_back(Var(random_tensor(f.shape, seed++, 0.5f, 1.5f), true));
      CHECK(check_gradients([](const std::vector<Var>& v) {
        return apply_gamma(v[0], std::vector<Var>(v.begin() + 1, v.end()));
      }, in));
    }
  }

  TEST_CASE("Gamma learned through the binary conv: gradient of alpha, beta, gamma by central differences") {
    // the XNOR-Net++ layer: (sign(I) ⊛ sign(W)) ⊙ Γ; I and W fixed, Γ checked (case 4)
    BinaryConvOptions o;
    o.binarize_input = true;
    o.pad = 1;
    Var x(random_tensor({2, 2, 3, 4}, 3));
    Var w(random_tensor({3, 2, 3, 3}, 4));
    std::vector<Var> g;
    uint64_t seed = 20;
    for (const GammaFactor& f : gamma_factors(4, 3, 3, 4)) g.push_back(Var(random_tensor(f.shape, seed++, 0.5f, 1.5f), true));
    CHECK(check_gradients([&](const std::vector<Var>& v) { return apply_gamma(binary_conv2d(x, bwn_weights(w, false), o), v); }, g));
  }

  TEST_CASE("the materialised Gamma equals the product of the factors, in every case") {
    const int64_t O = 3, OH = 2, OW = 3;
    Tensor y = Tensor::ones({1, O, OH, OW});
    for (int c = 1; c <= 4; ++c) {
      CAPTURE(c);
      std::vector<Tensor> f;
      std::vector<Var> fv;
      uint64_t seed = 30;
      for (const GammaFactor& gf : gamma_factors(c, O, OH, OW)) {
        f.push_back(random_tensor(gf.shape, seed++, 0.5f, 1.5f));
        fv.push_back(Var(f.back()));
      }
      Tensor ref = apply_gamma(Var(y), fv).value();  // Γ = 1 ⊙ Γ
      Tensor G = gamma_full(c, f, O, OH, OW);
      for (int64_t i = 0; i < G.numel(); ++i) CHECK(G[i] == doctest::Approx(ref[i]));
    }
  }

  TEST_CASE("Gamma starts at XNOR-Net's analytic alpha, spatial factors at 1") {
    Tensor w({2, 2}, {1.0f, -3.0f, 0.5f, 0.5f});
    auto init = gamma_init(4, w.reshape({2, 2, 1, 1}), 2, 2);
    REQUIRE(init.size() == 3);
    CHECK(init[0][0] == doctest::Approx(2.0));
    CHECK(init[0][1] == doctest::Approx(0.5));
    CHECK(init[1][0] == 1.0f);
    CHECK(init[2][1] == 1.0f);
  }

  TEST_CASE("XNOR-Net++ models of every case have the same binary layers (equal binary cost)") {
    int64_t bytes = -1;
    for (int c = 1; c <= 4; ++c) {
      BinaryNetConfig cfg;
      cfg.mode = BinaryMode::xnorpp;
      cfg.gamma_case = c;
      cfg.c1 = 4, cfg.c2 = 6, cfg.fc = 16;
      BinaryLeNet5 m(cfg);
      const int64_t packed = m.deployed_weight_bytes() - 4 * (gamma_parameter_count(c, 6, 8, 8) + 16);
      if (bytes >= 0) CHECK(packed == bytes);
      bytes = packed;
      m.eval();
      NoGradGuard ng;
      CHECK(m(Var(random_tensor({2, 1, 28, 28}, 5))).shape() == Shape{2, 10});
    }
  }
}
