// tests/test_lowrank_svd.cpp — TEST_SUITE("lowrank_svd"): Denton et al. 2014, and the dense
// linear algebra written for it (compression/lowrank/svd.h): the one-sided Jacobi SVD (U, V
// orthonormal, UΣVᵀ = A, sorted singular values against a closed form, rank-deficient, tall and
// wide inputs, Eckart–Young against perturbations) and the symmetric Jacobi eigensolver; and the
// fine-tuning whose length is chosen on validation (compression/lowrank/experiment.h).
// Book: book/12-lowrank_svd.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "compression/lowrank/denton.h"
#include "compression/lowrank/experiment.h"
#include "compression/lowrank/svd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "layers/shape.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::expect_all_close;
using mgf::testing::kAccumulate;
using mgf::testing::random_tensor;

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

TEST_CASE("fc by truncated SVD: the two Linear layers equal the dense layer W̃ = U_K S_K V_Kᵀ they stand for") {
  Linear dense(12, 9);
  dense.weight.var.value() = random_tensor({9, 12}, 71);
  dense.bias->var.value() = random_tensor({9}, 72);
  const Tensor x = random_tensor({5, 12}, 73);
  std::vector<double> wd(dense.weight.var.value().data(), dense.weight.var.value().data() + 108);
  const Svd d = svd(wd.data(), 9, 12);
  for (int64_t k : {1, 4, 9}) {
    auto f = factor_linear_svd(dense, k);
    CHECK(f->num_parameters() == (12 + 9) * k + 9);
    const auto wk = svd_reconstruct(d, k);
    Tensor wt({9, 12});
    for (int64_t i = 0; i < 108; ++i) wt[i] = static_cast<float>(wk[i]);
    NoGradGuard ng;
    expect_all_close(f->forward(Var(x)).value(), linear(Var(x), Var(wt), dense.bias->var).value(), kAccumulate,
                     "factored fc vs its reconstruction");
  }
  // Full rank: the original layer.
  NoGradGuard ng;
  expect_all_close(factor_linear_svd(dense, 9)->forward(Var(x)).value(), dense.forward(Var(x)).value(), kAccumulate,
                   "full rank");
  CHECK_THROWS_AS(factor_linear_svd(dense, 0), std::invalid_argument);
  CHECK_THROWS_AS(factor_linear_svd(dense, 10), std::invalid_argument);
  CHECK_THROWS_AS(factor_linear_data(dense, 2, random_tensor({5, 11}, 1)), std::invalid_argument);
}

TEST_CASE("‖W‖_data: the covariance-weighted factorisation has the smaller output error on correlated inputs") {
  // Inputs that live near a 3-dimensional subspace of R^16: the plain SVD spends its rank on
  // directions of W the data never excites; the data-weighted one does not.
  Linear dense(16, 10);
  dense.weight.var.value() = random_tensor({10, 16}, 81);
  const int64_t n = 400;
  const Tensor basis = random_tensor({3, 16}, 82), coef = random_tensor({n, 3}, 83), noise = random_tensor({n, 16}, 84);
  Tensor x({n, 16});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < 16; ++j) {
      double v = 0.01 * noise[i * 16 + j];
      for (int64_t t = 0; t < 3; ++t) v += coef[i * 3 + t] * basis[t * 16 + j];
      x[i * 16 + j] = static_cast<float>(v);
    }
  for (int64_t k : {1, 2, 3}) {
    const double plain = linear_output_error(dense, *factor_linear_svd(dense, k), x);
    const double data = linear_output_error(dense, *factor_linear_data(dense, k, x), x);
    CAPTURE(k);
    CHECK(data <= plain + 1e-6);
  }
  // At K = 3 the data's subspace is covered: output error at the noise level.
  CHECK(linear_output_error(dense, *factor_linear_data(dense, 3, x), x) < 0.02);
  CHECK(linear_output_error(dense, *factor_linear_svd(dense, 3), x) > 0.05);
}

TEST_CASE("ALS for a K-term decomposition: the loss never increases and reaches the SVD's Eckart–Young error") {
  const auto a = random_matrix(15, 11, 91);
  const Svd d = svd(a.data(), 15, 11);
  for (int64_t k : {1, 3, 6}) {
    const AlsResult r = als_lowrank(a.data(), 15, 11, k, 200, 92);
    for (size_t i = 1; i < r.loss.size(); ++i) CHECK(r.loss[i] <= r.loss[i - 1] * (1 + 1e-12) + 1e-12);
    const double best = svd_truncation_error(d, k);
    CHECK(std::sqrt(r.loss.back()) >= best * (1 - 1e-9));
    CHECK(std::sqrt(r.loss.back()) <= best * 1.01);
  }
  CHECK_THROWS_AS(als_lowrank(a.data(), 15, 11, 12, 5, 1), std::invalid_argument);
}

TEST_CASE("balanced k-means: equal clusters, and well-separated blobs are recovered") {
  // 12 points: two blobs of 6 around ±5 in R^3, interleaved.
  std::vector<float> pts(36);
  Rng rng(101);
  for (int i = 0; i < 12; ++i)
    for (int t = 0; t < 3; ++t) pts[i * 3 + t] = (i % 2 ? 5.0f : -5.0f) + 0.1f * rng.normal();
  const auto cl = balanced_kmeans(pts.data(), 12, 3, 2, 7);
  for (int i = 2; i < 12; ++i) CHECK(cl[i] == cl[i % 2]);
  CHECK(cl[0] != cl[1]);
  const auto c4 = balanced_kmeans(pts.data(), 12, 3, 4, 7);
  std::vector<int> count(4, 0);
  for (auto c : c4) ++count[c];
  for (int c : count) CHECK(c == 3);
  CHECK_THROWS_AS(balanced_kmeans(pts.data(), 12, 3, 5, 7), std::invalid_argument);
}

TEST_CASE("gather_channels: a permutation forward, its gradient by central differences") {
  Var x(random_tensor({2, 4, 3, 2}, 111), true);
  const std::vector<int64_t> idx{2, 0, 3, 1, 2};
  CHECK(check_gradients([&](const std::vector<Var>& v) { return gather_channels(v[0], idx); }, {x}));
  CHECK_THROWS_AS(gather_channels(x, {4}), std::invalid_argument);
}

TEST_CASE("biclustering: the grouped factored conv equals the dense conv of its blocks; exact at full rank") {
  Conv2d dense(6, 8, 3);
  dense.weight.var.value() = random_tensor({8, 6, 3, 3}, 121, -0.5f, 0.5f);
  dense.bias->var.value() = random_tensor({8}, 122);
  const Tensor x = random_tensor({2, 6, 7, 7}, 123);
  // Full rank per block (K = N/H = 4 ≤ C/G·d² = 27): every sub-tensor is kept exactly.
  BiclusteredConv full(dense, 2, 2, 4, 5);
  NoGradGuard ng;
  expect_all_close(full.forward(Var(x)).value(), dense.forward(Var(x)).value(), kAccumulate, "full rank");
  for (double e : full.block_error) CHECK(e < 1e-6);
  // Rank 1: the layer is the dense conv with every (g, h) block replaced by its rank-1 part;
  // the relative error of the output is bounded by the blocks' weight error (here < 1).
  BiclusteredConv low(dense, 2, 2, 1, 5);
  CHECK(low.in_perm.size() == 6u);
  CHECK(low.factored_macs_per_pixel() == 9 * 6 * 2 * 1 + 2 * 1 * 8);
  const Tensor a = dense.forward(Var(x)).value(), b = low.forward(Var(x)).value();
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += double(a[i]) * a[i];
  CHECK(std::sqrt(num / den) < 1.0);
  CHECK(std::sqrt(num / den) > 1e-3);
  CHECK_THROWS_AS(BiclusteredConv(dense, 4, 2, 1, 5), std::invalid_argument);   // 4 does not divide 6
  CHECK_THROWS_AS(BiclusteredConv(dense, 2, 2, 5, 5), std::invalid_argument);   // K > N/H
}

TEST_CASE("biclustering: folding the permutations into the neighbours leaves the network's output unchanged") {
  // producer conv → relu (channel-wise) → biclustered conv → flatten → consumer Linear.
  Conv2d producer(2, 6, 3), dense(6, 8, 3);
  producer.weight.var.value() = random_tensor({6, 2, 3, 3}, 131);
  producer.bias->var.value() = random_tensor({6}, 132);
  dense.weight.var.value() = random_tensor({8, 6, 3, 3}, 133);
  dense.bias->var.value() = random_tensor({8}, 134);
  const int64_t per = 3 * 3;   // 7×7 → 5×5 → 3×3
  Linear consumer(8 * per, 4);
  consumer.weight.var.value() = random_tensor({4, 8 * per}, 135);
  const Tensor x = random_tensor({2, 2, 7, 7}, 136);
  auto run = [&](Conv2d& p, BiclusteredConv& b, Linear& c) {
    NoGradGuard ng;
    return c.forward(flatten(b.forward(relu(p.forward(Var(x)))))).value();
  };
  BiclusteredConv plain(dense, 2, 2, 2, 9), folded(dense, 2, 2, 2, 9);
  Conv2d p2(2, 6, 3);
  p2.weight.var.value() = producer.weight.var.value().clone();
  p2.bias->var.value() = producer.bias->var.value().clone();
  Linear c2(8 * per, 4);
  c2.weight.var.value() = consumer.weight.var.value().clone();
  c2.bias->var.value() = consumer.bias->var.value().clone();
  folded.fold_permutations(p2, c2, per);
  CHECK(folded.folded);
  expect_all_close(run(p2, folded, c2), run(producer, plain, consumer), kAccumulate, "folded vs gathered");
  CHECK_THROWS_AS(folded.fold_permutations(p2, c2, per), std::logic_error);
  BiclusteredConv other(dense, 2, 2, 2, 9);
  CHECK_THROWS_AS(other.fold_permutations(p2, c2, per + 1), std::invalid_argument);
}

TEST_CASE("fine-tuning with the epochs chosen on validation: the state left is the best one seen, 0 epochs included") {
  // Two Gaussian blobs in 4 dimensions, labels by blob; a Flatten, Linear 4 → 2 head.
  auto blobs = [](int64_t n, uint64_t seed) {
    Rng rng(seed);
    Dataset d;
    d.num_classes = 2;
    d.images = Tensor({n, 1, 1, 4});   // the DataLoader takes images [N, C, H, W]
    for (int64_t i = 0; i < n; ++i) {
      const int32_t y = static_cast<int32_t>(i % 2);
      d.labels.push_back(y);
      for (int64_t j = 0; j < 4; ++j) d.images[i * 4 + j] = (y ? 1.0f : -1.0f) * (j == 0 ? 1.0f : 0.0f) + 0.8f * rng.normal();
    }
    return d;
  };
  const Dataset train = blobs(256, 1), val = blobs(200, 2);
  set_training_output(false);
  {
    auto lin = std::make_shared<Linear>(4, 2);
    Sequential head;
    head.add("flatten", std::make_shared<Flatten>());
    head.add("fc", lin);
    const FinetuneChoice c = finetune_choose_epochs(head, lin->parameters(), train, val, 4, 0.05f, 3);
    REQUIRE(c.val_per_epoch.size() == 5);
    CHECK(c.val_error == *std::min_element(c.val_per_epoch.begin(), c.val_per_epoch.end()));
    CHECK(c.val_per_epoch[static_cast<size_t>(c.epochs)] == c.val_error);
    CHECK(evaluate(head, val).error_rate() == c.val_error);   // the parameters are those of the chosen epoch
    CHECK(c.val_error < c.val_per_epoch[0]);                  // a random head: training helps
  }
  {
    // A head that is already the best on validation (no strictly lower error can follow): the
    // choice is 0 epochs and the parameters come back bit for bit, although training moved them.
    auto lin = std::make_shared<Linear>(4, 2);
    Tensor& w = lin->weight.var.value();
    for (int64_t i = 0; i < w.numel(); ++i) w[i] = 0.0f;
    w[0] = -1.0f;
    w[4] = 1.0f;   // class 1 iff x_0 > 0: the Bayes rule of the blobs
    lin->bias->var.value()[0] = lin->bias->var.value()[1] = 0.0f;
    Sequential head;
    head.add("flatten", std::make_shared<Flatten>());
    head.add("fc", lin);
    const double e0 = evaluate(head, val).error_rate();
    const Tensor w0 = w.clone();
    // A learning rate far too large: every epoch lands somewhere worse or equal.
    const FinetuneChoice c = finetune_choose_epochs(head, lin->parameters(), train, val, 3, 50.0f, 4);
    CHECK(c.epochs == 0);
    CHECK(c.val_error == e0);
    CHECK(*std::max_element(c.val_per_epoch.begin(), c.val_per_epoch.end()) > e0);   // training did move them
    for (int64_t i = 0; i < w0.numel(); ++i) CHECK(lin->weight.var.value()[i] == w0[i]);
  }
  set_training_output(true);
}

}  // TEST_SUITE
