// tests/test_optim.cpp — TEST_SUITE("optim"): one step of every optimizer against values
// computed by hand, masks kept at zero, the schedules' formulas, and determinism.
// Book: book/03-training.md.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <numbers>

#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/threads.h"
#include "layers/module.h"
#include "tests/gradcheck.h"

using namespace mgf;

namespace {

// One parameter vector whose gradient we set by hand.
Tensor vec(std::vector<float> v) {
  Shape s{static_cast<int64_t>(v.size())};  // read the size before v is moved from
  return Tensor(s, std::move(v));
}

struct OneParam : Module {
  Parameter& w;
  explicit OneParam(std::vector<float> v) : w(register_parameter("w", vec(std::move(v)))) {}
  Var forward(const Var& x) override { return x; }
  std::string type_name() const override { return "OneParam"; }
  void set_grad(std::vector<float> g) { w.var.grad() = vec(std::move(g)); }
};

// A tiny linear model built only on ops that exist in the core (linear, sub, mul, sum).
struct TinyLinear : Module {
  Parameter &w, &b;
  TinyLinear(int64_t in, int64_t out, uint64_t seed)
      : w(register_parameter("weight", testing::random_tensor({out, in}, seed, -0.5f, 0.5f))),
        b(register_parameter("bias", Tensor({out}))) {}
  Var forward(const Var& x) override { return linear(x, w.effective(), b.var); }
  std::string type_name() const override { return "TinyLinear"; }
};

std::vector<float> train_tiny(uint64_t seed, int steps) {
  manual_seed(seed);
  TinyLinear m(7, 3, seed);
  SGD opt(m.parameters(), {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-3f, .nesterov = true});
  Tensor x = testing::random_tensor({16, 7}, seed + 1), y = testing::random_tensor({16, 3}, seed + 2);
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    Var d = sub(m(Var(x)), Var(y));
    Var loss = sum(mul(d, d));
    loss.backward();
    opt.step();
  }
  std::vector<float> out = m.w.var.value().to_vector();
  for (float v : m.b.var.value().to_vector()) out.push_back(v);
  return out;
}

}  // namespace

TEST_SUITE("optim") {
  TEST_CASE("plain SGD: w <- w - lr (g + lambda w)") {
    OneParam p({1.0f, -2.0f});
    SGD opt(p.parameters(), {.lr = 0.1f, .weight_decay = 0.5f});
    p.set_grad({0.2f, 0.4f});
    opt.step();
    // 1 - 0.1(0.2 + 0.5) = 0.93;  -2 - 0.1(0.4 - 1.0) = -1.94
    CHECK(p.w.var.value()[0] == doctest::Approx(0.93f));
    CHECK(p.w.var.value()[1] == doctest::Approx(-1.94f));
  }

  TEST_CASE("SGD momentum: v <- mu v + g over two steps") {
    OneParam p({1.0f});
    SGD opt(p.parameters(), {.lr = 0.1f, .momentum = 0.9f});
    p.set_grad({1.0f});
    opt.step();  // v = 1, w = 0.9
    CHECK(p.w.var.value()[0] == doctest::Approx(0.9f));
    p.set_grad({0.5f});
    opt.step();  // v = 0.9 + 0.5 = 1.4, w = 0.9 - 0.14 = 0.76
    CHECK(p.w.var.value()[0] == doctest::Approx(0.76f));
  }

  TEST_CASE("Nesterov SGD steps along g + mu v") {
    OneParam p({1.0f});
    SGD opt(p.parameters(), {.lr = 0.1f, .momentum = 0.9f, .nesterov = true});
    p.set_grad({1.0f});
    opt.step();  // v = 1, step = 1 + 0.9 = 1.9, w = 0.81
    CHECK(p.w.var.value()[0] == doctest::Approx(0.81f));
    p.set_grad({0.5f});
    opt.step();  // v = 1.4, step = 0.5 + 1.26 = 1.76, w = 0.81 - 0.176 = 0.634
    CHECK(p.w.var.value()[0] == doctest::Approx(0.634f));
    CHECK_THROWS_AS(SGD(p.parameters(), {.lr = 0.1f, .nesterov = true}), std::invalid_argument);
  }

  TEST_CASE("Adam's first step moves each weight by about lr, against the gradient's sign") {
    // t = 1: m̂ = g, ŝ = g², so the step is lr·g/(|g| + eps).
    OneParam p({1.0f, 1.0f});
    Adam opt(p.parameters(), {.lr = 0.01f});
    p.set_grad({3.0f, -0.001f});
    opt.step();
    CHECK(p.w.var.value()[0] == doctest::Approx(1.0f - 0.01f * 3.0f / (3.0f + 1e-8f)));
    CHECK(p.w.var.value()[1] == doctest::Approx(1.0f + 0.01f * 0.001f / (0.001f + 1e-8f)));
  }

  TEST_CASE("Adam second step matches Algorithm 1 by hand") {
    OneParam p({0.5f});
    Adam opt(p.parameters(), {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 0.0f});
    p.set_grad({1.0f});
    opt.step();  // w = 0.4
    p.set_grad({2.0f});
    opt.step();
    double m = 0.9 * 0.1 + 0.1 * 2.0, s = 0.99 * 0.01 + 0.01 * 4.0;
    double mhat = m / (1 - 0.81), shat = s / (1 - 0.9801);
    CHECK(p.w.var.value()[0] == doctest::Approx(0.4 - 0.1 * mhat / std::sqrt(shat)).epsilon(1e-5));
  }

  TEST_CASE("AdamW decays the weight itself; Adam decays through the gradient") {
    // With g = 0, Adam's L2 term becomes the gradient (so the step is about lr);
    // AdamW shrinks w by lr·lambda·w and the Adam part sees a zero gradient.
    OneParam a({2.0f}), b({2.0f});
    Adam adam(a.parameters(), {.lr = 0.1f, .weight_decay = 0.5f});
    AdamW adamw(b.parameters(), {.lr = 0.1f, .weight_decay = 0.5f});
    a.set_grad({0.0f});
    b.set_grad({0.0f});
    adam.step();
    adamw.step();
    CHECK(a.w.var.value()[0] == doctest::Approx(2.0f - 0.1f));         // step of lr·sign(λw)
    CHECK(b.w.var.value()[0] == doctest::Approx(2.0f - 0.1f * 0.5f * 2.0f));  // 1.9
  }

  TEST_CASE("a pruned (masked) weight stays exactly zero under momentum and weight decay") {
    OneParam p({1.0f, 1.0f, 1.0f});
    SGD opt(p.parameters(), {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f});
    p.set_grad({1.0f, 1.0f, 1.0f});
    opt.step();  // momentum buffers are now non-zero everywhere
    p.w.set_mask(Tensor({3}, {1.0f, 0.0f, 1.0f}));
    for (int s = 0; s < 3; ++s) {
      p.set_grad({1.0f, 0.0f, 1.0f});
      opt.step();
      CHECK(p.w.var.value()[1] == 0.0f);
    }
    CHECK(p.w.var.value()[0] != 0.0f);
    OneParam q({1.0f, 1.0f});
    AdamW adamw(q.parameters(), {.lr = 0.1f, .weight_decay = 0.1f});
    q.w.set_mask(Tensor({2}, {0.0f, 1.0f}));
    q.set_grad({5.0f, 5.0f});
    adamw.step();
    CHECK(q.w.var.value()[0] == 0.0f);
  }

  TEST_CASE("a parameter with no gradient is left alone") {
    OneParam p({1.0f});
    SGD opt(p.parameters(), {.lr = 0.1f, .momentum = 0.9f});
    opt.step();
    CHECK(p.w.var.value()[0] == 1.0f);
  }

  TEST_CASE("step, multi-step, cosine and warm-up schedules follow their formulas") {
    LrSchedule st = step_schedule(0.1f, 10, 0.1f);
    CHECK(st.at(0) == doctest::Approx(0.1f));
    CHECK(st.at(9.9) == doctest::Approx(0.1f));
    CHECK(st.at(10) == doctest::Approx(0.01f));
    CHECK(st.at(25) == doctest::Approx(0.001f));
    LrSchedule ms = multistep_schedule(1.0f, {3, 7}, 0.5f);
    CHECK(ms.at(2) == doctest::Approx(1.0f));
    CHECK(ms.at(3) == doctest::Approx(0.5f));
    CHECK(ms.at(8) == doctest::Approx(0.25f));
    LrSchedule cs = cosine_schedule(1.0f, 10, 0.1f);
    CHECK(cs.at(0) == doctest::Approx(1.0f));
    CHECK(cs.at(5) == doctest::Approx(0.55f));   // η_min + (η0 − η_min)/2
    CHECK(cs.at(10) == doctest::Approx(0.1f));
    CHECK(cs.at(20) == doctest::Approx(0.1f));
    cs.warmup = 2;
    cs.warmup_start = 0.0f;
    CHECK(cs.at(0) == doctest::Approx(0.0f));
    CHECK(cs.at(1) == doctest::Approx(0.5 * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * 0.1)))));
    CHECK(cs.at(2) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * 0.2))));
    OneParam p({1.0f});
    SGD opt(p.parameters(), {.lr = 5.0f});
    st.apply(opt, 10);
    CHECK(opt.lr == doctest::Approx(0.01f));
    CHECK_THROWS_AS(cosine_schedule(1.0f, 0), std::invalid_argument);
  }

  TEST_CASE("BatchSchedule counts batches, reads its shape in epochs and restarts at restart_batch") {
    OneParam p({1.0f});
    SGD opt(p.parameters(), {.lr = 5.0f});
    BatchSchedule s(cosine_schedule(1.0f, 2), 4);  // 2 epochs of 4 batches
    s.reset(opt);
    CHECK(opt.lr == 1.0f);
    for (int b = 0; b < 4; ++b) s.step(opt);  // one epoch: halfway down the cosine
    CHECK(s.batch == 4);
    CHECK(opt.lr == doctest::Approx(0.5f));
    for (int b = 0; b < 4; ++b) s.step(opt);
    CHECK(opt.lr == doctest::Approx(0.0f));
    s.restart_batch = 6;
    s.restart_shape = cosine_schedule(0.25f, 1);
    s.reset(opt);
    for (int b = 0; b < 5; ++b) s.step(opt);
    CHECK(opt.lr == doctest::Approx(0.5 * (1 + std::cos(std::numbers::pi * 5 / 8))));  // before the restart
    s.step(opt);
    CHECK(opt.lr == 0.25f);  // the restart shape at its t = 0
    s.step(opt);
    s.step(opt);
    CHECK(opt.lr == doctest::Approx(0.125f));  // half of the restart's one epoch
    CHECK_THROWS_AS(BatchSchedule(constant_schedule(1.0f), 0), std::invalid_argument);
  }

  TEST_CASE("same seed and thread count give bit-identical training") {
    int saved = num_threads();
    set_num_threads(2);
    std::vector<float> a = train_tiny(7, 5), b = train_tiny(7, 5), c = train_tiny(8, 5);
    set_num_threads(saved);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    CHECK(a != c);   // and the seed really matters
  }
}
