// tests/test_lowrank_svd.cpp — TEST_SUITE("lowrank_svd"): Denton et al. 2014, and the dense
// linear algebra written for it (compression/lowrank/svd.h): the one-sided Jacobi SVD (U, V
// orthonormal, UΣVᵀ = A, sorted singular values against a closed form, rank-deficient, tall and
// wide inputs, Eckart–Young against perturbations) and the symmetric Jacobi eigensolver.
// Book: book/12-lowrank_svd.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "compression/lowrank/svd.h"
#include "engine/rng.h"

using namespace mgf;

namespace {

std::vector<double> random_matrix(int64_t r, int64_t c, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> a(static_cast<size_t>(r * c));
  for (auto& x : a) x = rng.normal();
  return a;
}

// max |XᵀX − I| for a rows × k row-major matrix X.
double orthonormality_error(const std::vector<double>& x, int64_t rows, int64_t k) {
  double worst = 0.0;
  for (int64_t p = 0; p < k; ++p)
    for (int64_t q = 0; q < k; ++q) {
      double acc = 0.0;
      for (int64_t i = 0; i < rows; ++i) acc += x[i * k + p] * x[i * k + q];
      worst = std::max(worst, std::fabs(acc - (p == q ? 1.0 : 0.0)));
    }
  return worst;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

double frob(const std::vector<double>& a, const std::vector<double>& b) {
  double acc = 0.0;
  for (size_t i = 0; i < a.size(); ++i) acc += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(acc);
}

// The checks every decomposition must pass, within 1e-10 (double precision, matrices ≤ 60 wide).
void check_svd(const std::vector<double>& a, int64_t rows, int64_t cols) {
  const Svd d = svd(a.data(), rows, cols);
  CHECK(d.rows == rows);
  CHECK(d.cols == cols);
  CHECK(d.rank == std::min(rows, cols));
  CHECK(orthonormality_error(d.u, rows, d.rank) < 1e-10);
  CHECK(orthonormality_error(d.v, cols, d.rank) < 1e-10);
  for (int64_t r = 0; r < d.rank; ++r) {
    CHECK(d.s[r] >= 0.0);
    if (r > 0) CHECK(d.s[r] <= d.s[r - 1]);
  }
  CHECK(max_abs_diff(svd_reconstruct(d, d.rank), a) < 1e-10);
}

}  // namespace

TEST_SUITE("lowrank_svd") {

TEST_CASE("svd: U and V orthonormal and U·diag(s)·Vᵀ = A on square, tall and wide random inputs") {
  check_svd(random_matrix(7, 7, 1), 7, 7);
  check_svd(random_matrix(40, 9, 2), 40, 9);    // tall
  check_svd(random_matrix(9, 40, 3), 9, 40);    // wide: runs on Aᵀ
  check_svd(random_matrix(1, 5, 4), 1, 5);
  check_svd(random_matrix(5, 1, 5), 5, 1);
  check_svd(random_matrix(1, 1, 6), 1, 1);
}

TEST_CASE("svd: singular values of a known closed form, sorted descending") {
  // A = Q1 · diag(5, 3, 2, 0.5) · Q2ᵀ built from Householder reflections Q = I − 2 w wᵀ/‖w‖²,
  // so the singular values are exactly {5, 3, 2, 0.5} in whatever order they were placed.
  const int64_t m = 6, n = 4;
  const double sig[4] = {2.0, 5.0, 0.5, 3.0};   // deliberately unsorted
  auto householder = [](int64_t k, const std::vector<double>& w) {
    double ww = 0.0;
    for (double x : w) ww += x * x;
    std::vector<double> q(static_cast<size_t>(k * k));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) q[i * k + j] = (i == j ? 1.0 : 0.0) - 2.0 * w[i] * w[j] / ww;
    return q;
  };
  const auto q1 = householder(m, {1, -2, 0.5, 3, 1, -1});
  const auto q2 = householder(n, {2, 1, -1, 0.5});
  std::vector<double> a(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t r = 0; r < n; ++r) a[i * n + j] += q1[i * m + r] * sig[r] * q2[j * n + r];
  const Svd d = svd(a.data(), m, n);
  const double want[4] = {5.0, 3.0, 2.0, 0.5};
  for (int r = 0; r < 4; ++r) CHECK(d.s[r] == doctest::Approx(want[r]).epsilon(1e-12));
  check_svd(a, m, n);
  // The 2×2 [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5) (σ1σ2 = |det| = 15,
  // σ1² + σ2² = ‖A‖_F² = 50).
  const double b[4] = {3, 0, 4, 5};
  const Svd e = svd(b, 2, 2);
  CHECK(e.s[0] == doctest::Approx(std::sqrt(45.0)).epsilon(1e-13));
  CHECK(e.s[1] == doctest::Approx(std::sqrt(5.0)).epsilon(1e-13));
}

TEST_CASE("svd: rank-deficient inputs have exact zeros and a completed orthonormal U") {
  // Rank 2 inside 8 × 5: A = X Yᵀ with X 8×2, Y 5×2.
  const auto x = random_matrix(8, 2, 11), y = random_matrix(5, 2, 12);
  std::vector<double> a(40, 0.0);
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 5; ++j) a[i * 5 + j] = x[i * 2] * y[j * 2] + x[i * 2 + 1] * y[j * 2 + 1];
  const Svd d = svd(a.data(), 8, 5);
  CHECK(d.s[1] > 1e-3);
  for (int r = 2; r < 5; ++r) CHECK(d.s[r] < 1e-12 * d.s[0]);
  check_svd(a, 8, 5);
  // The zero matrix, and a matrix with two equal columns, wide.
  check_svd(std::vector<double>(12, 0.0), 3, 4);
  const Svd z = svd(std::vector<double>(12, 0.0).data(), 3, 4);
  for (double s : z.s) CHECK(s == 0.0);
  std::vector<double> w = random_matrix(3, 6, 13);
  for (int64_t i = 0; i < 3; ++i) w[i * 6 + 4] = w[i * 6 + 1];
  check_svd(w, 3, 6);
}

TEST_CASE("svd: the truncation is the best rank-K approximation (Eckart–Young) against perturbations") {
  const int64_t m = 12, n = 10;
  const auto a = random_matrix(m, n, 21);
  const Svd d = svd(a.data(), m, n);
  for (int64_t k : {1, 3, 6}) {
    const auto ak = svd_reconstruct(d, k);
    const double best = frob(a, ak);
    CHECK(best == doctest::Approx(svd_truncation_error(d, k)).epsilon(1e-10));
    // Any other rank-k matrix is worse. Perturb the factors: (U_k + εE)(diag s_k)(V_k + εF)ᵀ is
    // still rank ≤ k; its error must not be smaller (up to rounding).
    Rng rng(static_cast<uint64_t>(100 + k));
    for (int trial = 0; trial < 20; ++trial) {
      const double eps = trial < 10 ? 1e-3 : 1e-1;
      std::vector<double> u(static_cast<size_t>(m * k)), v(static_cast<size_t>(n * k));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t r = 0; r < k; ++r) u[i * k + r] = d.u[i * d.rank + r] + eps * rng.normal();
      for (int64_t j = 0; j < n; ++j)
        for (int64_t r = 0; r < k; ++r) v[j * k + r] = d.v[j * d.rank + r] + eps * rng.normal();
      std::vector<double> p(static_cast<size_t>(m * n), 0.0);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          for (int64_t r = 0; r < k; ++r) p[i * n + j] += u[i * k + r] * d.s[r] * v[j * k + r];
      CHECK(frob(a, p) >= best - 1e-12);
    }
  }
  CHECK(svd_truncation_error(d, d.rank) == 0.0);
  CHECK_THROWS_AS(svd_reconstruct(d, d.rank + 1), std::invalid_argument);
  CHECK_THROWS_AS(svd_truncation_error(d, -1), std::invalid_argument);
}

TEST_CASE("svd: bad shapes rejected") {
  const double a[1] = {1.0};
  CHECK_THROWS_AS(svd(a, 0, 3), std::invalid_argument);
  CHECK_THROWS_AS(svd(a, 3, -1), std::invalid_argument);
  const float f[1] = {1.0f};
  CHECK_THROWS_AS(svd(f, 0, 1), std::invalid_argument);
}

TEST_CASE("svd: the float overload agrees with the double one") {
  const auto a = random_matrix(6, 4, 31);
  std::vector<float> af(a.begin(), a.end());
  std::vector<double> ad(af.begin(), af.end());
  const Svd d = svd(ad.data(), 6, 4), f = svd(af.data(), 6, 4);
  for (int r = 0; r < 4; ++r) CHECK(f.s[r] == doctest::Approx(d.s[r]).epsilon(1e-14));
}

TEST_CASE("sym_eig: Q orthonormal, Q·diag(w)·Qᵀ = A, eigenvalues sorted and matching SVD of AᵀA") {
  const int64_t m = 9, n = 6;
  const auto x = random_matrix(m, n, 41);
  std::vector<double> g(static_cast<size_t>(n * n), 0.0);   // G = XᵀX, symmetric PSD
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < m; ++k) g[i * n + j] += x[k * n + i] * x[k * n + j];
  const SymEig e = sym_eig(g.data(), n);
  CHECK(orthonormality_error(e.q, n, n) < 1e-10);
  std::vector<double> back(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t r = 0; r < n; ++r) back[i * n + j] += e.q[i * n + r] * e.w[r] * e.q[j * n + r];
  CHECK(max_abs_diff(back, g) < 1e-10);
  const Svd d = svd(x.data(), m, n);   // eig(XᵀX) = σ(X)²
  for (int64_t r = 0; r < n; ++r) {
    if (r > 0) CHECK(e.w[r] <= e.w[r - 1]);
    CHECK(e.w[r] == doctest::Approx(d.s[r] * d.s[r]).epsilon(1e-10));
  }
  // Closed form with a negative eigenvalue: [[2, 1], [1, 2]] → {3, 1}; [[0, 1], [1, 0]] → {1, −1}.
  const double b[4] = {2, 1, 1, 2}, c[4] = {0, 1, 1, 0};
  const SymEig eb = sym_eig(b, 2), ec = sym_eig(c, 2);
  CHECK(eb.w[0] == doctest::Approx(3.0));
  CHECK(eb.w[1] == doctest::Approx(1.0));
  CHECK(ec.w[0] == doctest::Approx(1.0));
  CHECK(ec.w[1] == doctest::Approx(-1.0));
  CHECK_THROWS_AS(sym_eig(b, 0), std::invalid_argument);
}

}  // TEST_SUITE
