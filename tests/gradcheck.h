// tests/gradcheck.h — the one shared helper every gradient test goes through.
//
// check_gradients(f, inputs) compares the analytic gradient of  L = Σ_i r_i · f(inputs)_i
// (r a fixed random projection, so every output element matters) against central
// differences (L(x+h) − L(x−h)) / 2h on EVERY element of EVERY input that requires a
// gradient. The check is done in double where it matters: we evaluate in float, so h is
// large-ish (1e-2 by default) and the tolerance is |num − ana| <= atol + rtol·|num|.
// On failure it names the input, the element, both values and the largest difference.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"

namespace mgf::testing {

struct GradCheckOptions {
  float h = 1e-2f;
  float atol = 2e-3f;
  float rtol = 2e-2f;
  bool report = true;  // false: only return the verdict (for the test that proves a broken backward is caught)
};

// A random tensor with a fixed seed, values uniform in [lo, hi).
inline Tensor random_tensor(Shape s, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Rng r(seed);
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = r.uniform(lo, hi);
  return t;
}

inline double project(const Tensor& y, const Tensor& r) {
  double s = 0;
  for (int64_t i = 0; i < y.numel(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}

// Returns true when every element agrees; reports the first bad one through doctest.
inline bool check_gradients(const std::function<Var(const std::vector<Var>&)>& f, std::vector<Var> inputs,
                            GradCheckOptions o = {}) {
  for (auto& v : inputs) v.zero_grad();
  Var y = f(inputs);
  Tensor r = random_tensor(y.shape(), 12345, 0.5f, 1.5f);
  y.backward(r);
  bool ok = true;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Var& in = inputs[k];
    if (!in.requires_grad()) continue;
    Tensor ana = in.grad().empty() ? Tensor::zeros_like(in.value()) : in.grad().clone();
    float worst = 0.0f;
    for (int64_t i = 0; i < in.value().numel(); ++i) {
      float saved = in.value()[i];
      in.value()[i] = saved + o.h;
      double lp = project(f(inputs).value(), r);
      in.value()[i] = saved - o.h;
      double lm = project(f(inputs).value(), r);
      in.value()[i] = saved;
      float num = static_cast<float>((lp - lm) / (2.0 * o.h));
      float diff = std::fabs(num - ana[i]);
      worst = std::max(worst, diff);
      if (ok && diff > o.atol + o.rtol * std::fabs(num)) {
        ok = false;
        std::string msg = "gradient mismatch: input " + std::to_string(k) + " element " + std::to_string(i) +
                          ": numeric " + std::to_string(num) + " vs analytic " + std::to_string(ana[i]);
        if (o.report) FAIL_CHECK(msg);
      }
    }
    if (!ok && o.report) {
      std::string msg = "input " + std::to_string(k) + ": largest |numeric - analytic| = " + std::to_string(worst);
      MESSAGE(msg);
    }
  }
  return ok;
}

}  // namespace mgf::testing
