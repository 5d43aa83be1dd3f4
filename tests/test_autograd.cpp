// tests/test_autograd.cpp — TEST_SUITE("autograd"): the graph walk and every op's gradient.
// Book: book/01-autograd.md.
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

TEST_SUITE("autograd") {
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
  }

  TEST_CASE("bad broadcast names the op and both shapes") {
    Var a(Tensor({2, 3}), false), b(Tensor({2}), false);
    try {
      add(a, b);
      FAIL("expected an exception");
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      CHECK(m.find("add") != std::string::npos);
      CHECK(m.find("[2, 3]") != std::string::npos);
      CHECK(m.find("[2]") != std::string::npos);
    }
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
}
