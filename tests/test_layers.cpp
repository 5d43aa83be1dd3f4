// tests/test_layers.cpp — TEST_SUITE("layers"): modules, parameters, masks, modes, init.
// Book: book/01-autograd.md.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "engine/ops.h"
#include "engine/rng.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/dropout.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/pool.h"
#include "layers/sequential.h"
#include "layers/shape.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

namespace {

// A small LeNet-5-like stack, children named like the training chapter's models.
std::shared_ptr<Sequential> tiny_cnn() {
  auto net = std::make_shared<Sequential>();
  net->add("conv1", std::make_shared<Conv2d>(1, 4, 3));
  net->add("bn1", std::make_shared<BatchNorm2d>(4));
  net->add("relu1", std::make_shared<ReLU>());
  net->add("pool1", std::make_shared<MaxPool2d>(2, 2));
  net->add("flatten", std::make_shared<Flatten>());
  net->add("drop", std::make_shared<Dropout>(0.5f));
  net->add("fc1", std::make_shared<Linear>(4 * 3 * 3, 5));
  return net;
}

double stddev(const Tensor& t) {
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s += t[i];
    s2 += static_cast<double>(t[i]) * t[i];
  }
  const double m = s / static_cast<double>(t.numel());
  return std::sqrt(s2 / static_cast<double>(t.numel()) - m * m);
}

}  // namespace

TEST_SUITE("layers") {
  TEST_CASE("every layer produces the shape it promises") {
    Var x(random_tensor({2, 3, 8, 8}, 1));
    CHECK(Conv2d(3, 6, 3)(x).shape() == Shape{2, 6, 6, 6});
    CHECK(Conv2d(3, 6, 3, {2, 2, 1, 1, 3})(x).shape() == Shape{2, 6, 4, 4});
    CHECK(Conv2d(3, 3, 3, {1, 1, 1, 1, 3}, false)(x).shape() == Shape{2, 3, 8, 8});
    CHECK(MaxPool2d(2)(x).shape() == Shape{2, 3, 4, 4});
    CHECK(MaxPool2d(3, 2, 1)(x).shape() == Shape{2, 3, 4, 4});
    CHECK(AvgPool2d(2, 2)(x).shape() == Shape{2, 3, 4, 4});
    CHECK(GlobalAvgPool()(x).shape() == Shape{2, 3});
    CHECK(BatchNorm2d(3)(x).shape() == x.shape());
    CHECK(Flatten()(x).shape() == Shape{2, 192});
    Var v(random_tensor({4, 10}, 2));
    CHECK(Linear(10, 7)(v).shape() == Shape{4, 7});
    CHECK(BatchNorm1d(10)(v).shape() == v.shape());
    for (auto m : std::vector<std::shared_ptr<Module>>{std::make_shared<ReLU>(), std::make_shared<ReLU6>(),
                                                       std::make_shared<LeakyReLU>(0.2f), std::make_shared<Sigmoid>(),
                                                       std::make_shared<Tanh>(), std::make_shared<HardSwish>(),
                                                       std::make_shared<HardSigmoid>(), std::make_shared<Dropout>(0.1f)}) {
      CAPTURE(m->type_name());
      CHECK((*m)(v).shape() == v.shape());
    }
    CHECK(tiny_cnn()->forward(Var(random_tensor({2, 1, 8, 8}, 3))).shape() == Shape{2, 5});
  }

  TEST_CASE("layers reject inputs of the wrong shape, naming the layer, expected and found") {
    Linear fc(10, 3);
    try {
      fc(Var(Tensor({2, 9})));
      FAIL("expected an exception");
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      CHECK(m.find("Linear") != std::string::npos);
      CHECK(m.find("10") != std::string::npos);
      CHECK(m.find("[2, 9]") != std::string::npos);
    }
    CHECK_THROWS_AS(Conv2d(3, 4, 3)(Var(Tensor({1, 2, 5, 5}))), std::invalid_argument);
    CHECK_THROWS_AS(BatchNorm2d(3)(Var(Tensor({4, 3}))), std::invalid_argument);
    CHECK_THROWS_AS(Conv2d(3, 4, 3, {1, 1, 0, 0, 2}), std::invalid_argument);
    CHECK_THROWS_AS(Dropout(1.5f), std::invalid_argument);
  }

  TEST_CASE("parameters are named by their path: fc1.weight, 0.weight; buffers too") {
    auto net = tiny_cnn();
    std::vector<std::string> names;
    for (auto& np : net->named_parameters()) names.push_back(np.name);
    CHECK(names == std::vector<std::string>{"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "fc1.weight",
                                            "fc1.bias"});
    std::vector<std::string> buffers;
    for (auto& [n, t] : net->named_buffers()) buffers.push_back(n);
    CHECK(buffers == std::vector<std::string>{"bn1.running_mean", "bn1.running_var"});
    CHECK(net->num_parameters() == 4 * 9 + 4 + 4 + 4 + 36 * 5 + 5);

    Sequential s;
    s.add(std::make_shared<Linear>(3, 2));
    s.add(std::make_shared<ReLU>());
    s.add(std::make_shared<Linear>(2, 1, false));
    CHECK(s.named_parameters()[0].name == "0.weight");
    CHECK(s.named_parameters()[2].name == "2.weight");
    CHECK(s.named_parameters().size() == 3);  // the last Linear has no bias
    CHECK(s.at<Linear>("2").bias == nullptr);
    CHECK_THROWS_AS(s.at("fc9"), std::out_of_range);
    CHECK_THROWS_AS(s.at<Conv2d>("0"), std::invalid_argument);
    CHECK_THROWS_AS(s.add("0", std::make_shared<ReLU>()), std::invalid_argument);
    std::vector<std::string> order;
    for (auto& [n, m] : s) order.push_back(n + ":" + m->type_name());
    CHECK(order == std::vector<std::string>{"0:Linear", "1:ReLU", "2:Linear"});
  }

  TEST_CASE("a mask zeroes pruned weights in forward and their gradients in backward") {
    manual_seed(5);
    Linear fc(4, 3);
    Tensor mask({3, 4}, 1.0f);
    mask[1] = 0.0f;
    mask[6] = 0.0f;
    Tensor before = fc.weight.var.value().clone();
    fc.weight.set_mask(mask);
    CHECK(fc.weight.var.value()[1] == 0.0f);
    // Put a value back under the mask: the forward must still ignore it.
    fc.weight.var.value()[6] = 5.0f;
    Var x(random_tensor({2, 4}, 6));
    Var y = fc(x);
    for (int n = 0; n < 2; ++n) {
      float ref = fc.bias->var.value()[1];
      for (int i = 0; i < 4; ++i) ref += (i == 2 ? 0.0f : before[4 + i]) * x.value()[n * 4 + i];
      CHECK(y.value()[n * 3 + 1] == doctest::Approx(ref));  // row 1 without its pruned weight 6
    }
    sum(y).backward();
    CHECK(fc.weight.var.grad()[1] == 0.0f);
    CHECK(fc.weight.var.grad()[6] == 0.0f);
    CHECK(fc.weight.var.grad()[0] != 0.0f);

    Conv2d conv(2, 2, 3);
    Tensor cm({2, 2, 3, 3}, 1.0f);
    for (int i = 0; i < 18; ++i) cm[i] = 0.0f;  // prune the whole first filter
    conv.weight.set_mask(cm);
    Var xc(random_tensor({1, 2, 4, 4}, 7));
    Var yc = conv(xc);
    for (int p = 0; p < 4; ++p) CHECK(yc.value()[p] == doctest::Approx(conv.bias->var.value()[0]));
    sum(yc).backward();
    for (int i = 0; i < 18; ++i) CHECK(conv.weight.var.grad()[i] == 0.0f);
  }

  TEST_CASE("train() and eval() switch dropout and batch-norm, for every child") {
    auto net = tiny_cnn();
    Var x(random_tensor({4, 1, 8, 8}, 8));
    auto& bn = net->at<BatchNorm2d>("bn1");
    Tensor rm0 = bn.running_mean.clone();
    Var a = net->forward(x), b = net->forward(x);  // train: dropout differs per call, running stats move
    CHECK(a.value().to_vector() != b.value().to_vector());
    CHECK(bn.running_mean.to_vector() != rm0.to_vector());
    net->eval();
    CHECK_FALSE(net->at("drop").training());
    Tensor rm1 = bn.running_mean.clone();
    Var c = net->forward(x), d = net->forward(x);  // eval: deterministic, stats frozen
    CHECK(c.value().to_vector() == d.value().to_vector());
    CHECK(bn.running_mean.to_vector() == rm1.to_vector());
    Dropout drop(0.5f);
    drop.eval();
    Var v(random_tensor({10}, 9));
    CHECK(drop(v).value().to_vector() == v.value().to_vector());
    net->train();
    CHECK(net->at("bn1").training());
  }

  TEST_CASE("Dropout given its own Rng is reproducible") {
    Rng r1(3), r2(3);
    Dropout d1(0.5f, &r1), d2(0.5f, &r2);
    Var v(random_tensor({50}, 10));
    CHECK(d1(v).value().to_vector() == d2(v).value().to_vector());
  }

  TEST_CASE("a whole small CNN's parameter gradients check through the layers") {
    manual_seed(11);
    auto net = tiny_cnn();
    net->at<Dropout>("drop");  // exists
    net->eval();               // dropout off, batch-norm from running stats: a smooth function
    auto params = net->parameters();
    std::vector<Var> vars;
    for (auto* p : params) vars.push_back(p->var);
    Var x(random_tensor({2, 1, 8, 8}, 12));
    CHECK(check_gradients([&](const std::vector<Var>&) { return net->forward(x); }, vars));
  }

  TEST_CASE("default init is PyTorch's: W and b in ±1/√fan_in; Kaiming and Xavier have their variances") {
    manual_seed(13);
    Linear fc(400, 50);
    const float b = 1.0f / std::sqrt(400.0f);
    float lo = 1, hi = -1;
    for (int64_t i = 0; i < fc.weight.var.value().numel(); ++i) {
      lo = std::min(lo, fc.weight.var.value()[i]);
      hi = std::max(hi, fc.weight.var.value()[i]);
    }
    CHECK(lo >= -b);
    CHECK(hi <= b);
    CHECK(hi > 0.95f * b);  // it fills the range
    CHECK(stddev(fc.weight.var.value()) == doctest::Approx(b / std::sqrt(3.0)).epsilon(0.03));
    Conv2d conv(8, 16, 3, {1, 1, 1, 1, 2});
    CHECK(fan_in(conv.weight.var.value()) == 4 * 9);
    CHECK(fan_out(conv.weight.var.value()) == 16 * 9);
    Tensor w({200, 300});
    Rng rng(1);
    kaiming_normal(w, 0.0f, FanMode::fan_in, rng);
    CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 300)).epsilon(0.03));
    kaiming_uniform(w, 0.0f, FanMode::fan_out, rng);
    CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 200)).epsilon(0.03));
    xavier_uniform(w, 1.0f, rng);
    CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 500)).epsilon(0.03));
    xavier_normal(w, 2.0f, rng);
    CHECK(stddev(w) == doctest::Approx(2.0 * std::sqrt(2.0 / 500)).epsilon(0.03));
    Tensor bad({3, 4, 5});
    CHECK_THROWS_AS(fan_in(bad), std::invalid_argument);
  }
}
