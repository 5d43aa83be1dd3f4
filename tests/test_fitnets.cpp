// tests/test_fitnets.cpp — TEST_SUITE("fitnets"): Romero et al. 2015 on tiny cases — the hint
// loss L_HT = ½‖u_h − r(v_g)‖² (value, gradient by finite differences), the convolutional
// regressor's kernel, shape and k₁k₂O_hO_g parameters, gradients through it, the KD loss of
// eq. 2 and its annealed λ, stage 1 lowering the hint loss, and RMSProp (the paper's optimiser)
// against its update rule. Book: book/26-fitnets.md.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "distill/fitnets.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/sequential.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

namespace {

Tensor vec(std::vector<float> v) {
  Shape s{static_cast<int64_t>(v.size())};   // read the size before v is moved from
  return Tensor(s, std::move(v));
}

struct OneVec : Module {
  Parameter& w;
  explicit OneVec(std::vector<float> v) : w(register_parameter("w", vec(std::move(v)))) {}
  Var forward(const Var& x) override { return x; }
  std::string type_name() const override { return "OneVec"; }
};

}  // namespace

TEST_SUITE("fitnets") {
  TEST_CASE("the hint loss is half the squared distance, averaged over the batch; its gradient is (r - u)/N") {
    Tensor u({2, 1, 1, 2}, {1.0f, 2.0f, 0.0f, -1.0f});
    Var r(Tensor({2, 1, 1, 2}, {0.0f, 4.0f, 1.0f, -1.0f}), true);
    Var l = hint_loss(u, r);
    CHECK(l.value().item() == doctest::Approx(0.5 * (1 + 4 + 1 + 0) / 2.0));
    l.backward();
    const float want[] = {-0.5f, 1.0f, 0.5f, 0.0f};   // (r − u)/N
    for (int i = 0; i < 4; ++i) CHECK(r.grad()[i] == doctest::Approx(want[i]));
    const Tensor u2 = random_tensor({3, 2, 3, 3}, 5);
    Var r2(random_tensor({3, 2, 3, 3}, 6), true);
    CHECK(check_gradients([&](const std::vector<Var>& v) { return hint_loss(u2, v[0]); }, {r2}));
    CHECK_THROWS_AS(hint_loss(Tensor({2, 3}), Var(Tensor({3, 2}))), std::invalid_argument);
  }

  TEST_CASE("the regressor's kernel maps the guided side to the hint side with k1 k2 O_h O_g weights") {
    CHECK(HintRegressor::kernel_for(10, 8) == 3);   // §3.1: N_g − k + 1 = N_h
    CHECK(HintRegressor::kernel_for(8, 8) == 1);
    CHECK_THROWS_AS(HintRegressor::kernel_for(8, 10), std::invalid_argument);
    CHECK_THROWS_AS(HintRegressor::kernel_for(8, 0), std::invalid_argument);
    manual_seed(1);
    HintRegressor r(16, 64, 10, 8);   // the example's: student 16×10×10 → teacher 64×8×8
    CHECK(r.conv->weight.var.value().shape() == Shape{64, 16, 3, 3});
    CHECK(r.num_parameters() == 3 * 3 * 64 * 16 + 64);
    // a fully connected regressor would need N_h² O_h × N_g² O_g weights: 4096 × 1600
    CHECK(static_cast<int64_t>(8 * 8 * 64) * (10 * 10 * 16) / r.num_parameters() > 700);
    Tensor y = r(Var(random_tensor({2, 16, 10, 10}, 2))).value();
    CHECK(y.shape() == Shape{2, 64, 8, 8});
    for (int64_t i = 0; i < y.numel(); ++i) CHECK(y[i] >= 0.0f);   // the hint's ReLU
  }

  TEST_CASE("gradients of L_HT reach the regressor's weights and the guided input (finite differences)") {
    manual_seed(3);
    HintRegressor r(2, 3, 4, 3);   // k = 2
    const Tensor u = random_tensor({2, 3, 3, 3}, 7, 0.0f, 1.0f);
    // biases raised so no ReLU sits at its kink
    for (int64_t i = 0; i < r.conv->bias->var.value().numel(); ++i) r.conv->bias->var.value()[i] = 0.7f;
    Var v(random_tensor({2, 2, 4, 4}, 8, 0.0f, 0.5f), true);
    Var w = r.conv->weight.var;
    CHECK(check_gradients(
        [&](const std::vector<Var>& in) { return hint_loss(u, relu(conv2d(in[0], in[1], r.conv->bias->var))); }, {v, w}));
  }

  TEST_CASE("GuidedNet runs upper(lower(x)) and names its parameters lower.* and upper.*") {
    auto lo = std::make_shared<Sequential>(), up = std::make_shared<Sequential>();
    manual_seed(4);
    lo->add("c", std::make_shared<Conv2d>(1, 2, 3));
    up->add("r", std::make_shared<ReLU>());
    GuidedNet g(lo, up);
    Tensor x = random_tensor({1, 1, 5, 5}, 9);
    Tensor a = g(Var(x)).value(), b = up->forward(lo->forward(Var(x))).value();
    for (int64_t i = 0; i < a.numel(); ++i) CHECK(a[i] == b[i]);
    std::vector<std::string> names;
    for (auto& np : g.named_parameters()) names.push_back(np.name);
    CHECK(names == std::vector<std::string>{"lower.c.weight", "lower.c.bias"});
  }

  TEST_CASE("FitNets KD loss is H(y, P_S) + lambda H(P_T^tau, P_S^tau), lambda annealed 4 -> 1") {
    const Tensor v = random_tensor({2, 5}, 11, -2.0f, 2.0f);
    Var z(random_tensor({2, 5}, 12, -2.0f, 2.0f), true);
    const std::vector<int32_t> y = {1, 4};
    const float want = cross_entropy(z, y).value().item() + 2.5f * soft_target_cross_entropy(z, v, 3.0f).value().item();
    CHECK(fitnets_kd_loss(z, v, y, 3.0f, 2.5f).value().item() == doctest::Approx(want).epsilon(1e-6));
    CHECK(check_gradients([&](const std::vector<Var>& in) { return fitnets_kd_loss(in[0], v, y, 3.0f, 2.5f); }, {z}));
    CHECK_THROWS_AS(fitnets_kd_loss(z, v, y, 3.0f, -1.0f), std::invalid_argument);
    CHECK(annealed_lambda(0, 5, 4, 1) == doctest::Approx(4.0f));
    CHECK(annealed_lambda(2, 5, 4, 1) == doctest::Approx(2.5f));
    CHECK(annealed_lambda(4, 5, 4, 1) == doctest::Approx(1.0f));
    CHECK(annealed_lambda(0, 1, 4, 1) == doctest::Approx(1.0f));
    CHECK_THROWS_AS(annealed_lambda(5, 5, 4, 1), std::invalid_argument);
  }

  TEST_CASE("stage 1 lowers the hint loss of a student towards a fixed teacher's hint") {
    set_training_output(false);
    const Dataset d = synthetic_dataset(64, 4, 8, 2);
    manual_seed(6);
    Sequential teacher;
    teacher.add("c", std::make_shared<Conv2d>(1, 4, 3));   // 8 → 6
    teacher.add("r", std::make_shared<ReLU>());
    Sequential student;
    student.add("c", std::make_shared<Conv2d>(1, 2, 1));   // 8 → 8: guided
    student.add("r", std::make_shared<ReLU>());
    HintRegressor reg(2, 4, 8, 6);                          // k = 3
    std::vector<Parameter*> ps = student.parameters();
    for (Parameter* p : reg.parameters()) ps.push_back(p);
    RMSProp opt(ps, {.lr = 0.01f});
    Rng rng(1);
    DataLoader loader(d, 16, true, rng);
    std::vector<std::vector<float>> teacher_before;
    for (Parameter* p : teacher.parameters()) teacher_before.push_back(p->var.value().to_vector());
    const double first = train_epoch_hint(student, reg, teacher, opt, loader).loss;
    double last = first;
    for (int e = 0; e < 20; ++e) last = train_epoch_hint(student, reg, teacher, opt, loader).loss;
    CHECK(last < 0.5 * first);
    // The teacher is fixed (§3.1: W_Hint is not trained): its weights are bit-identical and no
    // gradient reached them (train_epoch_hint runs it under NoGradGuard).
    const std::vector<Parameter*> tp = teacher.parameters();
    for (size_t i = 0; i < tp.size(); ++i) {
      CHECK(tp[i]->var.value().to_vector() == teacher_before[i]);
      CHECK(tp[i]->var.grad().empty());
    }
    set_training_output(true);
  }

  TEST_CASE("RMSProp: s <- alpha s + (1 - alpha) g^2; w <- w - lr g / (sqrt(s) + eps), two steps by hand") {
    OneVec m({1.0f, -2.0f});
    RMSProp opt(m.parameters(), {.lr = 0.1f, .alpha = 0.9f, .eps = 1e-8f, .weight_decay = 0.0f});
    const float g1[] = {0.5f, -4.0f}, g2[] = {1.0f, 2.0f};
    double w[2] = {1.0, -2.0}, s[2] = {0, 0};
    for (const float* g : {g1, g2}) {
      m.w.var.grad() = Tensor({2}, {g[0], g[1]});
      opt.step();
      for (int i = 0; i < 2; ++i) {
        s[i] = 0.9 * s[i] + 0.1 * g[i] * g[i];
        w[i] -= 0.1 * g[i] / (std::sqrt(s[i]) + 1e-8);
      }
      for (int i = 0; i < 2; ++i) CHECK(m.w.var.value()[i] == doctest::Approx(w[i]).epsilon(1e-5));
    }
    // the first step is lr / sqrt(1 - alpha) in size whatever the gradient's scale
    OneVec a({0.0f});
    RMSProp o2(a.parameters(), {.lr = 0.1f, .alpha = 0.99f});
    a.w.var.grad() = Tensor({1}, std::vector<float>{1000.0f});
    o2.step();
    CHECK(a.w.var.value()[0] == doctest::Approx(-0.1 / std::sqrt(0.01)).epsilon(1e-4));
    // coupled weight decay: g + λw
    OneVec b({2.0f});
    RMSProp o3(b.parameters(), {.lr = 0.1f, .alpha = 0.0f, .eps = 1e-8f, .weight_decay = 0.5f});
    b.w.var.grad() = Tensor({1}, std::vector<float>{1.0f});
    o3.step();   // g' = 1 + 0.5·2 = 2, s = 4, step = 0.1·2/2
    CHECK(b.w.var.value()[0] == doctest::Approx(1.9f));
    CHECK_THROWS_AS(RMSProp(m.parameters(), {.alpha = 1.0f}), std::invalid_argument);
    CHECK_THROWS_AS(RMSProp(m.parameters(), {.eps = 0.0f}), std::invalid_argument);
  }

  TEST_CASE("RMSProp minimises a quadratic, and keeps a masked weight at zero") {
    manual_seed(2);
    OneVec m({3.0f, -1.0f, 0.5f});
    m.w.set_mask(Tensor({3}, {1.0f, 0.0f, 1.0f}));
    RMSProp opt(m.parameters(), {.lr = 0.01f});
    for (int t = 0; t < 600; ++t) {
      opt.zero_grad();
      Var w = m.w.effective();
      sum(mul(w, w)).backward();   // ∇ = 2w
      opt.step();
    }
    CHECK(std::fabs(m.w.var.value()[0]) < 0.05f);
    CHECK(m.w.var.value()[1] == 0.0f);
    CHECK(std::fabs(m.w.var.value()[2]) < 0.05f);
  }
}
