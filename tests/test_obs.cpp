// tests/test_obs.cpp — TEST_SUITE("obs"): Optimal Brain Surgeon (Hassibi & Stork 1993): the
// Sherman–Morrison recursion against the direct inverse (double precision), one OBS step on a
// quadratic error surface against the constrained minimum, the special cases (diagonal H =
// OBD, isotropic H = magnitude), the output Jacobian by finite differences, the live-parameter
// Hessian, layer-wise OBS on one layer, and the MONK's loader (engine/monks.h) with errors that
// name file and line. Book: book/11-obs.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "compression/pruning/obd.h"
#include "compression/pruning/obs.h"
#include "engine/monks.h"
#include "engine/rng.h"

using namespace mgf;

namespace {

std::vector<double> random_vec(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Rng r(seed);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = lo + (hi - lo) * r.uniform();
  return v;
}

// A random symmetric positive-definite n×n matrix: A Aᵀ / n + 0.5 I.
std::vector<double> random_spd(int64_t n, uint64_t seed) {
  const std::vector<double> A = random_vec(n * n, seed);
  std::vector<double> H(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t k = 0; k < n; ++k) H[i * n + j] += A[i * n + k] * A[j * n + k] / static_cast<double>(n);
      if (i == j) H[i * n + j] += 0.5;
    }
  return H;
}

double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

double quad(const std::vector<double>& H, const std::vector<double>& w, const std::vector<double>& ws) {
  const int64_t n = static_cast<int64_t>(w.size());
  double e = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) e += 0.5 * (w[i] - ws[i]) * H[i * n + j] * (w[j] - ws[j]);
  return e;
}

}  // namespace

TEST_SUITE("obs") {
  TEST_CASE("the Sherman-Morrison recursion equals the direct inverse of alpha I + (1/P) sum X X^T (rel. error < 1e-6)") {
    const int64_t m = 60, n = 9;
    const double P = 30.0;  // two outputs per sample: 60 rows, 30 samples
    const std::vector<double> X = random_vec(m * n, 4);
    for (double alpha : {1e-4, 1e-2}) {
      const std::vector<double> rec = sherman_morrison_inverse(X, m, n, P, alpha);
      const std::vector<double> dir = spd_inverse(outer_product_hessian(X, m, n, P, alpha), n);
      std::vector<double> diff(rec.size());
      for (size_t i = 0; i < rec.size(); ++i) diff[i] = rec[i] - dir[i];
      CHECK_MESSAGE(max_abs(diff) / max_abs(dir) < 1e-6, "alpha " << alpha << ": " << max_abs(diff) / max_abs(dir));
    }
    // With fewer rows than parameters H is α-dominated in some directions: still exact.
    const std::vector<double> few = random_vec(3 * n, 8);
    const std::vector<double> rec = sherman_morrison_inverse(few, 3, n, 3.0, 1e-3);
    const std::vector<double> dir = spd_inverse(outer_product_hessian(few, 3, n, 3.0, 1e-3), n);
    double d = 0.0;
    for (size_t i = 0; i < rec.size(); ++i) d = std::max(d, std::fabs(rec[i] - dir[i]));
    CHECK(d / max_abs(dir) < 1e-6);
    CHECK_THROWS_AS(sherman_morrison_inverse(X, m, n, P, 0.0), std::invalid_argument);
    CHECK_THROWS_AS(sherman_morrison_inverse(X, m + 1, n, P, 1e-4), std::invalid_argument);
  }

  TEST_CASE("spd_inverse: A A^-1 = I, and a matrix that is not positive definite is refused") {
    const int64_t n = 7;
    const std::vector<double> H = random_spd(n, 3);
    const std::vector<double> Hi = spd_inverse(H, n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (int64_t k = 0; k < n; ++k) s += H[i * n + k] * Hi[k * n + j];
        CHECK(s == doctest::Approx(i == j ? 1.0 : 0.0).scale(1.0).epsilon(1e-12));
      }
    CHECK_THROWS_AS(spd_inverse({1.0, 2.0, 2.0, 1.0}, 2), std::runtime_error);
  }

  TEST_CASE("on a quadratic error surface one OBS step lands exactly on the constrained minimum, with dE = L_q") {
    const int64_t n = 6;
    const std::vector<double> H = random_spd(n, 11);
    const std::vector<double> ws = random_vec(n, 12);  // the minimum w*
    for (int64_t q = 0; q < n; ++q) {
      std::vector<double> w = ws, Hi = spd_inverse(H, n);
      const double L = obs_delete(w, Hi, q);
      CHECK(w[q] == 0.0);
      CHECK(quad(H, w, ws) == doctest::Approx(L).epsilon(1e-10));
      // The constrained minimum directly: with w_q = 0 the others solve
      // H_{-q,-q} (w − w*)_{-q} = H_{-q,q} w*_q.
      std::vector<double> Hr, rhs;
      for (int64_t i = 0; i < n; ++i) {
        if (i == q) continue;
        rhs.push_back(H[i * n + q] * ws[q]);
        for (int64_t j = 0; j < n; ++j)
          if (j != q) Hr.push_back(H[i * n + j]);
      }
      const std::vector<double> Hri = spd_inverse(Hr, n - 1);
      for (int64_t a = 0, i = 0; i < n; ++i) {
        if (i == q) continue;
        double dw = 0.0;
        for (int64_t b = 0; b < n - 1; ++b) dw += Hri[a * (n - 1) + b] * rhs[b];
        CHECK(w[i] == doctest::Approx(ws[i] + dw).epsilon(1e-10));
        // The downdated H⁻¹ is the inverse of the remaining block.
        for (int64_t b = 0, j = 0; j < n; ++j) {
          if (j == q) continue;
          CHECK(Hi[i * n + j] == doctest::Approx(Hri[a * (n - 1) + b]).epsilon(1e-10));
          ++b;
        }
        ++a;
      }
      CHECK(Hi[q * n + q] == 0.0);
      CHECK_THROWS_AS(obs_delete(w, Hi, q), std::invalid_argument);  // q is gone
    }
  }

  TEST_CASE("a diagonal H makes OBS choose like OBD (and move only w_q); an isotropic H like magnitude") {
    const std::vector<double> w{0.9, -0.2, 0.5, -1.4, 0.3};
    const std::vector<double> hd{0.5, 4.0, 0.1, 0.05, 3.0};
    const int64_t n = 5;
    std::vector<double> Hi(n * n, 0.0);
    for (int64_t i = 0; i < n; ++i) Hi[i * n + i] = 1.0 / hd[i];
    const std::vector<double> L = obs_saliency(w, Hi, {});
    const std::vector<double> s = obd_saliency(hd, w);
    for (int64_t i = 0; i < n; ++i) CHECK(L[i] == doctest::Approx(s[i]).epsilon(1e-14));
    const int64_t q = std::min_element(L.begin(), L.end()) - L.begin();
    CHECK(q == std::min_element(s.begin(), s.end()) - s.begin());
    CHECK(q != 1);  // magnitude would take w = −0.2: the diagonal case really differs from it
    std::vector<double> w2 = w;
    obs_delete(w2, Hi, q);
    for (int64_t i = 0; i < n; ++i) CHECK(w2[i] == (i == q ? 0.0 : w[i]));
    std::vector<double> iso(n * n, 0.0);
    for (int64_t i = 0; i < n; ++i) iso[i * n + i] = 1.0 / 2.5;
    const std::vector<double> Li = obs_saliency(w, iso, {});
    CHECK(std::min_element(Li.begin(), Li.end()) - Li.begin() == 1);  // smallest |w|
    const std::vector<double> Lm = obs_saliency(w, iso, {1, 0, 1, 1, 1});  // 1 is deleted already
    CHECK(std::isinf(Lm[1]));
    CHECK(std::min_element(Lm.begin(), Lm.end()) - Lm.begin() == 4);
  }

  TEST_CASE("dense_output_jacobian equals central differences of the outputs") {
    const DenseNet net = make_dense_net({3, 4, 2}, DenseActivation::sigmoid, DenseLoss::squared_error, 9);
    const double x[3] = {0.4, -0.7, 0.1};
    const std::vector<double> J = dense_output_jacobian(net, x);
    const int64_t n = net.num_params();
    const std::vector<double> u = net.flat();
    for (int64_t k = 0; k < n; ++k) {
      DenseNet m = net;
      std::vector<double> v = u;
      v[k] += 1e-6;
      m.set_flat(v);
      const std::vector<double> yp = dense_output(m, x);
      v[k] -= 2e-6;
      m.set_flat(v);
      const std::vector<double> ym = dense_output(m, x);
      for (int o = 0; o < 2; ++o) CHECK(J[o * n + k] == doctest::Approx((yp[o] - ym[o]) / 2e-6).epsilon(1e-6).scale(1e-3));
    }
  }

  TEST_CASE("obs_inverse_hessian leaves deleted parameters out: their rows and columns are 0, the rest the live block's inverse") {
    const DenseNet net = make_dense_net({2, 2, 1}, DenseActivation::sigmoid, DenseLoss::squared_error, 5);
    DenseData data;
    data.P = 4;
    data.x = {0, 0, 0, 1, 1, 0, 1, 1};
    data.d = {0, 1, 1, 0};
    std::vector<uint8_t> mask(9, 1);
    mask[2] = 0;
    const double alpha = 1e-3;
    const std::vector<double> Hi = obs_inverse_hessian(net, data, mask, alpha);
    std::vector<double> X;  // the live columns of every sample's Jacobian
    for (int64_t p = 0; p < 4; ++p) {
      const std::vector<double> J = dense_output_jacobian(net, &data.x[p * 2]);
      for (int64_t k = 0; k < 9; ++k)
        if (mask[k]) X.push_back(J[k]);
    }
    const std::vector<double> dir = spd_inverse(outer_product_hessian(X, 4, 8, 4.0, alpha), 8);
    for (int64_t i = 0; i < 9; ++i) {
      CHECK(Hi[i * 9 + 2] == 0.0);
      CHECK(Hi[2 * 9 + i] == 0.0);
    }
    for (int64_t a = 0, i = 0; i < 9; ++i) {
      if (i == 2) continue;
      for (int64_t b = 0, j = 0; j < 9; ++j) {
        if (j == 2) continue;
        CHECK(Hi[i * 9 + j] == doctest::Approx(dir[a * 8 + b]).epsilon(1e-6));
        ++b;
      }
      ++a;
    }
  }

  TEST_CASE("layer-wise OBS: each row keeps the asked count and reconstructs WX better than magnitude pruning") {
    const int64_t out = 4, in = 12, N = 200;
    // Correlated inputs: x = A z, so compensation has something to work with.
    const std::vector<double> A = random_vec(in * 4, 1);
    const std::vector<double> z = random_vec(N * 4, 2);
    std::vector<float> x(static_cast<size_t>(N * in));
    for (int64_t s = 0; s < N; ++s)
      for (int64_t i = 0; i < in; ++i) {
        double v = 0.0;
        for (int64_t k = 0; k < 4; ++k) v += A[i * 4 + k] * z[s * 4 + k];
        x[s * in + i] = static_cast<float>(v + 0.05 * std::sin(static_cast<double>(s * in + i)));
      }
    std::vector<float> W(static_cast<size_t>(out * in));
    const std::vector<double> wr = random_vec(out * in, 3);
    for (size_t k = 0; k < W.size(); ++k) W[k] = static_cast<float>(wr[k]);
    const std::vector<double> Hi = layer_inverse_hessian(x, N, in, 1e-4);
    const std::vector<int64_t> keep{12, 8, 4};
    const auto pruned = obs_prune_rows(W, out, in, Hi, keep);
    REQUIRE(pruned.size() == 3);
    auto recon_error = [&](const std::vector<float>& Wh) {
      double e = 0.0;
      for (int64_t s = 0; s < N; ++s)
        for (int64_t r = 0; r < out; ++r) {
          double d = 0.0;
          for (int64_t i = 0; i < in; ++i) d += (W[r * in + i] - Wh[r * in + i]) * x[s * in + i];
          e += d * d;
        }
      return e;
    };
    CHECK(recon_error(pruned[0]) == 0.0);  // keep all: W unchanged
    for (size_t t = 1; t < keep.size(); ++t) {
      for (int64_t r = 0; r < out; ++r)
        CHECK(std::count_if(&pruned[t][r * in], &pruned[t][(r + 1) * in], [](float v) { return v != 0.0f; }) == keep[t]);
      // Magnitude with the same per-row count, no compensation.
      std::vector<float> mag = W;
      for (int64_t r = 0; r < out; ++r) {
        std::vector<int64_t> order(static_cast<size_t>(in));
        for (int64_t i = 0; i < in; ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return std::fabs(W[r * in + a]) < std::fabs(W[r * in + b]); });
        for (int64_t k = 0; k < in - keep[t]; ++k) mag[r * in + order[k]] = 0.0f;
      }
      CHECK(recon_error(pruned[t]) < 0.5 * recon_error(mag));
    }
    CHECK_THROWS_AS(obs_prune_rows(W, out, in, Hi, {4, 8}), std::invalid_argument);  // not descending
  }

  TEST_CASE("MONK's files: parsed, one-hot encoded, and errors name the file and line") {
    const std::vector<MonksExample> ex = parse_monks(" 1 1 1 1 1 3 1 data_5\n 0 3 2 2 3 4 2 data_432\n\n", "t.train");
    REQUIRE(ex.size() == 2);
    CHECK(ex[0].label == 1);
    CHECK(ex[1].a == std::array<int, 6>{3, 2, 2, 3, 4, 2});
    const auto x = monks_one_hot(ex[1]);
    // a1 = 3 → position 2; a2 = 2 → 4; a3 = 2 → 7; a4 = 3 → 10; a5 = 4 → 14; a6 = 2 → 16.
    std::array<double, 17> want{};
    for (int k : {2, 4, 7, 10, 14, 16}) want[static_cast<size_t>(k)] = 1.0;
    CHECK(x == want);
    auto error_of = [](const std::string& text) {
      try {
        parse_monks(text, "m.test");
      } catch (const std::runtime_error& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    CHECK(error_of("1 1 1 1 1 1 1 a\n2 1 1 1 1 1 1 b\n").find("m.test:2: class") != std::string::npos);
    CHECK(error_of("1 1 1 3 1 1 1 a\n").find("m.test:1: a3: expected an integer in 1..2, found '3'") != std::string::npos);
    CHECK(error_of("1 1 1 1 1 5 1 a\n").find("a5") != std::string::npos);
    CHECK(error_of("1 1 x 1 1 1 1 a\n").find("a2") != std::string::npos);
    CHECK(error_of("\n\n1 1 1\n").find("m.test:3: expected 8 fields") != std::string::npos);
    CHECK(error_of("\n").find("found none") != std::string::npos);
    CHECK_THROWS_AS(load_monks("", 4, "train"), std::invalid_argument);
    CHECK_THROWS_AS(load_monks("/nonexistent-dir", 1, "train"), std::runtime_error);
  }

  TEST_CASE("the UCI MONK-1 files, where present, have 124 / 432 examples labelled by (a1 = a2) or (a5 = 1)") {
    std::vector<MonksExample> train, test;
    try {
      train = load_monks("", 1, "train");
      test = load_monks("", 1, "test");
    } catch (const std::runtime_error& e) {
      MESSAGE("MONK's files not found, skipped: " << e.what());
      return;
    }
    CHECK(train.size() == 124);
    CHECK(test.size() == 432);
    for (const auto* set : {&train, &test})
      for (const MonksExample& e : *set) CHECK(e.label == ((e.a[0] == e.a[1] || e.a[4] == 1) ? 1 : 0));
  }
}
