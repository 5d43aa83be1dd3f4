// tests/test_obd.cpp — TEST_SUITE("obd"): Optimal Brain Damage (LeCun, Denker, Solla 1989):
// the diagonal Hessian by second-order backpropagation against central finite differences of
// the loss (double precision, tanh and sigmoid nets, squared error and cross-entropy), the
// Levenberg–Marquardt form's sign, the saliency on a diagonal quadratic, the deletion step, and
// the double-precision nets' gradient and conversion from layers/. Book: book/10-obd.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compression/pruning/obd.h"
#include "engine/rng.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/sequential.h"

using namespace mgf;

namespace {

// P samples of `in` inputs uniform in [−1, 1) and targets in (0.1, 0.9) (one-hot for CE).
DenseData dense_random_data(int64_t P, int64_t in, int64_t out, bool one_hot, uint64_t seed) {
  Rng r(seed);
  DenseData d;
  d.P = P;
  for (int64_t i = 0; i < P * in; ++i) d.x.push_back(r.uniform(-1.0f, 1.0f));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t o = 0; o < out; ++o)
      d.d.push_back(one_hot ? (o == p % out ? 1.0 : 0.0) : r.uniform(0.1f, 0.9f));
  return d;
}

// Central second difference of the loss along parameter k: (E(u+ε) − 2E(u) + E(u−ε)) / ε².
double fd_second(DenseNet net, const DenseData& data, int64_t k, double eps) {
  std::vector<double> u = net.flat();
  const double u0 = u[k];
  const double e0 = dense_loss(net, data);
  u[k] = u0 + eps;
  net.set_flat(u);
  const double ep = dense_loss(net, data);
  u[k] = u0 - eps;
  net.set_flat(u);
  const double em = dense_loss(net, data);
  return (ep - 2.0 * e0 + em) / (eps * eps);
}

// Every h_kk of `form` against finite differences: |h − fd| <= 1e-3 |fd| + 1e-7 (the absolute
// floor covers the rounding of E in the second difference, about 1e-16·E / ε² = 1e-8).
void check_exact_against_fd(const DenseNet& net, const DenseData& data) {
  const std::vector<double> h = obd_diag_hessian(net, data, HessianForm::exact);
  double worst = 0.0;
  int64_t bad = -1;
  for (int64_t k = 0; k < net.num_params(); ++k) {
    const double fd = fd_second(net, data, k, 1e-4);
    const double err = std::fabs(h[k] - fd);
    if (err > 1e-3 * std::fabs(fd) + 1e-7 && bad < 0) bad = k;
    worst = std::max(worst, err / (std::fabs(fd) + 1e-7));
    if (bad == k) MESSAGE("parameter " << k << ": exact h_kk " << h[k] << ", finite difference " << fd);
  }
  CHECK_MESSAGE(bad < 0, "first bad parameter " << bad << ", worst relative error " << worst);
}

}  // namespace

TEST_SUITE("obd") {
  TEST_CASE("exact h_kk equals central finite differences of the loss (tanh, two hidden layers, squared error)") {
    const DenseNet net = make_dense_net({3, 4, 3, 2}, DenseActivation::tanh, DenseLoss::squared_error, 7);
    check_exact_against_fd(net, dense_random_data(9, 3, 2, false, 11));
  }

  TEST_CASE("exact h_kk equals central finite differences of the loss (sigmoid, squared error)") {
    DenseNet net = make_dense_net({4, 3, 3, 2}, DenseActivation::sigmoid, DenseLoss::squared_error, 3);
    // Larger weights, so that f″ terms and the cross terms of the layer above matter.
    std::vector<double> u = net.flat();
    for (double& v : u) v *= 3.0;
    net.set_flat(u);
    check_exact_against_fd(net, dense_random_data(7, 4, 2, false, 5));
  }

  TEST_CASE("exact h_kk equals central finite differences of the loss (tanh, softmax cross-entropy)") {
    const DenseNet net = make_dense_net({3, 5, 4}, DenseActivation::tanh, DenseLoss::softmax_cross_entropy, 13);
    check_exact_against_fd(net, dense_random_data(8, 3, 4, true, 17));
  }

  TEST_CASE("the paper's diagonal recursion is exact when each layer feeds one unit (2-2-1), not on a wider net") {
    const DenseNet small = make_dense_net({2, 2, 1}, DenseActivation::sigmoid, DenseLoss::squared_error, 21);
    const DenseData d1 = dense_random_data(4, 2, 1, false, 2);
    const std::vector<double> hd = obd_diag_hessian(small, d1, HessianForm::diagonal);
    const std::vector<double> he = obd_diag_hessian(small, d1, HessianForm::exact);
    for (size_t k = 0; k < hd.size(); ++k) CHECK(hd[k] == doctest::Approx(he[k]).epsilon(1e-12));
    // Two hidden layers with two outputs: the dropped cross terms ∂²E/∂a_l∂a_m now matter.
    const DenseNet wide = make_dense_net({3, 3, 3, 2}, DenseActivation::tanh, DenseLoss::squared_error, 4);
    const DenseData d2 = dense_random_data(6, 3, 2, false, 9);
    const std::vector<double> wd = obd_diag_hessian(wide, d2, HessianForm::diagonal);
    const std::vector<double> we = obd_diag_hessian(wide, d2, HessianForm::exact);
    double diff = 0.0;
    for (int64_t k = 0; k < wide.weight_index(1, 0, 0); ++k) diff = std::max(diff, std::fabs(wd[k] - we[k]));
    CHECK(diff > 1e-6);
  }

  TEST_CASE("Levenberg-Marquardt h_kk >= 0 everywhere, while the exact diagonal has negative entries") {
    DenseNet net = make_dense_net({3, 4, 2}, DenseActivation::sigmoid, DenseLoss::squared_error, 8);
    std::vector<double> u = net.flat();
    for (double& v : u) v *= 4.0;  // saturated units: large f″ terms
    net.set_flat(u);
    const DenseData data = dense_random_data(10, 3, 2, false, 1);
    const std::vector<double> lm = obd_diag_hessian(net, data, HessianForm::levenberg_marquardt);
    const std::vector<double> ex = obd_diag_hessian(net, data, HessianForm::exact);
    CHECK(*std::min_element(lm.begin(), lm.end()) >= 0.0);
    CHECK(*std::min_element(ex.begin(), ex.end()) < 0.0);  // so the LM test is not vacuous
    const DenseNet ce = make_dense_net({3, 4, 3}, DenseActivation::tanh, DenseLoss::softmax_cross_entropy, 2);
    const std::vector<double> lmc = obd_diag_hessian(ce, dense_random_data(6, 3, 3, true, 3), HessianForm::levenberg_marquardt);
    CHECK(*std::min_element(lmc.begin(), lmc.end()) >= 0.0);
  }

  TEST_CASE("saliency equals h_kk*u_k^2/2 and is the exact error increase on a diagonal quadratic") {
    // One linear layer 1 → 3, E = mean ½Σ(w_o x + b_o − d_o)², samples x = ±1, ±2 (mean 0):
    // the Hessian is diagonal (∂²E/∂w_o∂b_o = mean x = 0, outputs independent) and E is
    // quadratic, so at the minimum deleting u_k costs exactly h_kk u_k² / 2.
    DenseNet net = make_dense_net({1, 3}, DenseActivation::identity, DenseLoss::squared_error, 1);
    const double c[3] = {0.7, -1.3, 0.2};
    DenseData data;
    data.P = 4;
    data.x = {1.0, -1.0, 2.0, -2.0};
    for (double x : data.x)
      for (double co : c) data.d.push_back(co * x);
    net.layers[0].W = {c[0], c[1], c[2]};
    net.layers[0].b = {0.0, 0.0, 0.0};
    // A residual the net cannot fit keeps E > 0 at the minimum: +0.3 on output 0 for x = ±1,
    // −0.3 for x = ±2 — zero mean and uncorrelated with x, so the minimum stays at W = c, b = 0.
    data.d[0] += 0.3, data.d[3] += 0.3, data.d[6] -= 0.3, data.d[9] -= 0.3;
    const double e0 = dense_loss(net, data);
    CHECK(e0 > 0.0);
    const std::vector<double> g = dense_gradient(net, data);
    for (double gk : g) CHECK(std::fabs(gk) < 1e-15);  // a minimum: OBD's extremal approximation holds
    const std::vector<double> u = net.flat();
    const std::vector<double> h = obd_diag_hessian(net, data, HessianForm::exact);
    const std::vector<double> s = obd_saliency(h, u);
    for (int64_t k = 0; k < net.num_params(); ++k) {
      CHECK(s[k] == doctest::Approx(0.5 * h[k] * u[k] * u[k]).epsilon(1e-15));
      std::vector<double> v = u;
      v[k] = 0.0;
      DenseNet m = net;
      m.set_flat(v);
      CHECK(dense_loss(m, data) - e0 == doctest::Approx(s[k]).epsilon(1e-12));
    }
    CHECK(h[0] == doctest::Approx(2.5));  // mean x² = (1 + 1 + 4 + 4) / 4
    CHECK(h[3] == doctest::Approx(1.0));  // bias: mean 1² = 1
  }

  TEST_CASE("delete_lowest deletes the live candidates of lowest saliency, ties to the lower index") {
    const std::vector<double> s{0.5, 0.1, 0.1, 0.0, 2.0, 0.3};
    std::vector<uint8_t> mask{1, 1, 1, 0, 1, 1};  // index 3 is already deleted
    const std::vector<int64_t> del = delete_lowest(s, mask, {}, 2);
    CHECK(del == std::vector<int64_t>{1, 2});
    CHECK(mask == std::vector<uint8_t>{1, 0, 0, 0, 1, 1});
    std::vector<uint8_t> cand{1, 1, 1, 1, 1, 0};  // 5 is not a candidate
    CHECK(delete_lowest(s, mask, cand, 1) == std::vector<int64_t>{0});
    CHECK_THROWS_AS(delete_lowest(s, mask, cand, 3), std::invalid_argument);  // only 4 is left
    std::vector<uint8_t> short_mask{1, 1};
    CHECK_THROWS_AS(delete_lowest(s, short_mask, {}, 1), std::invalid_argument);
  }

  TEST_CASE("dense_gradient equals central differences of dense_loss") {
    const DenseNet net = make_dense_net({3, 4, 2}, DenseActivation::tanh, DenseLoss::softmax_cross_entropy, 5);
    const DenseData data = dense_random_data(5, 3, 2, true, 6);
    const std::vector<double> g = dense_gradient(net, data);
    std::vector<double> u = net.flat();
    for (int64_t k = 0; k < net.num_params(); ++k) {
      DenseNet m = net;
      std::vector<double> v = u;
      v[k] += 1e-6;
      m.set_flat(v);
      const double ep = dense_loss(m, data);
      v[k] -= 2e-6;
      m.set_flat(v);
      const double em = dense_loss(m, data);
      CHECK(g[k] == doctest::Approx((ep - em) / 2e-6).epsilon(1e-6).scale(1e-3));
    }
  }

  TEST_CASE("dense_train reaches XOR with a masked weight (a hidden bias) held at exactly 0") {
    DenseNet net = make_dense_net({2, 2, 1}, DenseActivation::sigmoid, DenseLoss::squared_error, 3);
    std::vector<double> u0 = net.flat();
    for (double& v : u0) v *= 4.0;  // the XOR experiment's initial scale (examples/obs.cpp)
    net.set_flat(u0);
    DenseData xor_data;
    xor_data.P = 4;
    xor_data.x = {0, 0, 0, 1, 1, 0, 1, 1};
    xor_data.d = {0, 1, 1, 0};
    std::vector<uint8_t> mask(static_cast<size_t>(net.num_params()), 1);
    mask[static_cast<size_t>(net.bias_index(0, 0))] = 0;
    DenseTrainOptions o;
    o.steps = 20000;
    o.lr = 2.0;
    o.target_loss = 1e-3;
    dense_train(net, xor_data, mask, o);
    CHECK(net.flat()[static_cast<size_t>(net.bias_index(0, 0))] == 0.0);
    CHECK(dense_loss(net, xor_data) <= 1e-3);
    CHECK(dense_accuracy(net, xor_data) == 1.0);
  }

  TEST_CASE("dense_net_from reads a Sequential of Linear + activations; dense_net_to writes it back") {
    Sequential model;
    model.add("fc1", std::make_shared<Linear>(3, 4));
    model.add("act", std::make_shared<Tanh>());
    model.add("fc2", std::make_shared<Linear>(4, 2));
    DenseNet net = dense_net_from(model, DenseLoss::softmax_cross_entropy);
    REQUIRE(net.layers.size() == 2);
    CHECK(net.layers[0].act == DenseActivation::tanh);
    CHECK(net.layers[1].act == DenseActivation::identity);
    Tensor x({1, 3});
    x[0] = 0.3f, x[1] = -0.2f, x[2] = 0.9f;
    const Tensor y = model.forward(Var(x)).value();
    const double xs[3] = {0.3, -0.2, 0.9};
    const std::vector<double> yd = dense_output(net, xs);
    for (int o = 0; o < 2; ++o) CHECK(yd[o] == doctest::Approx(y[o]).epsilon(1e-5));
    std::vector<double> u = net.flat();
    u[0] = 0.0;
    net.set_flat(u);
    dense_net_to(net, model);
    CHECK(model.at<Linear>("fc1").weight.var.value()[0] == 0.0f);
    Sequential bad;
    bad.add("fc1", std::make_shared<Linear>(3, 4));
    bad.add("fc2", std::make_shared<Linear>(4, 2));
    bad.add("fc3", std::make_shared<Linear>(2, 2));
    CHECK_THROWS_AS(dense_net_to(net, bad), std::invalid_argument);
    CHECK_THROWS_AS(net.set_flat({1.0, 2.0}), std::invalid_argument);
  }

  TEST_CASE("shared weights: a conv weight's h_kk sums d2E/da2 * x^2 over its connections (finite differences)") {
    // One conv layer (2 → 3 channels, 3×3 kernel, stride 1 and 2, pad 1) + sigmoid + squared
    // error on each output position. Positions are separate outputs, so ∂²E/∂a_p∂a_q = 0 for
    // p ≠ q and the sum over connections is the exact diagonal.
    const int64_t C = 2, H = 5, W = 5, OC = 3, K = 3;
    Rng r(4);
    std::vector<double> x(C * H * W), w(OC * C * K * K);
    for (double& v : x) v = r.uniform(-1.0f, 1.0f);
    for (double& v : w) v = r.uniform(-0.5f, 0.5f);
    for (int64_t stride : {1, 2}) {
      const int64_t pad = 1, OH = (H + 2 * pad - K) / stride + 1, OW = OH;
      std::vector<double> d(OC * OH * OW);
      for (double& v : d) v = r.uniform(0.1f, 0.9f);
      auto pre = [&](const std::vector<double>& wt) {  // a [OC × OH × OW]
        std::vector<double> a(OC * OH * OW, 0.0);
        for (int64_t oc = 0; oc < OC; ++oc)
          for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox)
              for (int64_t c = 0; c < C; ++c)
                for (int64_t ky = 0; ky < K; ++ky)
                  for (int64_t kx = 0; kx < K; ++kx) {
                    const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                      a[(oc * OH + oy) * OW + ox] += wt[((oc * C + c) * K + ky) * K + kx] * x[(c * H + iy) * W + ix];
                  }
        return a;
      };
      auto loss = [&](const std::vector<double>& wt) {
        double e = 0.0;
        const std::vector<double> a = pre(wt);
        for (size_t p = 0; p < a.size(); ++p) {
          const double y = 1.0 / (1.0 + std::exp(-a[p]));
          e += 0.5 * (y - d[p]) * (y - d[p]);
        }
        return e;
      };
      // ∂²E/∂a² per position: f′² + (y − d) f″ for the sigmoid.
      const std::vector<double> a = pre(w);
      std::vector<double> g(a.size());
      for (size_t p = 0; p < a.size(); ++p) {
        const double y = 1.0 / (1.0 + std::exp(-a[p])), f1 = y * (1 - y), f2 = f1 * (1 - 2 * y);
        g[p] = f1 * f1 + (y - d[p]) * f2;
      }
      const std::vector<double> h = obd_conv_hessian(g, x, C, H, W, OC, K, K, stride, pad);
      REQUIRE(h.size() == w.size());
      for (size_t k = 0; k < w.size(); ++k) {
        std::vector<double> wp = w, wm = w;
        wp[k] += 1e-4;
        wm[k] -= 1e-4;
        const double fd = (loss(wp) - 2 * loss(w) + loss(wm)) / 1e-8;
        CHECK_MESSAGE(std::fabs(h[k] - fd) <= 1e-3 * std::fabs(fd) + 1e-7,
                      "stride " << stride << " weight " << k << ": " << h[k] << " vs " << fd);
      }
    }
    CHECK_THROWS_AS(obd_conv_hessian({1.0}, x, C, H, W, OC, K, K, 1, 1), std::invalid_argument);
  }
}
