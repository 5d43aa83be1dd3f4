// tests/test_dns.cpp — TEST_SUITE("dns"): Dynamic Network Surgery (Guo et al. 2016): the
// thresholds a_k, b_k, the mask rule at and between them, the surgery probability, the
// straight-through masked-weight op and its gradient, splicing vs the frozen ablation, and a
// whole dns_train run on synthetic data. Book: book/17-dns.md.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "compression/pruning/dns.h"
#include "compression/pruning/magnitude.h"
#include "engine/data.h"
#include "engine/ops.h"
#include "engine/train.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "layers/shape.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

namespace {

class OneLinear : public Module {
 public:
  OneLinear() { w = &register_parameter("fc.weight", random_tensor({3, 4}, 5)); }
  Var forward(const Var& x) override { return linear(x, w->effective(), Var()); }
  std::string type_name() const override { return "OneLinear"; }
  Parameter* w;
};

// 8×8 images → 4 classes (synthetic_dataset's shape): one prunable weight "fc.weight", 256 entries.
std::shared_ptr<Sequential> flat_linear() {
  auto net = std::make_shared<Sequential>();
  net->add("flat", std::make_shared<Flatten>());
  net->add("fc", std::make_shared<Linear>(64, 4));
  return net;
}

// One plain SGD step on every parameter (the test must not depend on the optimizer code).
void sgd_step(Module& m, float lr) {
  for (Parameter* p : m.parameters()) {
    if (p->var.grad().empty()) continue;
    for (int64_t i = 0; i < p->var.value().numel(); ++i) p->var.value()[i] -= lr * p->var.grad()[i];
    p->var.zero_grad();
  }
}

}  // namespace

TEST_SUITE("dns") {
  TEST_CASE("a_k = 0.9 max(mu + c sigma, 0), b_k = 1.1 max(mu + c sigma, 0), mu and sigma of |w| over survivors") {
    Tensor w({5}, {1.0f, -2.0f, 3.0f, -4.0f, 100.0f});
    Tensor mask({5}, {1.0f, 1.0f, 1.0f, 1.0f, 0.0f});  // the masked 100 must not count
    // |w| of survivors: 1, 2, 3, 4 → μ = 2.5, σ² = 7.5 − 6.25 = 1.25
    DnsThresholds t0 = dns_thresholds(w, mask, 0.0f);
    CHECK(t0.a == doctest::Approx(0.9 * 2.5));
    CHECK(t0.b == doctest::Approx(1.1 * 2.5));
    DnsThresholds t1 = dns_thresholds(w, mask, 1.0f);
    CHECK(t1.a == doctest::Approx(0.9 * (2.5 + std::sqrt(1.25))));
    DnsThresholds tneg = dns_thresholds(w, mask, -10.0f);  // μ + cσ < 0 → max(., 0) = 0
    CHECK(tneg.a == 0.0f);
    CHECK(tneg.b == 0.0f);
    CHECK_THROWS_AS(dns_thresholds(w, Tensor({4}, 1.0f), 1.0f), std::invalid_argument);
  }

  TEST_CASE("mask rule: cut at <= a_k, splice above b_k, in between the mask is kept") {
    const DnsThresholds th{0.5f, 1.0f};
    //            kept@a  pruned@b  kept,mid  pruned,mid  pruned>b  kept<a  kept>b  pruned<a
    Tensor w({8}, {0.5f, -1.0f, 0.7f, -0.7f, 1.01f, -0.1f, 2.0f, 0.2f});
    Tensor T({8}, {1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f});
    const int64_t changed = dns_update_mask(w, T, th);
    CHECK(T.to_vector() == std::vector<float>{0, 0, 1, 0, 1, 0, 1, 0});
    CHECK(changed == 3);
    // the ablation never splices: the pruned weight above b_k stays pruned
    Tensor T2({8}, {1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f});
    dns_update_mask(w, T2, th, /*splice=*/false);
    CHECK(T2.to_vector() == std::vector<float>{0, 0, 1, 0, 0, 0, 1, 0});
    CHECK_THROWS_AS(dns_update_mask(w, T2 = Tensor({3}), th), std::invalid_argument);
  }

  TEST_CASE("surgery probability p(iter) = (1 + gamma iter)^(-power)") {
    CHECK(surgery_probability(0, 1e-4, 1.0) == 1.0);
    CHECK(surgery_probability(10000, 1e-4, 1.0) == doctest::Approx(0.5));
    CHECK(surgery_probability(30000, 1e-4, 2.0) == doctest::Approx(1.0 / 16.0));
    CHECK(surgery_probability(5, 0.0, 1.0) == 1.0);
    for (int64_t it = 1; it < 50000; it += 997)
      CHECK(surgery_probability(it, 1e-4, 1.0) <= surgery_probability(it - 1, 1e-4, 1.0));
    CHECK_THROWS_AS(surgery_probability(-1, 1e-4, 1.0), std::invalid_argument);
    CHECK_THROWS_AS(surgery_probability(1, -1e-4, 1.0), std::invalid_argument);
  }

  TEST_CASE("dns_masked: forward is W . T; with T = 1 the gradient checks by central differences") {
    Var w(random_tensor({3, 4}, 1), true);
    Tensor T({3, 4}, 1.0f);
    Var x(random_tensor({2, 4}, 2), true);
    CHECK(check_gradients([&](const std::vector<Var>& v) { return linear(v[1], dns_masked(v[0], T), Var()); }, {w, x}));
    Tensor T0 = random_tensor({3, 4}, 3, 0.0f, 1.0f);
    for (int64_t i = 0; i < T0.numel(); ++i) T0[i] = T0[i] < 0.5f ? 0.0f : 1.0f;
    Var y = dns_masked(w, T0);
    for (int64_t i = 0; i < 12; ++i) CHECK(y.value()[i] == w.value()[i] * T0[i]);
    CHECK_THROWS_AS(dns_masked(w, Tensor({4, 3})), std::invalid_argument);
  }

  TEST_CASE("straight-through: pruned weights receive dL/d(W . T), the gradient of the masked weight") {
    Var w(random_tensor({3, 4}, 1), true);
    Tensor T({3, 4}, {1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0});
    Var x(random_tensor({2, 4}, 2), false);
    // Reference: u = W ⊙ T as a free leaf; its gradient is checked by central differences.
    Tensor wt = w.value().clone();
    for (int64_t i = 0; i < 12; ++i) wt[i] *= T[i];
    Var u(wt, true);
    auto f = [&](const std::vector<Var>& v) { return linear(x, v[0], Var()); };
    CHECK(check_gradients(f, {u}));
    u.zero_grad();
    Tensor seed = random_tensor({2, 3}, 9);
    f({u}).backward(seed);
    linear(x, dns_masked(w, T), Var()).backward(seed);
    int64_t pruned_with_grad = 0;
    for (int64_t i = 0; i < 12; ++i) {
      CHECK(w.grad()[i] == doctest::Approx(u.grad()[i]));
      pruned_with_grad += T[i] == 0.0f && w.grad()[i] != 0.0f;
    }
    CHECK(pruned_with_grad > 0);  // unlike Parameter::effective(), which would give them 0
  }

  TEST_CASE("DnsPruner: the value swap gives the same gradient as dns_masked, then the mask is installed") {
    OneLinear net;
    const Tensor W0 = net.w->var.value().clone();
    DnsPruner dns(net, {0.0f}, DnsOptions{}, 1);  // c = 0: cut |w| <= 0.9 mean|w|
    REQUIRE(dns.layers().size() == 1);
    const Tensor T = dns.layers()[0].T.clone();
    REQUIRE(count_nonzero(T) > 0);
    REQUIRE(count_nonzero(T) < 12);
    for (int64_t i = 0; i < 12; ++i) CHECK(net.w->var.value()[i] == W0[i] * T[i]);  // forward sees W ⊙ T
    Var x(random_tensor({2, 4}, 2), false);
    Tensor seed = random_tensor({2, 3}, 9);
    net(x).backward(seed);
    dns.after_backward();
    for (int64_t i = 0; i < 12; ++i) CHECK(net.w->var.value()[i] == W0[i]);  // the dense W is back
    Var w_ref(W0.clone(), true);
    linear(x, dns_masked(w_ref, T), Var()).backward(seed);
    for (int64_t i = 0; i < 12; ++i) CHECK(net.w->var.grad()[i] == doctest::Approx(w_ref.grad()[i]));
    sgd_step(net, 0.1f);
    dns.after_step();
    CHECK(dns.iteration() == 1);
    dns.finish();
    CHECK(net.w->has_mask());
    CHECK(count_nonzero(net.w->var.value()) == count_nonzero(net.w->mask));
    CHECK(dns.kept() == count_nonzero(net.w->mask));
  }

  TEST_CASE("splicing: a pruned weight that keeps getting gradient grows back; the frozen ablation never does") {
    for (bool splice : {true, false}) {
      CAPTURE(splice);
      OneLinear net;
      DnsOptions o;
      o.gamma = 0.0;  // p = 1: surgery every iteration
      o.splice = splice;
      DnsPruner dns(net, {0.0f}, o, 3);
      // find a pruned weight and drive it: loss = −k·(W⊙T)_j  ⇒  ∂L/∂(W⊙T)_j = −k for every j
      int64_t j = -1;
      for (int64_t i = 0; i < 12; ++i)
        if (dns.layers()[0].T[i] == 0.0f) j = i;
      REQUIRE(j >= 0);
      const float w_before = dns.layers()[0].W[j];
      for (int step = 0; step < 50; ++step) {
        Tensor g({3, 4});
        g[j] = -std::copysign(1.0f, w_before == 0.0f ? 1.0f : w_before);  // grow |w_j|
        net.w->var.grad() = g;  // as if backward had produced it
        dns.after_backward();
        sgd_step(net, 0.1f);
        dns.after_step();
      }
      if (splice) {
        CHECK(dns.layers()[0].T[j] == 1.0f);
        CHECK(dns.layers()[0].spliced >= 1);
        CHECK(net.w->var.value()[j] != 0.0f);
      } else {
        CHECK(dns.layers()[0].T[j] == 0.0f);
        CHECK(dns.layers()[0].W[j] == w_before);  // frozen, not even moved
        CHECK(dns.layers()[0].spliced == 0);
      }
    }
  }

  TEST_CASE("DnsPruner rejects a wrong number of c_rates and parameters that already carry a mask") {
    OneLinear net;
    CHECK_THROWS_AS(DnsPruner(net, {1.0f, 2.0f}, DnsOptions{}, 1), std::invalid_argument);
    net.w->set_mask(Tensor({3, 4}, 1.0f));
    CHECK_THROWS_AS(DnsPruner(net, {1.0f}, DnsOptions{}, 1), std::invalid_argument);
  }

  TEST_CASE("no surgery from iter_stop on: the mask is frozen") {
    OneLinear net;
    DnsOptions o;
    o.gamma = 0.0;
    o.iter_stop = 1;
    DnsPruner dns(net, {0.0f}, o, 4);
    const Tensor T = dns.layers()[0].T.clone();
    for (int step = 0; step < 5; ++step) {
      net.w->var.grad() = Tensor({3, 4}, -10.0f);  // would push every weight past b_k
      dns.after_backward();
      sgd_step(net, 1.0f);
      dns.after_step();
    }
    CHECK(dns.layers()[0].T.to_vector() == T.to_vector());
  }

  TEST_CASE("dns_train: one curve point per epoch plus the start, surgery off from iter_stop, T installed as the mask") {
    set_training_output(false);
    const Dataset train = synthetic_dataset(64, 4, 8, 3), eval = synthetic_dataset(32, 4, 8, 4);
    for (bool splice : {false, true}) {
      CAPTURE(splice);
      auto net = flat_linear();
      Parameter& w = net->at<Linear>("fc").weight;
      DnsTrainOptions o;
      o.c_rate = {0.5f};
      o.surgery.gamma = 0.0;  // p = 1: surgery every iteration while it is on
      o.surgery.splice = splice;
      o.epochs = 3;
      o.surgery_epochs = 1;
      o.batch = 16;  // 4 batches per epoch: iter_stop = 4
      o.lr = 0.05f;
      // the spliced run also takes the second loader (other jitter) and the two-cosine schedule
      o.schedule = splice ? DnsSchedule::two_cosines : DnsSchedule::run;
      o.finetune_jitter = splice ? 1 : 0;
      int seen = 0;
      const DnsTrainResult r = dns_train(*net, train, eval, o, [&](const DnsCurvePoint& pt) { CHECK(pt.epoch == seen++); });
      CHECK(seen == 4);
      CHECK(r.iter_stop == 4);
      REQUIRE(r.curve.size() == 4);
      for (size_t e = 0; e < r.curve.size(); ++e) {
        CAPTURE(e);
        CHECK(r.curve[e].epoch == static_cast<int>(e));
        CHECK(r.curve[e].total == 256);
        CHECK(r.curve[e].kept <= r.curve[e].total);
        CHECK(r.curve[e].surgery_on == (e == 0));  // after epoch 1 the iteration is iter_stop
        CHECK(r.curve[e].compression() >= 1.0);
        // without splicing the mask never regrows: kept is non-increasing
        if (!splice && e > 0) CHECK(r.curve[e].kept <= r.curve[e - 1].kept);
      }
      CHECK(r.curve[0].kept < 256);  // c = 0.5 cuts something at iteration 0
      // the masks are frozen after surgery: the last epochs keep what epoch 1 left
      CHECK(r.curve[3].kept == r.curve[1].kept);
      CHECK(r.kept == r.curve.back().kept);
      CHECK(r.total == 256);
      REQUIRE(r.layers.size() == 1);
      CHECK(r.layers[0].name == "fc.weight");
      CHECK(r.layers[0].weights == 256);
      CHECK(r.layers[0].kept == r.kept);
      if (!splice) CHECK(r.layers[0].spliced == 0);
      CHECK(r.errors == std::llround(r.error * eval.size()));
      CHECK(r.error == doctest::Approx(r.curve.back().error));  // finish() changes no value
      // an ordinary pruned model now: the mask is T, and pruned weights are exactly zero
      REQUIRE(w.has_mask());
      CHECK(count_nonzero(w.mask) == r.kept);
      for (int64_t i = 0; i < 256; ++i)
        if (w.mask[i] == 0.0f) CHECK(w.var.value()[i] == 0.0f);
    }
    DnsTrainOptions bad;
    bad.epochs = 0;
    CHECK_THROWS_AS(dns_train(*flat_linear(), train, eval, bad), std::invalid_argument);
    set_training_output(true);
  }
}
