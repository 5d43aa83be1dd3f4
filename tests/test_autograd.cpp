// tests/test_autograd.cpp — TEST_SUITE("autograd"): the graph walk and every op's gradient.
// Book: book/01-autograd.md.
//
// Every differentiable op in engine/ops.h is checked here against central differences on
// every element of every input (tests/gradcheck.h). Kinks are kept away from: inputs are
// nudged at least 0.1 away from ReLU's 0, ReLU6's 0 and 6, hard-swish's ±3, and max-pool
// inputs are a shuffled ramp so no two values in a window are within 2h of each other.
// Forward values are checked against closed forms or a naive reference where one exists:
// a gradient check only proves the backward matches the forward, not that the forward is right.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>

#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::expect_all_close;
using mgf::testing::kAccumulate;
using mgf::testing::check_gradients;
using mgf::testing::GradCheckOptions;
using mgf::testing::random_tensor;

namespace {

using Fn = std::function<Var(const std::vector<Var>&)>;

// Moves every value that lies within `margin` of a kink to kink ± margin.
Tensor avoid(Tensor t, std::initializer_list<float> kinks, float margin = 0.1f) {
  for (int64_t i = 0; i < t.numel(); ++i)
    for (float k : kinks)
      if (std::fabs(t[i] - k) < margin) t[i] = k + (t[i] >= k ? margin : -margin);
  return t;
}

// Distinct values 0.05 apart in shuffled order: no near-ties anywhere (max-pool).
Tensor shuffled_ramp(Shape s, uint64_t seed) {
  Tensor t(std::move(s));
  std::vector<int64_t> idx(static_cast<size_t>(t.numel()));
  std::iota(idx.begin(), idx.end(), 0);
  Rng r(seed);
  r.shuffle(idx);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = 0.05f * static_cast<float>(idx[static_cast<size_t>(i)]) - 1.0f;
  return t;
}

// Runs f expecting std::invalid_argument whose message contains every string in `needles`.
template <class F>
void check_message(F f, std::initializer_list<std::string> needles) {
  try {
    f();
    FAIL_CHECK("expected std::invalid_argument");
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    for (const auto& s : needles) {
      CAPTURE(m);
      CHECK(m.find(s) != std::string::npos);
    }
  }
}

// Direct 7-loop convolution: the definition, to check conv2d's forward against.
Tensor conv_reference(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dOptions& o) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), OC = w.dim(0), KH = w.dim(2),
                KW = w.dim(3), G = o.groups, Cg = C / G, OCg = OC / G;
  const int64_t OH = (H + 2 * o.pad_h - KH) / o.stride_h + 1, OW = (W + 2 * o.pad_w - KW) / o.stride_w + 1;
  Tensor y({N, OC, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double s = b ? (*b)[oc] : 0.0f;
          const int64_t g = oc / OCg;
          for (int64_t ci = 0; ci < Cg; ++ci)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * o.stride_h - o.pad_h + kh, iw = ow * o.stride_w - o.pad_w + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += static_cast<double>(w[((oc * Cg + ci) * KH + kh) * KW + kw]) *
                     x[((n * C + g * Cg + ci) * H + ih) * W + iw];
              }
          y[((n * OC + oc) * OH + oh) * OW + ow] = static_cast<float>(s);
        }
  return y;
}


}  // namespace

TEST_SUITE("autograd") {
  // ---- the graph ---------------------------------------------------------------------
  TEST_CASE("a Var used twice receives the sum of both paths") {
    Var x(Tensor({3}, {1.0f, 2.0f, 3.0f}), true);
    Var y = sum(mul(x, x) + x);  // dy/dx = 2x + 1
    y.backward();
    CHECK(x.grad()[0] == doctest::Approx(3.0));
    CHECK(x.grad()[2] == doctest::Approx(7.0));
  }

  TEST_CASE("NoGradGuard records nothing") {
    Var x(Tensor({2}, {1.0f, 2.0f}), true);
    Var y;
    {
      NoGradGuard ng;
      y = add(x, x);
    }
    CHECK_FALSE(y.requires_grad());
    CHECK_THROWS_AS(y.backward(), std::invalid_argument);
  }

  TEST_CASE("the graph is freed when the loss goes out of scope (no reference cycles)") {
    Var w(random_tensor({4, 3}, 5), true);  // [out, in]: 3 channels → 4 classes
    std::weak_ptr<Node> hidden;
    {
      Var x(random_tensor({2, 3, 4, 4}, 6));
      Var h = relu(conv2d(x, Var(random_tensor({3, 3, 3, 3}, 7), true), Var()));
      hidden = h.node();
      Var loss = cross_entropy(linear(flatten(global_avg_pool(h)), w, Var()), {0, 2});
      loss.backward();
    }
    CHECK(hidden.expired());
    CHECK_FALSE(w.grad().empty());  // the leaf keeps its gradient
  }

  // A deliberately wrong backward (sign flipped) must be caught by the checker: this case
  // is expected to FAIL its CHECK — doctest counts it as passed only if it does.
  TEST_CASE("Tensor::uninit has the shape; ops that write into it never show stale memory") {
    const Tensor u = Tensor::uninit({2, 3, 4});
    CHECK(u.shape() == Shape{2, 3, 4});
    CHECK(u.numel() == 24);
    CHECK_THROWS_AS(Tensor::uninit({1, 2, 3, 4, 5}), std::invalid_argument);
    // Leave NaN behind in freed blocks of the sizes the outputs below take, so a skipped
    // write would surface as NaN (the allocator hands the same blocks back).
    for (int64_t n : {2 * 4 * 6 * 6, 2 * 4 * 3 * 3, 5 * 6, 2 * 3 * 8 * 8}) Tensor(Shape{n}, NAN);
    const Var x(mgf::testing::random_tensor({2, 3, 8, 8}, 71));
    const Var w(mgf::testing::random_tensor({4, 3, 3, 3}, 72)), b(mgf::testing::random_tensor({4}, 73));
    const Tensor y = max_pool2d(relu(conv2d(x, w, b)), 2, 2).value();
    const Tensor z = linear(Var(mgf::testing::random_tensor({5, 7}, 74)), Var(mgf::testing::random_tensor({6, 7}, 75)),
                            Var()).value();
    bool finite = true;
    for (const Tensor* t : {&y, &z})
      for (int64_t i = 0; i < t->numel(); ++i) finite = finite && std::isfinite((*t)[i]);
    CHECK(finite);
  }

  TEST_CASE("matmul and linear write a fresh gradient (beta = 0) and add to one already there") {
    // a is both operands of one matmul, and x, w feed two linears: the second contribution
    // to each gradient must add to the first, not overwrite it.
    const Var a(mgf::testing::random_tensor({4, 4}, 81), true);
    CHECK(mgf::testing::check_gradients([](const std::vector<Var>& v) { return sum(matmul(v[0], v[0], false, true)); },
                                        {a}));
    const Var x(mgf::testing::random_tensor({3, 5}, 82), true), w(mgf::testing::random_tensor({2, 5}, 83), true);
    CHECK(mgf::testing::check_gradients(
        [](const std::vector<Var>& v) { return sum(mul(linear(v[0], v[1], Var()), linear(v[0], v[1], Var()))); },
        {x, w}));
  }

  TEST_CASE("check_gradients rejects a backward with a flipped sign") {
    auto broken_square = [](const Var& a) {  // y = a², but "dy/da = −2a"
      Tensor y = a.value().clone();
      for (int64_t i = 0; i < y.numel(); ++i) y[i] *= y[i];
      return make_result("broken_square", std::move(y), {a}, [an = a.node()](Node& self) {
        float* da = grad_buffer(*an).data();
        for (int64_t i = 0; i < self.grad.numel(); ++i) da[i] -= 2.0f * an->value[i] * self.grad[i];
      });
    };
    Var a(random_tensor({5}, 99, 0.5f, 1.5f), true);
    mgf::testing::GradCheckOptions quiet;
    quiet.report = false;  // the verdict only: a mismatch here is the expected outcome
    CHECK_FALSE(check_gradients([&](const std::vector<Var>& v) { return broken_square(v[0]); }, {a}, quiet));
    // and the same op with the right sign passes, so the verdict is about the sign alone
    auto square = [](const Var& x) { return mul(x, x); };
    CHECK(check_gradients([&](const std::vector<Var>& v) { return square(v[0]); }, {a}));
  }

  // ---- arithmetic and linear algebra --------------------------------------------------------
  TEST_CASE("add broadcasts a bias and a per-channel scale; gradients check") {
    Var a(random_tensor({2, 3, 2, 2}, 1), true);
    Var c(random_tensor({3, 1, 1}, 2), true);
    Var bias(random_tensor({2}, 3), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return add(v[0], v[1]); }, {a, c}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return add(v[0], v[1]); }, {a, bias}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return sub(v[0], v[1]); }, {a, c}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return mul(v[0], v[1]); }, {a, c}));
    Var pos(random_tensor({3, 1, 1}, 4, 0.5f, 2.0f), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return div(v[0], v[1]); }, {a, pos}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return scale(neg(add_scalar(v[0], 2.0f)), 3.0f); }, {a}));
  }

  TEST_CASE("bad broadcast names the op and both shapes") {
    Var a(Tensor({2, 3}), false), b(Tensor({2}), false);
    check_message([&] { add(a, b); }, {"add", "[2, 3]", "[2]"});
  }

  TEST_CASE("matmul in all four transpose variants; gradients check") {
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        CAPTURE(ta);
        CAPTURE(tb);
        Var a(random_tensor(ta ? Shape{4, 3} : Shape{3, 4}, 10), true);
        Var b(random_tensor(tb ? Shape{5, 4} : Shape{4, 5}, 11), true);
        CHECK(check_gradients([&](const std::vector<Var>& v) { return matmul(v[0], v[1], ta, tb); }, {a, b}));
      }
  }

  TEST_CASE("linear = x·Wᵀ + b and transpose; gradients check; bad shapes named") {
    Var x(random_tensor({3, 4}, 12), true), w(random_tensor({2, 4}, 13), true), b(random_tensor({2}, 14), true);
    Var y = linear(x, w, b);
    CHECK(y.value()[0] == doctest::Approx(x.value()[0] * w.value()[0] + x.value()[1] * w.value()[1] +
                                          x.value()[2] * w.value()[2] + x.value()[3] * w.value()[3] + b.value()[0]));
    CHECK(check_gradients([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); }, {x, w, b}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return transpose(v[0]); }, {x}));
    check_message([&] { linear(x, Var(Tensor({2, 5})), b); }, {"linear", "[3, 4]", "[2, 5]"});
    check_message([&] { matmul(x, x); }, {"matmul", "[3, 4]"});
  }

  // ---- reductions and shapes ----------------------------------------------------------------
  TEST_CASE("sum and mean, over everything and along each axis; gradients check") {
    Var a(random_tensor({2, 3, 4}, 20), true);
    Var s1 = sum(a, 1);
    CHECK(s1.shape() == Shape{2, 4});
    CHECK(s1.value()[0] == doctest::Approx(a.value()[0] + a.value()[4] + a.value()[8]));
    CHECK(mean(a, -1, true).shape() == Shape{2, 3, 1});
    CHECK(mean(a).value().item() == doctest::Approx(sum(a).value().item() / 24.0f));
    CHECK(check_gradients([](const std::vector<Var>& v) { return sum(v[0]); }, {a}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return mean(v[0]); }, {a}));
    for (int axis = -3; axis < 3; ++axis) {
      CAPTURE(axis);
      CHECK(check_gradients([axis](const std::vector<Var>& v) { return sum(v[0], axis); }, {a}));
      CHECK(check_gradients([axis](const std::vector<Var>& v) { return mean(v[0], axis, true); }, {a}));
    }
    check_message([&] { sum(a, 3); }, {"sum", "3", "[2, 3, 4]"});
  }

  TEST_CASE("reshape, flatten, concat and split along channels; gradients check") {
    Var a(random_tensor({2, 3, 2, 2}, 21), true), b(random_tensor({2, 1, 2, 2}, 22), true);
    CHECK(flatten(a).shape() == Shape{2, 12});
    CHECK(reshape(a, {6, -1}).shape() == Shape{6, 4});
    CHECK(check_gradients([](const std::vector<Var>& v) { return reshape(v[0], {4, 6}); }, {a}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return flatten(v[0]); }, {a}));
    Var c = concat_channels({a, b});
    CHECK(c.shape() == Shape{2, 4, 2, 2});
    CHECK(c.value()[12] == b.value()[0]);   // image 0, channel 3 = b's channel 0
    CHECK(c.value()[16] == a.value()[12]);  // image 1, channel 0 = a's image 1, channel 0
    CHECK(c.value()[31] == b.value()[7]);   // last value of image 1 = b's last
    CHECK(check_gradients([](const std::vector<Var>& v) { return concat_channels({v[0], v[1], v[0]}); }, {a, b}));
    // split undoes concat, and its pieces' gradients land in the right slices
    auto parts = split_channels(c, {3, 1});
    CHECK(parts[1].value().to_vector() == b.value().to_vector());
    CHECK(check_gradients(
        [](const std::vector<Var>& v) {
          auto p = split_channels(v[0], {1, 2});
          return add(mul(p[1], p[1]), concat_channels({p[0], p[0]}));  // uses both pieces
        },
        {a}));
    Var a2(random_tensor({3, 5}, 23), true);  // 2-D works too
    CHECK(check_gradients([](const std::vector<Var>& v) { return split_channels(v[0], {2, 3})[1]; }, {a2}));
    check_message([&] { concat_channels({a, Var(Tensor({2, 1, 3, 2}))}); }, {"concat_channels", "[2, 3, 2, 2]", "[2, 1, 3, 2]"});
    check_message([&] { split_channels(a, {1, 1}); }, {"split_channels", "[2, 3, 2, 2]"});
    check_message([&] { reshape(a, {5, 5}); }, {"reshape", "[2, 3, 2, 2]", "[5, 5]"});
  }

  TEST_CASE("channel shuffle with g groups moves channel (i_g, i_n) to i_n·g + i_g") {
    Tensor t({1, 6, 1, 1}, {0, 1, 2, 3, 4, 5});
    Var y = channel_shuffle(Var(t), 2);  // groups {0,1,2} {3,4,5} → 0 3 1 4 2 5
    CHECK(y.value().to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
    Var x(random_tensor({2, 6, 2, 2}, 24), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return channel_shuffle(v[0], 3); }, {x}));
    check_message([&] { channel_shuffle(x, 4); }, {"channel_shuffle", "[2, 6, 2, 2]", "4"});
  }

  // ---- activations -----------------------------------------------------------------------------
  TEST_CASE("activations match their formulas and gradients check away from the kinks") {
    Tensor base = random_tensor({3, 7}, 30, -5.0f, 8.0f);
    Var x(avoid(base, {0.0f, 6.0f, -3.0f, 3.0f}), true);
    struct Case {
      const char* name;
      Fn f;
      float (*ref)(float);
    };
    std::vector<Case> cases = {
        {"relu", [](const std::vector<Var>& v) { return relu(v[0]); }, [](float z) { return z > 0 ? z : 0.0f; }},
        {"relu6", [](const std::vector<Var>& v) { return relu6(v[0]); },
         [](float z) { return std::min(std::max(z, 0.0f), 6.0f); }},
        {"leaky_relu", [](const std::vector<Var>& v) { return leaky_relu(v[0], 0.1f); },
         [](float z) { return z > 0 ? z : 0.1f * z; }},
        {"sigmoid", [](const std::vector<Var>& v) { return sigmoid(v[0]); },
         [](float z) { return 1.0f / (1.0f + std::exp(-z)); }},
        {"tanh", [](const std::vector<Var>& v) { return tanh(v[0]); }, [](float z) { return std::tanh(z); }},
        {"hard_sigmoid", [](const std::vector<Var>& v) { return hard_sigmoid(v[0]); },
         [](float z) { return std::min(std::max(z + 3.0f, 0.0f), 6.0f) / 6.0f; }},
        {"hard_swish", [](const std::vector<Var>& v) { return hard_swish(v[0]); },
         [](float z) { return z * std::min(std::max(z + 3.0f, 0.0f), 6.0f) / 6.0f; }},
    };
    for (auto& c : cases) {
      CAPTURE(c.name);
      Var y = c.f({x});
      for (int64_t i = 0; i < x.value().numel(); ++i) CHECK(y.value()[i] == doctest::Approx(c.ref(x.value()[i])));
      CHECK(check_gradients(c.f, {x}));
    }
  }

  TEST_CASE("softmax rows sum to 1; log_softmax is stable at logit 1000; gradients check") {
    Var x(random_tensor({3, 5}, 31, -2.0f, 2.0f), true);
    Var p = softmax(x);
    for (int r = 0; r < 3; ++r) {
      float s = 0;
      for (int c = 0; c < 5; ++c) s += p.value()[r * 5 + c];
      CHECK(s == doctest::Approx(1.0f));
    }
    Var big(Tensor({1, 3}, {1000.0f, 0.0f, -1000.0f}));
    Var ls = log_softmax(big);
    CHECK(std::isfinite(ls.value()[2]));
    CHECK(ls.value()[0] == doctest::Approx(0.0f));
    CHECK(ls.value()[1] == doctest::Approx(-1000.0f));
    CHECK(check_gradients([](const std::vector<Var>& v) { return softmax(v[0]); }, {x}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return log_softmax(v[0]); }, {x}));
  }

  // ---- losses --------------------------------------------------------------------------------
  TEST_CASE("cross-entropy: log C for uniform logits, finite at logit 1000, gradient (p − y)/N") {
    Var u(Tensor({2, 4}, 0.5f), true);
    CHECK(cross_entropy(u, {0, 3}).value().item() == doctest::Approx(std::log(4.0f)));
    Var big(Tensor({1, 2}, {1000.0f, -1000.0f}), true);
    Var l = cross_entropy(big, {1});
    CHECK(l.value().item() == doctest::Approx(2000.0f));
    l.backward();
    CHECK(big.grad()[0] == doctest::Approx(1.0f));
    CHECK(big.grad()[1] == doctest::Approx(-1.0f));
    Var z(random_tensor({4, 5}, 40, -3.0f, 3.0f), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return cross_entropy(v[0], {0, 4, 2, 2}); }, {z}));
    check_message([&] { cross_entropy(z, {0, 1}); }, {"cross_entropy", "[4, 5]", "2"});
    check_message([&] { cross_entropy(z, {0, 1, 2, 5}); }, {"cross_entropy", "5"});
  }

  TEST_CASE("soft-target cross-entropy (Hinton 2015): zero gradient when student = teacher; grad = (q − p)/(N·T)") {
    Tensor t = random_tensor({3, 4}, 41, -2.0f, 2.0f);
    Var z(t.clone(), true);
    Var l = soft_target_cross_entropy(z, t, 4.0f);
    l.backward();
    for (int64_t i = 0; i < 12; ++i) CHECK(std::fabs(z.grad()[i]) < 1e-6f);
    // at equality the loss is the teacher's entropy, which is ≤ log C
    CHECK(l.value().item() <= std::log(4.0f) + 1e-5f);
    Var s(random_tensor({3, 4}, 42, -2.0f, 2.0f), true);
    for (float T : {1.0f, 3.0f}) {
      CAPTURE(T);
      CHECK(check_gradients([&](const std::vector<Var>& v) { return soft_target_cross_entropy(v[0], t, T); }, {s}));
    }
    check_message([&] { soft_target_cross_entropy(s, Tensor({3, 5}), 2.0f); },
                  {"soft_target_cross_entropy", "[3, 4]", "[3, 5]"});
  }

  TEST_CASE("mse_loss is the mean of squared differences; gradients check") {
    Var a(Tensor({2}, {1.0f, 3.0f}), true), b(Tensor({2}, {0.0f, 1.0f}), true);
    CHECK(mse_loss(a, b).value().item() == doctest::Approx(2.5f));
    Var c(random_tensor({2, 3}, 43), true), d(random_tensor({2, 3}, 44), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return mse_loss(v[0], v[1]); }, {c, d}));
    check_message([&] { mse_loss(c, Var(Tensor({3, 2}))); }, {"mse_loss", "[2, 3]", "[3, 2]"});
  }

  // ---- convolution -------------------------------------------------------------------------
  TEST_CASE("conv2d equals the direct 7-loop definition (stride, padding, groups, depthwise, 1x1)") {
    struct Cfg {
      Shape x, w;
      Conv2dOptions o;
    };
    std::vector<Cfg> cfgs = {
        {{2, 3, 7, 6}, {4, 3, 3, 3}, {}},
        {{2, 3, 7, 6}, {4, 3, 3, 2}, {2, 1, 1, 0, 1}},
        {{2, 4, 6, 6}, {6, 2, 3, 3}, {1, 1, 1, 1, 2}},   // grouped
        {{2, 4, 6, 5}, {4, 1, 3, 3}, {2, 2, 1, 1, 4}},   // depthwise, strided
        {{2, 4, 5, 5}, {8, 1, 3, 3}, {1, 1, 1, 1, 4}},   // depth multiplier 2 (grouped GEMM path)
        {{3, 5, 4, 4}, {6, 5, 1, 1}, {}},                // pointwise
    };
    for (size_t i = 0; i < cfgs.size(); ++i) {
      CAPTURE(i);
      Tensor x = random_tensor(cfgs[i].x, 50 + i), w = random_tensor(cfgs[i].w, 60 + i),
             b = random_tensor({cfgs[i].w[0]}, 70 + i);
      Tensor y = conv2d(Var(x), Var(w), Var(b), cfgs[i].o).value();
      expect_all_close(y, conv_reference(x, w, &b, cfgs[i].o), kAccumulate, "conv vs double reference");
    }
  }

  TEST_CASE("conv2d gradients check for stride, padding, groups, depthwise and 1x1") {
    struct Cfg {
      Shape x, w;
      Conv2dOptions o;
    };
    std::vector<Cfg> cfgs = {
        {{2, 2, 5, 5}, {3, 2, 3, 3}, {2, 2, 1, 1, 1}},   // stride 2, padding 1
        {{1, 4, 4, 5}, {4, 2, 3, 2}, {1, 2, 0, 1, 2}},   // grouped, rectangular
        {{2, 3, 5, 5}, {3, 1, 3, 3}, {1, 1, 1, 1, 3}},   // depthwise
        {{2, 3, 3, 3}, {2, 3, 1, 1}, {}},                // pointwise
    };
    for (size_t i = 0; i < cfgs.size(); ++i) {
      CAPTURE(i);
      Var x(random_tensor(cfgs[i].x, 80 + i), true), w(random_tensor(cfgs[i].w, 90 + i), true),
          b(random_tensor({cfgs[i].w[0]}, 100 + i), true);
      Conv2dOptions o = cfgs[i].o;
      CHECK(check_gradients([o](const std::vector<Var>& v) { return conv2d(v[0], v[1], v[2], o); }, {x, w, b}));
      CHECK(check_gradients([o](const std::vector<Var>& v) { return conv2d(v[0], v[1], Var(), o); }, {x, w}));
    }
  }

  TEST_CASE("conv2d gradients do not depend on the thread count (dense and depthwise)") {
    const int before = num_threads();
    for (int64_t groups : {1, 3}) {
      CAPTURE(groups);
      Var x(random_tensor({11, 3, 6, 6}, 110), true);
      Var w(random_tensor({groups == 1 ? 5 : 3, 3 / groups, 3, 3}, 111), true);
      Var b(random_tensor({groups == 1 ? 5 : 3}, 112), true);
      std::vector<std::vector<float>> dw, dx, db;
      for (int t : {1, 2, 3}) {
        set_num_threads(t);
        for (Var* v : {&x, &w, &b}) v->zero_grad();
        conv2d(x, w, b, {1, 1, 1, 1, groups}).backward();
        dw.push_back(w.grad().to_vector());
        dx.push_back(x.grad().to_vector());
        db.push_back(b.grad().to_vector());
      }
      CHECK(dw[0] == dw[1]);
      CHECK(dw[0] == dw[2]);
      CHECK(db[0] == db[2]);
      CHECK(dx[0] == dx[1]);
    }
    set_num_threads(before);
  }

  TEST_CASE("conv2d rejects bad shapes, naming both") {
    Var x(Tensor({1, 4, 5, 5})), w(Tensor({2, 3, 3, 3}));
    check_message([&] { conv2d(x, w, Var()); }, {"conv2d", "[1, 4, 5, 5]", "[2, 3, 3, 3]"});
    check_message([&] { conv2d(x, Var(Tensor({2, 2, 3, 3})), Var(), {1, 1, 0, 0, 3}); }, {"conv2d", "groups"});
    check_message([&] { conv2d(x, Var(Tensor({2, 4, 7, 7})), Var()); }, {"conv2d", "[2, 4, 7, 7]", "[1, 4, 5, 5]"});
    check_message([&] { conv2d(x, Var(Tensor({2, 4, 3, 3})), Var(Tensor({3}))); }, {"conv2d", "[2]", "[3]"});
  }

  // ---- pooling ------------------------------------------------------------------------------
  TEST_CASE("max_pool2d picks the window maximum and routes the gradient to it") {
    Tensor t({1, 1, 2, 4}, {1, 5, 2, 0, 3, 4, 7, 6});
    Var x(t, true);
    Var y = max_pool2d(x, 2, 2);
    CHECK(y.value().to_vector() == std::vector<float>{5, 7});
    y.backward();
    CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 0, 0, 0, 0, 1, 0});
    struct Window {
      int64_t k, s, p;
    };
    for (Window w : {Window{2, 2, 0}, Window{3, 2, 1}, Window{3, 1, 0}}) {
      CAPTURE(w.k);
      CAPTURE(w.s);
      Var r(shuffled_ramp({2, 2, 5, 5}, static_cast<uint64_t>(120 + w.k + w.s)), true);
      CHECK(check_gradients([w](const std::vector<Var>& v) { return max_pool2d(v[0], w.k, w.s, w.p); }, {r}));
    }
  }

  TEST_CASE("avg_pool2d and global_avg_pool average their windows; gradients check") {
    Tensor t({1, 1, 2, 2}, {1, 2, 3, 6});
    CHECK(avg_pool2d(Var(t), 2, 2).value().item() == doctest::Approx(3.0f));
    CHECK(global_avg_pool(Var(t)).value().item() == doctest::Approx(3.0f));
    // padding counts as zeros: a 3x3 window centred on a corner of a 2x2 of ones sees 4 of 9
    CHECK(avg_pool2d(Var(Tensor({1, 1, 2, 2}, 1.0f)), 3, 1, 1).value()[0] == doctest::Approx(4.0f / 9.0f));
    Var x(random_tensor({2, 3, 5, 4}, 130), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return avg_pool2d(v[0], 2, 2); }, {x}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return avg_pool2d(v[0], 3, 2, 1); }, {x}));
    CHECK(check_gradients([](const std::vector<Var>& v) { return global_avg_pool(v[0]); }, {x}));
    check_message([&] { max_pool2d(Var(Tensor({2, 3, 4})), 2, 2); }, {"max_pool2d", "[2, 3, 4]"});
    check_message([&] { avg_pool2d(x, 7, 1); }, {"avg_pool2d", "[2, 3, 5, 4]"});
  }

  // ---- normalisation and dropout --------------------------------------------------------------
  TEST_CASE("batch_norm in training normalises each channel to mean 0, variance 1; gradients check") {
    Tensor rm({3}, 0.0f), rv({3}, 1.0f);
    Var x(random_tensor({4, 3, 2, 2}, 140, -2.0f, 3.0f), true);
    Var gamma(random_tensor({3}, 141, 0.5f, 1.5f), true), beta(random_tensor({3}, 142), true);
    Var y = batch_norm(x, Var(Tensor({3}, 1.0f)), Var(Tensor({3}, 0.0f)), rm, rv, true);
    for (int64_t c = 0; c < 3; ++c) {
      double s = 0, s2 = 0;
      for (int64_t n = 0; n < 4; ++n)
        for (int64_t i = 0; i < 4; ++i) {
          float v = y.value()[(n * 3 + c) * 4 + i];
          s += v;
          s2 += v * v;
        }
      CHECK(s / 16 == doctest::Approx(0.0).epsilon(1e-5));
      CHECK(s2 / 16 == doctest::Approx(1.0).epsilon(1e-3));
    }
    Fn f4 = [&](const std::vector<Var>& v) { return batch_norm(v[0], v[1], v[2], rm, rv, true); };
    CHECK(check_gradients(f4, {x, gamma, beta}));
    Var x2(random_tensor({5, 3}, 143, -2.0f, 3.0f), true);  // BatchNorm1d shape
    CHECK(check_gradients(f4, {x2, gamma, beta}));
  }

  TEST_CASE("batch_norm running averages: r ← (1 − m)·r + m·batch, unbiased variance; eval uses them") {
    Tensor rm({1}, 0.0f), rv({1}, 1.0f);
    Var x(Tensor({4, 1}, {1, 2, 3, 6}));  // mean 3, biased var 3.5, unbiased 14/3
    batch_norm(x, Var(), Var(), rm, rv, true, 0.1f);
    CHECK(rm[0] == doctest::Approx(0.3f));
    CHECK(rv[0] == doctest::Approx(0.9f + 0.1f * 14.0f / 3.0f));
    Var e = batch_norm(x, Var(), Var(), rm, rv, false);
    CHECK(e.value()[0] == doctest::Approx((1.0f - 0.3f) / std::sqrt(rv[0] + 1e-5f)));
    Tensor rm2 = random_tensor({3}, 144), rv2 = random_tensor({3}, 145, 0.5f, 2.0f);
    Var xe(random_tensor({2, 3, 2, 2}, 146), true), g(random_tensor({3}, 147), true), b(random_tensor({3}, 148), true);
    CHECK(check_gradients([&](const std::vector<Var>& v) { return batch_norm(v[0], v[1], v[2], rm2, rv2, false); },
                          {xe, g, b}));
    check_message([&] { batch_norm(xe, Var(Tensor({4})), Var(), rm2, rv2, true); }, {"batch_norm", "[4]", "[3]"});
  }

  TEST_CASE("dropout zeroes about p of the values, scales survivors by 1/(1 − p), is identity in eval") {
    Var x(Tensor({1000}, 1.0f), true);
    Rng rng(7);
    Var y = dropout(x, 0.3f, true, rng);
    int zeros = 0;
    for (int64_t i = 0; i < 1000; ++i) {
      if (y.value()[i] == 0.0f) ++zeros;
      else CHECK(y.value()[i] == doctest::Approx(1.0f / 0.7f));
    }
    CHECK(zeros > 250);
    CHECK(zeros < 350);
    CHECK(dropout(x, 0.3f, false, rng).value().to_vector() == x.value().to_vector());
    Var z(random_tensor({4, 5}, 150), true);
    CHECK(check_gradients(
        [](const std::vector<Var>& v) {
          Rng r(11);  // the same mask on every evaluation
          return dropout(v[0], 0.5f, true, r);
        },
        {z}));
    check_message([&] { dropout(x, 1.0f, true, rng); }, {"dropout", "p"});
  }
}
