// tests/test_mobilenet_v2.cpp — TEST_SUITE("mobilenet_v2"): MobileNetV2 (Sandler et al. 2018).
// The inverted residual's shapes (expand to t·k, depthwise stride s, project to k'), when the
// shortcut exists, that it adds the input, its Mult-Adds against Table 1's formula, its
// gradients (linear and ReLU6 bottleneck, both shortcut placements), and the engine's peak
// activation memory measurement on cases with known answers. Book: book/07-mobilenet_v2.md.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"
#include "engine/ops.h"
#include "engine/summary.h"
#include "layers/activation.h"
#include "layers/mobile_blocks.h"
#include "layers/models/mobilenet.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

TEST_SUITE("mobilenet_v2") {
  TEST_CASE("inverted residual shapes: expand to t*k, depthwise with stride s, project to k'; shortcut iff s = 1 and k = k'") {
    NoGradGuard ng;
    for (int64_t t : {1, 3, 6}) {
      for (int64_t s : {1, 2}) {
        for (int64_t out : {8, 12}) {
          CAPTURE(t);
          CAPTURE(s);
          CAPTURE(out);
          InvertedResidual b(8, out, {t, s, true, Shortcut::bottleneck});
          CHECK(b.has_residual() == (s == 1 && out == 8));
          CHECK((b.expand == nullptr) == (t == 1));
          if (b.expand) CHECK(b.expand->weight.var.value().shape() == Shape{8 * t, 8, 1, 1});
          CHECK(b.depthwise->weight.var.value().shape() == Shape{8 * t, 1, 3, 3});
          CHECK(b.project->weight.var.value().shape() == Shape{out, 8 * t, 1, 1});
          Var y = b.forward(Var(random_tensor({2, 8, 7, 9}, 1)));
          CHECK(y.shape() == Shape{2, out, s == 1 ? 7 : 4, s == 1 ? 9 : 5});
        }
      }
    }
    // shortcut between expansions: t·k in, t·k' out
    InvertedResidual e(8, 8, {6, 1, true, Shortcut::expansion});
    CHECK(e.has_residual());
    CHECK(e.forward(Var(random_tensor({1, 48, 5, 5}, 2))).shape() == Shape{1, 48, 5, 5});
    CHECK_FALSE(InvertedResidual(8, 8, {6, 1, true, Shortcut::none}).has_residual());
  }

  TEST_CASE("the shortcut adds the input: with the projection's BN at gamma = beta = 0 the block is the identity") {
    InvertedResidual b(6, 6, {4, 1, true, Shortcut::bottleneck});
    b.bn_project->weight.var.value().fill(0.0f);
    b.bn_project->bias.var.value().fill(0.0f);
    Tensor x = random_tensor({2, 6, 5, 5}, 3);
    Tensor y = b.forward(Var(x)).value();
    for (int64_t i = 0; i < x.numel(); ++i) CHECK(y[i] == x[i]);
    // the ReLU6 bottleneck ablation clamps what the projection adds, not the sum
    InvertedResidual r(6, 6, {4, 1, false, Shortcut::bottleneck});
    r.bn_project->bias.var.value().fill(10.0f);
    r.bn_project->weight.var.value().fill(0.0f);
    Tensor yr = r.forward(Var(x)).value();
    for (int64_t i = 0; i < x.numel(); ++i) CHECK(yr[i] == doctest::Approx(x[i] + 6.0f));
  }

  TEST_CASE("Mult-Adds of a stride-1 block equal Table 1's h*w*d'*t*(d' + k^2 + d'')") {
    for (int64_t t : {1, 6}) {
      const int64_t h = 7, w = 9, d1 = 8, d2 = 12, k = 3;
      InvertedResidual b(d1, d2, {t, 1, true, Shortcut::bottleneck});
      const int64_t table1 = h * w * d1 * t * (t == 1 ? 0 : d1) + h * w * d1 * t * (k * k + d2);  // t = 1: no expansion conv
      CHECK(summarize(b, {1, d1, h, w}, 1).macs == table1);
    }
    // stride 2: the expansion runs at the input size, depthwise and projection at the output size
    InvertedResidual s2(8, 16, {6, 2, true, Shortcut::bottleneck});
    CHECK(summarize(s2, {1, 8, 8, 8}, 1).macs == 64 * 8 * 48 + 16 * 48 * (9 + 16));
  }

  TEST_CASE("InvertedResidual gradients check by central differences: linear and ReLU6 bottleneck, both shortcuts") {
    struct Case {
      InvertedResidualOptions o;
      int64_t in_c;
    };
    for (const Case& c : {Case{{2, 1, true, Shortcut::bottleneck}, 3}, Case{{2, 1, false, Shortcut::bottleneck}, 3},
                          Case{{2, 2, true, Shortcut::bottleneck}, 3}, Case{{2, 1, true, Shortcut::expansion}, 6}}) {
      CAPTURE(c.o.linear_bottleneck);
      CAPTURE(c.o.stride);
      InvertedResidual b(3, 3, c.o);
      b.eval();   // BN with running statistics: an affine map, smooth in the input
      // β = 3 puts every ReLU6 input well inside (0, 6), away from both kinks, so central
      // differences see a smooth function (the kinks are tested by relu6's own checks)
      // and γ = 0.1 keeps them there whatever the initial weights (|pre-BN| < 30)
      for (auto* bn : {b.bn_expand.get(), b.bn_dw.get(), b.bn_project.get()})
        if (bn) {
          bn->bias.var.value().fill(3.0f);
          bn->weight.var.value().fill(0.1f);
        }
      Var x(random_tensor({1, c.in_c, 4, 5}, 41), true);
      CHECK(check_gradients([&](const std::vector<Var>& v) { return b.forward(v[0]); }, {x}));
      CHECK(check_gradients([&](const std::vector<Var>&) { return b.forward(x); },
                            {b.depthwise->weight.var, b.project->weight.var}));
    }
  }

  TEST_CASE("peak activation memory: a chain of ReLUs holds two tensors at a time, a residual keeps its input alive") {
    auto chain = std::make_shared<Sequential>();
    for (int i = 0; i < 4; ++i) chain->add(std::make_shared<ReLU>());
    const int64_t one = 1 * 3 * 8 * 8 * 4;   // bytes of one [1, 3, 8, 8] tensor
    CHECK(peak_activation_bytes(*chain, {1, 3, 8, 8}) == 2 * one);
    // the block's live set grows with the expansion t: the expanded tensors dominate
    int64_t prev = 0;
    for (int64_t t : {1, 2, 4}) {
      InvertedResidual b(4, 4, {t, 1, true, Shortcut::bottleneck});
      const int64_t peak = peak_activation_bytes(b, {1, 4, 6, 6});
      CHECK(peak >= t * 4 * 36 * 4);   // at least one expanded tensor
      CHECK(peak > prev);
      prev = peak;
    }
    CHECK(tensor_bytes_live() >= 0);
  }

  TEST_CASE("memory-efficient inference (§5.1): the block in pieces gives the same outputs and holds less at the peak") {
    for (bool linear : {true, false}) {
      for (int64_t s : {1, 2}) {
        CAPTURE(linear);
        CAPTURE(s);
        InvertedResidual b(6, s == 1 ? 6 : 8, {4, s, linear, Shortcut::bottleneck});
        // non-trivial running statistics and affine parameters, so every BN term matters
        for (auto* bn : {b.bn_expand.get(), b.bn_dw.get(), b.bn_project.get()}) {
          bn->running_mean = random_tensor(bn->running_mean.shape(), 7, -0.5f, 0.5f);
          bn->running_var = random_tensor(bn->running_var.shape(), 8, 0.5f, 2.0f);
          Tensor g = random_tensor(bn->weight.var.value().shape(), 9, 0.5f, 1.5f);
          Tensor be = random_tensor(bn->bias.var.value().shape(), 10, -0.5f, 0.5f);
          for (int64_t i = 0; i < g.numel(); ++i) {
            bn->weight.var.value()[i] = g[i];
            bn->bias.var.value()[i] = be[i];
          }
        }
        b.eval();
        NoGradGuard ng;
        Tensor x = random_tensor({2, 6, 9, 7}, 11, -3.0f, 3.0f);
        Tensor whole = b.forward(Var(x)).value();
        const int64_t peak_whole = peak_activation_bytes(b, {1, 6, 9, 7});
        for (int64_t n : {2, 3, 24}) {
          CAPTURE(n);
          b.inference_pieces = n;
          Tensor split = b.forward(Var(x)).value();
          REQUIRE(split.shape() == whole.shape());
          for (int64_t i = 0; i < whole.numel(); ++i) CHECK(split[i] == doctest::Approx(whole[i]).epsilon(1e-5));
          CHECK(peak_activation_bytes(b, {1, 6, 9, 7}) < peak_whole);
        }
        b.inference_pieces = 1;
      }
    }
  }

  TEST_CASE("the mini-MobileNetV2 runs at 28x28 for every ablation and its MACs grow with t") {
    NoGradGuard ng;
    int64_t prev = 0;
    for (int64_t t : {1, 3, 6}) {
      MobileNetV2Options o;
      o.t = t;
      auto net = make_mobilenet_v2(o);
      CHECK(net->forward(Var(random_tensor({2, 1, 28, 28}, 5))).shape() == Shape{2, 10});
      const int64_t macs = summarize(*net, {1, 1, 28, 28}, 1).macs;
      CHECK(macs > prev);
      prev = macs;
    }
    MobileNetV2Options e;
    e.shortcut = Shortcut::expansion;
    CHECK(make_mobilenet_v2(e)->forward(Var(random_tensor({1, 1, 28, 28}, 6))).shape() == Shape{1, 10});
    try {
      InvertedResidual(4, 4, {0, 1, true, Shortcut::bottleneck});
      FAIL("no exception");
    } catch (const std::invalid_argument& err) {
      CHECK(std::string(err.what()).find("found 0") != std::string::npos);
    }
  }

  TEST_CASE("experiment 8: the whole net in t pieces (§5.1) gives the plain outputs; only then is its peak below the V1 net's") {
    auto v2 = make_mobilenet_v2();   // t = 6
    {
      NoGradGuard ng;   // a few train-mode batches give every BN non-trivial running statistics
      for (uint64_t seed : {21, 22}) v2->forward(Var(random_tensor({8, 1, 28, 28}, seed, 0.0f, 1.0f)));
    }
    v2->eval();
    NoGradGuard ng;
    const Tensor x = random_tensor({3, 1, 28, 28}, 23, 0.0f, 1.0f);
    const Tensor plain = v2->forward(Var(x)).value();
    const int64_t peak_plain = peak_activation_bytes(*v2, {1, 1, 28, 28});
    set_inference_pieces(*v2, 6);
    const Tensor split = v2->forward(Var(x)).value();
    const int64_t peak_split = peak_activation_bytes(*v2, {1, 1, 28, 28});
    REQUIRE(split.shape() == plain.shape());
    for (int64_t i = 0; i < plain.numel(); ++i) CHECK(split[i] == doctest::Approx(plain[i]).epsilon(1e-4).scale(1.0));
    auto v1 = make_mobilenet_v1(1.0, true);
    v1->eval();
    const int64_t peak_v1 = peak_activation_bytes(*v1, {1, 1, 28, 28});
    CAPTURE(peak_plain);
    CAPTURE(peak_split);
    CAPTURE(peak_v1);
    CHECK(peak_split < peak_v1);   // the paper's claim (its Table 3 assumes the split)
    CHECK(peak_plain > peak_v1);   // materialising every wide tensor loses it
    set_inference_pieces(*v2, 1);
    CHECK(peak_activation_bytes(*v2, {1, 1, 28, 28}) == peak_plain);
  }
}
