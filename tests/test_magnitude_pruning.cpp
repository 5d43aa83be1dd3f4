// tests/test_magnitude_pruning.cpp — TEST_SUITE("magnitude_pruning"): Han et al. 2015 masks,
// thresholds and schedules; the CSR format; the sparse kernels (scalar = AVX2, sparse = dense
// masked layer); the sensitivity scan. Book: book/14-magnitude_pruning.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "compression/coding/csr.h"
#include "compression/pruning/magnitude.h"
#include "compression/pruning/retrain.h"
#include "compression/pruning/sensitivity.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/train.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::expect_all_close;
using mgf::testing::kExact;
using mgf::testing::kKernelParity;
using mgf::testing::random_tensor;

namespace {

// A random matrix with about `density` of its entries nonzero (deterministic).
Tensor random_sparse(int64_t rows, int64_t cols, double density, uint64_t seed) {
  Tensor w = random_tensor({rows, cols}, seed);
  Rng r(seed + 99);
  for (int64_t i = 0; i < w.numel(); ++i)
    if (r.uniform() >= density) w[i] = 0.0f;
  return w;
}


Parameter make_param(Tensor w) {
  Parameter p;
  p.name = "weight";
  p.var = Var(std::move(w), true);
  return p;
}

class TwoLayer : public Module {
 public:
  TwoLayer() {
    w1 = &register_parameter("fc1.weight", random_tensor({4, 6}, 1));
    b1 = &register_parameter("fc1.bias", random_tensor({4}, 2));
    w2 = &register_parameter("conv.weight", random_tensor({2, 1, 3, 3}, 3));
  }
  Var forward(const Var& x) override { return linear(x, w1->effective(), b1->effective()); }
  std::string type_name() const override { return "TwoLayer"; }
  Parameter *w1, *b1, *w2;
};

// One linear layer on flattened 8x8 images (synthetic_dataset's), for the retraining tests.
class FlatLinear : public Module {
 public:
  FlatLinear() { w = &register_parameter("fc.weight", random_tensor({4, 64}, 7, -0.1f, 0.1f)); }
  Var forward(const Var& x) override { return linear(flatten(x), w->effective(), Var()); }
  std::string type_name() const override { return "FlatLinear"; }
  Parameter* w;
};

const int64_t kSizes[] = {1, 7, 8, 9, 31, 33, 1027};

}  // namespace

TEST_SUITE("magnitude_pruning") {
  // ---- thresholds and masks (Han §3) -------------------------------------------------------
  TEST_CASE("threshold is the quality parameter times the std of the layer's weights") {
    Tensor w({4}, {1.0f, -1.0f, 3.0f, -3.0f});  // mean 0, population std sqrt(5)
    CHECK(weight_std(w) == doctest::Approx(std::sqrt(5.0)));
    CHECK(std_threshold(w, 0.5f) == doctest::Approx(0.5 * std::sqrt(5.0)));
    CHECK(std_threshold(w, 0.0f) == 0.0f);
    CHECK_THROWS_AS(std_threshold(w, -1.0f), std::invalid_argument);
    CHECK_THROWS_AS(weight_std(Tensor()), std::invalid_argument);
  }

  TEST_CASE("magnitude mask keeps |w| > threshold; a weight exactly at the threshold is pruned") {
    Tensor w({5}, {0.5f, -0.5f, 0.49f, -2.0f, 0.0f});
    Tensor m = magnitude_mask(w, 0.5f);
    CHECK(m.to_vector() == std::vector<float>{0, 0, 0, 1, 0});
    CHECK(magnitude_mask(w, 0.1f).to_vector() == std::vector<float>{1, 1, 1, 1, 0});
  }

  TEST_CASE("target-sparsity mode keeps exactly round(keep*n) of the largest magnitudes") {
    Tensor w = random_tensor({10, 13}, 7);
    for (double keep : {0.0, 0.08, 0.26, 0.5, 1.0}) {
      Tensor m = sparsity_mask(w, keep);
      CHECK(count_nonzero(m) == std::llround(keep * 130));
      // every kept |w| >= every pruned |w|
      float min_kept = 1e9f, max_pruned = -1.0f;
      for (int64_t i = 0; i < w.numel(); ++i)
        (m[i] != 0.0f ? min_kept : max_pruned) =
            m[i] != 0.0f ? std::min(min_kept, std::fabs(w[i])) : std::max(max_pruned, std::fabs(w[i]));
      CHECK(min_kept >= max_pruned);
    }
    Tensor ties({4}, {1.0f, -1.0f, 1.0f, 0.5f});
    CHECK(sparsity_mask(ties, 0.5).to_vector() == std::vector<float>{1, 1, 0, 0});  // lower index wins a tie
    CHECK_THROWS_AS(sparsity_mask(w, 1.5), std::invalid_argument);
    CHECK_THROWS_AS(sparsity_mask(w, -0.1), std::invalid_argument);
  }

  TEST_CASE("a pruned weight is zero in forward and receives zero gradient") {
    Parameter p = make_param(random_tensor({3, 5}, 11));
    Tensor m = magnitude_mask(p.var.value(), std_threshold(p.var.value(), 0.7f));
    REQUIRE(count_nonzero(m) > 0);
    REQUIRE(count_nonzero(m) < 15);
    prune_parameter(p, m);
    for (int64_t i = 0; i < 15; ++i)
      if (m[i] == 0.0f) CHECK(p.var.value()[i] == 0.0f);
    // forward: the layer output equals the output of the explicitly zeroed weight
    Var x(random_tensor({2, 5}, 12), false);
    Var y = linear(x, p.effective(), Var());
    Tensor wz = p.var.value().clone();
    Var y_ref = linear(x, Var(wz), Var());
    expect_all_close(y.value().data(), y_ref.value().data(), y.value().numel(), kExact, "forward");
    // gradient: exactly zero at every pruned position, nonzero somewhere else
    sum(y).backward();
    const Tensor& g = p.var.grad();
    int64_t nonzero_kept = 0;
    for (int64_t i = 0; i < 15; ++i) {
      if (m[i] == 0.0f) CHECK(g[i] == 0.0f);
      else nonzero_kept += g[i] != 0.0f;
    }
    CHECK(nonzero_kept > 0);
    CHECK(density(p) == doctest::Approx(count_nonzero(m) / 15.0));
  }

  TEST_CASE("pruning only removes: a second mask cannot revive a pruned connection") {
    Parameter p = make_param(Tensor({4}, {1.0f, 2.0f, 3.0f, 4.0f}));
    prune_parameter(p, Tensor({4}, {0.0f, 1.0f, 1.0f, 1.0f}));
    prune_parameter(p, Tensor({4}, {1.0f, 1.0f, 0.0f, 1.0f}));
    CHECK(p.mask.to_vector() == std::vector<float>{0, 1, 0, 1});
    CHECK(p.var.value().to_vector() == std::vector<float>{0, 2, 0, 4});
    CHECK(density(p) == doctest::Approx(0.5));
    CHECK_THROWS_AS(prune_parameter(p, Tensor({3}, 1.0f)), std::invalid_argument);
  }

  TEST_CASE("prunable parameters are the 2-D and 4-D weights, never biases") {
    TwoLayer net;
    auto ps = prunable_parameters(net);
    REQUIRE(ps.size() == 2);
    CHECK(ps[0].name == "fc1.weight");
    CHECK(ps[1].name == "conv.weight");
  }

  TEST_CASE("dropout adjustment D_r = D_o sqrt(C_ir / C_io) (Han Eq. 2)") {
    CHECK(adjusted_dropout_rate(0.5, 1000.0, 250.0) == doctest::Approx(0.25));
    CHECK(adjusted_dropout_rate(0.5, 1000.0, 1000.0) == doctest::Approx(0.5));
    CHECK(adjusted_dropout_rate(0.5, 4096.0 * 9216, 0.09 * 4096 * 9216) == doctest::Approx(0.15));
    CHECK_THROWS_AS(adjusted_dropout_rate(1.0, 10, 5), std::invalid_argument);
    CHECK_THROWS_AS(adjusted_dropout_rate(0.5, 10, 20), std::invalid_argument);
  }

  TEST_CASE("iterative schedule: geometric keep fractions from 1 to the target") {
    CHECK(iterative_keep_fraction(0.08, 0, 4) == doctest::Approx(1.0));
    CHECK(iterative_keep_fraction(0.08, 4, 4) == doctest::Approx(0.08));
    CHECK(iterative_keep_fraction(0.16, 2, 4) == doctest::Approx(0.4));
    for (int s = 1; s <= 5; ++s) CHECK(iterative_keep_fraction(0.1, s, 5) < iterative_keep_fraction(0.1, s - 1, 5));
    CHECK_THROWS_AS(iterative_keep_fraction(0.1, 6, 5), std::invalid_argument);
  }

  TEST_CASE("L1 gradient adds lambda sign(w) and nothing to pruned weights") {
    Parameter p = make_param(Tensor({4}, {0.5f, -2.0f, 0.0f, 3.0f}));
    p.var.grad() = Tensor({4}, {1.0f, 1.0f, 1.0f, 1.0f});
    add_l1_grad({&p}, 0.1f);
    CHECK(p.var.grad().to_vector() == std::vector<float>{1.1f, 0.9f, 1.0f, 1.1f});
  }

  TEST_CASE("retraining with L1: pruned weights stay exactly zero, kept ones move by an extra -lr lambda sign(w)") {
    // Han §3.1 as the example runs it: add_l1_grad() between backward and the SGD step. Two
    // copies of one masked layer take a plain SGD step on the same batch, one with L1 and one
    // without; the only difference must be lr·λ·sign(w) on the kept weights.
    TwoLayer plain, l1;
    const Tensor mask = sparsity_mask(plain.w1->var.value(), 0.5);
    prune_parameter(*plain.w1, mask);
    prune_parameter(*l1.w1, mask);
    const Tensor w0 = l1.w1->var.value().clone();
    const Tensor x = random_tensor({3, 6}, 5);
    const float lr = 0.1f, lambda = 0.01f;
    auto step = [&](TwoLayer& m, Optimizer& opt, bool with_l1) {
      opt.zero_grad();
      Var loss = sum(m(Var(x)));
      loss.backward();
      if (with_l1) add_l1_grad(m.parameters(), lambda);
      opt.step();
    };
    SGD opt_plain(plain.parameters(), SgdOptions{lr, 0.0f, 0.0f, false});
    SGD opt_l1(l1.parameters(), SgdOptions{lr, 0.0f, 0.0f, false});
    step(plain, opt_plain, false);
    step(l1, opt_l1, true);
    const Tensor& a = plain.w1->var.value();
    const Tensor& b = l1.w1->var.value();
    int64_t kept = 0;
    for (int64_t i = 0; i < w0.numel(); ++i) {
      if (mask[i] == 0.0f) {
        CHECK(b[i] == 0.0f);
        continue;
      }
      ++kept;
      const float sign = static_cast<float>((w0[i] > 0.0f) - (w0[i] < 0.0f));
      CHECK(b[i] - a[i] == doctest::Approx(-lr * lambda * sign).epsilon(1e-2).scale(0));  // within 1e-5
    }
    CHECK(kept == 12);
    // With momentum and many steps (the example's retraining), nothing pruned comes back.
    SGD opt_m(l1.parameters(), SgdOptions{lr, 0.9f, 0.0f, false});
    for (int s = 0; s < 20; ++s) step(l1, opt_m, true);
    for (int64_t i = 0; i < w0.numel(); ++i)
      if (mask[i] == 0.0f) CHECK(l1.w1->var.value()[i] == 0.0f);
    CHECK(count_nonzero(l1.w1->var.value()) <= kept);
  }

  TEST_CASE("snapshot/restore brings back every value and mask exactly, and rejects another model") {
    TwoLayer m;
    const Snapshot dense = snapshot(m);
    prune_parameter(*m.w1, sparsity_mask(m.w1->var.value(), 0.5));
    m.b1->var.value()[0] = 42.0f;
    const Snapshot pruned = snapshot(m);
    restore(m, dense);
    CHECK_FALSE(m.w1->has_mask());
    CHECK(m.w1->var.value().to_vector() == dense.values[0].to_vector());
    CHECK(m.b1->var.value()[0] != 42.0f);
    restore(m, pruned);
    REQUIRE(m.w1->has_mask());
    CHECK(m.w1->mask.to_vector() == pruned.masks[0].to_vector());
    CHECK(m.b1->var.value()[0] == 42.0f);
    CHECK(count_nonzero(m.w1->var.value()) == 12);
    FlatLinear other;
    CHECK_THROWS_AS(restore(other, pruned), std::invalid_argument);
  }

  TEST_CASE("retrain_phase: the cosine starts at lr and ends at 0, pruned weights stay exactly zero") {
    set_training_output(false);
    Dataset train = synthetic_dataset(64, 4, 8, 3);
    FlatLinear m;
    const Tensor mask = sparsity_mask(m.w->var.value(), 0.25);
    prune_parameter(*m.w, mask);
    Rng rng(5);
    DataLoader loader(train, 16, true, rng);
    for (Regularization kind : {Regularization::l2, Regularization::l1}) {
      const Regulariser reg{kind, 1e-3f};
      SGD opt = retrain_sgd(m, 0.05f, reg);
      CHECK(opt.options.weight_decay == (kind == Regularization::l2 ? 1e-3f : 0.0f));
      retrain_phase(m, opt, loader, 0.05f, true, 2, reg, "test");
      CHECK(opt.lr == doctest::Approx(0.0f));  // 2 epochs of 4 batches: the cosine's end
      for (int64_t i = 0; i < mask.numel(); ++i)
        if (mask[i] == 0.0f) CHECK(m.w->var.value()[i] == 0.0f);
      retrain_phase(m, opt, loader, 0.05f, false, 1, reg, "flat");
      CHECK(opt.lr == 0.05f);  // flat: the rate is never touched after the start
    }
    CHECK(Regulariser{Regularization::l1, 0.0005f}.name() == "L1 0.0005");
    set_training_output(true);
  }

  TEST_CASE("the threshold in force is the smallest kept |w|; count_kept sums nonzeros and sizes") {
    Tensor w({2, 3}, std::vector<float>{0.0f, -0.3f, 0.5f, 0.0f, 0.2f, -0.9f});
    CHECK(smallest_kept_magnitude(w) == 0.2f);
    CHECK(smallest_kept_magnitude(Tensor({4})) == 0.0f);  // all pruned: no threshold
    TwoLayer m;
    prune_parameter(*m.w1, sparsity_mask(m.w1->var.value(), 0.5));  // 12 of 24 kept
    const KeptCount c = count_kept(prunable_parameters(m));           // fc1 (24) and conv (18), not the bias
    CHECK(c.kept == 12 + 18);
    CHECK(c.total == 24 + 18);
  }

  TEST_CASE("iterative_prune_retrain walks the geometric keep fractions, then a final phase without pruning") {
    set_training_output(false);
    Dataset train = synthetic_dataset(64, 4, 8, 3);
    FlatLinear m;
    const auto layers = prunable_parameters(m);
    Rng rng(5);
    DataLoader loader(train, 16, true, rng);
    IterativePruning ip;
    ip.final_keep = {0.25};
    ip.steps = 2;
    ip.epochs_per_step = 1;
    ip.final_epochs = 1;
    ip.lr = 0.05f;
    ip.reg = Regulariser{Regularization::l2, 1e-3f};
    int evaluations = 0;
    std::vector<double> quality_used;
    const auto rows = iterative_prune_retrain(m, layers, loader, ip, [&] { return 0.01 * ++evaluations; }, quality_used);
    REQUIRE(rows.size() == 3);  // two pruning steps and the final phase
    CHECK(evaluations == 6);    // after pruning and after retraining, each step
    CHECK(rows[0].pruned);
    CHECK(rows[0].kept == std::llround(iterative_keep_fraction(0.25, 1, 2) * 256));  // 50 % of 256
    CHECK(rows[1].kept == 64);
    CHECK_FALSE(rows[2].pruned);
    CHECK(rows[2].kept == 64);  // nothing pruned, nothing revived
    CHECK(rows[2].total == 256);
    CHECK(rows[1].error_pruned == doctest::Approx(0.03));
    CHECK(rows[1].error_retrained == doctest::Approx(0.04));
    REQUIRE(quality_used.size() == 1);
    CHECK(quality_used[0] > 0.0);
    // quality mode: the last threshold is q x std(dense W), so every survivor is above it
    FlatLinear q;
    const auto qlayers = prunable_parameters(q);
    ip.quality = {1.0};
    ip.steps = 1;
    ip.final_epochs = 0;
    iterative_prune_retrain(q, qlayers, loader, ip, [] { return 0.0; }, quality_used);
    CHECK(quality_used[0] > 1.0);
    ip.final_keep = {0.25, 0.5};  // two fractions for one layer
    CHECK_THROWS_AS(iterative_prune_retrain(q, qlayers, loader, ip, [] { return 0.0; }, quality_used),
                    std::invalid_argument);
    set_training_output(true);
  }

  TEST_CASE("the regularization flag takes l2 or l1 and names what it found otherwise") {
    CHECK(parse_regularization("l2") == Regularization::l2);
    CHECK(parse_regularization("l1") == Regularization::l1);
    for (const char* bad : {"L1", "", "l1l2", "elastic"}) {
      try {
        parse_regularization(bad);
        FAIL("accepted '" << bad << "'");
      } catch (const std::invalid_argument& e) {
        const std::string msg = e.what();
        CHECK(msg.find("l2 or l1") != std::string::npos);
        CHECK(msg.find("'" + std::string(bad) + "'") != std::string::npos);
      }
    }
  }

  // ---- CSR format --------------------------------------------------------------------------
  TEST_CASE("CSR round trips: empty rows, all-zero matrix, 1x1, ragged sizes") {
    Tensor w({4, 5}, {0, 0, 0, 0, 0,  1, 0, 2, 0, 3,  0, 0, 0, 0, 0,  0, 0, 0, 0, 4});
    CsrMatrix a = csr_from_tensor(w);
    CHECK(a.row_ptr == std::vector<int32_t>{0, 0, 3, 3, 4});
    CHECK(a.col_idx == std::vector<int32_t>{0, 2, 4, 4});
    CHECK(a.values == std::vector<float>{1, 2, 3, 4});
    CHECK(to_dense(a).to_vector() == w.to_vector());
    CHECK(a.storage_bytes() == 5 * 4 + 4 * 4 + 4 * 4);

    CsrMatrix z = csr_from_tensor(Tensor({3, 7}));
    CHECK(z.nnz() == 0);
    CHECK(z.row_ptr == std::vector<int32_t>{0, 0, 0, 0});
    CHECK(count_nonzero(to_dense(z)) == 0);

    CsrMatrix one = csr_from_tensor(Tensor({1, 1}, std::vector<float>{-2.5f}));
    CHECK(one.nnz() == 1);
    CHECK(to_dense(one).item() == -2.5f);

    for (int64_t rows : {1, 7, 33})
      for (int64_t cols : kSizes) {
        Tensor d = random_sparse(rows, cols, 0.3, static_cast<uint64_t>(rows * 1000 + cols));
        CsrMatrix c = csr_from_tensor(d);
        CHECK_NOTHROW(csr_validate(c));
        CHECK(c.nnz() == count_nonzero(d));
        CHECK(to_dense(c).to_vector() == d.to_vector());
      }
    // a conv weight [OC, C, KH, KW] is the [OC, C·KH·KW] matrix of the im2col form
    Tensor conv = random_sparse(2, 12, 0.5, 5).reshape({2, 3, 2, 2});
    CsrMatrix cc = csr_from_tensor(conv);
    CHECK(cc.rows == 2);
    CHECK(cc.cols == 12);
    CHECK_THROWS_AS(csr_from_tensor(Tensor({3})), std::invalid_argument);
  }

  TEST_CASE("invalid CSR is rejected with a message naming expected and found") {
    CsrMatrix good = csr_from_tensor(Tensor({2, 3}, {1, 0, 2, 0, 3, 0}));
    auto expect_bad = [](CsrMatrix a, const std::string& needle) {
      try {
        csr_validate(a);
        FAIL_CHECK("expected csr_validate to throw: " << needle);
      } catch (const std::invalid_argument& e) {
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
      }
    };
    CsrMatrix a = good;
    a.row_ptr.pop_back();
    expect_bad(a, "row_ptr of size");
    a = good;
    a.col_idx[0] = 3;
    expect_bad(a, "column in [0, 3)");
    a = good;
    a.col_idx[1] = 0;
    expect_bad(a, "increasing columns");
    a = good;
    a.values.pop_back();
    expect_bad(a, "equal size");
    a = good;
    a.row_ptr[1] = 3;
    a.row_ptr[2] = 2;
    expect_bad(a, "row_ptr[rows] = nnz");
    a = good;
    a.row_ptr = {0, 2, 1, 3};  // three rows, the second one ending before it starts
    a.rows = 3;
    expect_bad(a, "non-decreasing");
    CHECK_THROWS_AS(to_dense(a), std::invalid_argument);
  }

  // ---- kernels: scalar = AVX2 ----------------------------------------------------------------
  TEST_CASE("csr_matvec: scalar = AVX2 gather = AVX2 loads = AVX2 unrolled (within float reassociation)") {
    // Not bit-exact: AVX2 sums 8 / 16 (gather, loads) or 4 (unrolled) partial sums with FMA, scalar sums in
    // order with a separate multiply and add. Budget: atol 1e-5 + rtol 1e-5.
    for (int64_t cols : kSizes)
      for (int64_t rows : {1, 9, 33}) {
        CAPTURE(rows);
        CAPTURE(cols);
        CsrMatrix W = csr_from_tensor(random_sparse(rows, cols, 0.6, static_cast<uint64_t>(cols + 7 * rows)));
        Tensor x = random_tensor({cols}, 3);
        std::vector<float> ys(rows), yg(rows), yu(rows), yl(rows), yd(rows);
        csr_matvec_scalar(W, x.data(), ys.data());
        csr_matvec_avx2(W, x.data(), yg.data());
        csr_matvec_avx2_unrolled(W, x.data(), yu.data());
        csr_matvec_avx2_loads(W, x.data(), yl.data());
        csr_matvec(W, x.data(), yd.data());
        expect_all_close(yg.data(), ys.data(), rows, kKernelParity, "gather vs scalar");
        expect_all_close(yu.data(), ys.data(), rows, kKernelParity, "unrolled vs scalar");
        expect_all_close(yl.data(), ys.data(), rows, kKernelParity, "loads vs scalar");
        expect_all_close(yd.data(), ys.data(), rows, kKernelParity, "dispatcher vs scalar");
      }
  }

  TEST_CASE("csr_spmm: scalar = AVX2 on column counts that hit the 32-, 8-wide bodies and the tail") {
    for (int64_t P : kSizes)
      for (int64_t K : {1, 9, 33}) {
        CAPTURE(P);
        CAPTURE(K);
        const int64_t R = 5;
        CsrMatrix W = csr_from_tensor(random_sparse(R, K, 0.5, static_cast<uint64_t>(P + K)));
        Tensor B = random_tensor({K, P}, 4);
        std::vector<float> cs(R * P, -7.0f), ca(R * P, -7.0f);  // garbage: C is written, not read
        csr_spmm_scalar(W, B.data(), P, cs.data());
        csr_spmm_avx2(W, B.data(), P, ca.data());
        expect_all_close(ca.data(), cs.data(), R * P, kKernelParity, "spmm avx2 vs scalar");
      }
  }

  TEST_CASE("16-bit-column CSR: the same matrix in 6 bytes per nonzero; every kernel equals the int32 one") {
    for (int64_t cols : kSizes)
      for (int64_t rows : {1, 9, 33}) {
        CAPTURE(rows);
        CAPTURE(cols);
        Tensor d = random_sparse(rows, cols, 0.6, static_cast<uint64_t>(cols + 11 * rows));
        const CsrMatrix W = csr_from_tensor(d);
        const CsrMatrix16 N = csr_narrow(W);
        CHECK_NOTHROW(csr_validate(N));
        CHECK(N.storage_bytes() == W.storage_bytes() - 2 * W.nnz());
        Tensor back = to_dense(N);
        for (int64_t i = 0; i < d.numel(); ++i) REQUIRE(back[i] == d[i]);
        Tensor x = random_tensor({cols}, 5);
        std::vector<float> ref(rows), ys(rows), yg(rows), yu(rows), yl(rows), yd(rows);
        csr_matvec_scalar(W, x.data(), ref.data());
        csr_matvec_scalar(N, x.data(), ys.data());
        csr_matvec_avx2(N, x.data(), yg.data());
        csr_matvec_avx2_unrolled(N, x.data(), yu.data());
        csr_matvec_avx2_loads(N, x.data(), yl.data());
        csr_matvec(N, x.data(), yd.data());
        for (int64_t r = 0; r < rows; ++r) REQUIRE(ys[r] == ref[r]);   // same order, same sums
        expect_all_close(yg.data(), ys.data(), rows, kKernelParity, "16-bit gather vs scalar");
        expect_all_close(yu.data(), ys.data(), rows, kKernelParity, "16-bit unrolled vs scalar");
        expect_all_close(yl.data(), ys.data(), rows, kKernelParity, "16-bit loads vs scalar");
        expect_all_close(yd.data(), ys.data(), rows, kKernelParity, "16-bit dispatcher vs scalar");
        const int64_t P = 37;   // spmm: the 32-wide body, an 8-wide block... and a tail
        Tensor B = random_tensor({cols, P}, 6);
        std::vector<float> cs(rows * P, -7.0f), ca(rows * P, -7.0f), c32(rows * P, -7.0f);
        csr_spmm_scalar(N, B.data(), P, cs.data());
        csr_spmm_avx2(N, B.data(), P, ca.data());
        csr_spmm_scalar(W, B.data(), P, c32.data());
        expect_all_close(cs.data(), c32.data(), rows * P, kExact, "16-bit spmm scalar vs int32");
        expect_all_close(ca.data(), cs.data(), rows * P, kKernelParity, "16-bit spmm avx2 vs scalar");
      }
    // the widest matrix 16 bits can index: column 65535 survives the narrowing
    Tensor wide({1, 65536});
    wide[65535] = 2.0f;
    wide[3] = -1.0f;
    const CsrMatrix16 n = csr_narrow(csr_from_tensor(wide));
    REQUIRE(n.nnz() == 2);
    CHECK(n.col_idx[1] == 65535);
    std::vector<float> xw(65536, 1.0f);
    xw[65535] = 3.0f;
    float y = 0.0f;
    csr_matvec(n, xw.data(), &y);
    CHECK(y == doctest::Approx(5.0));
    // one column more does not fit
    CsrMatrix too_wide = csr_from_tensor(Tensor({1, 65537}));
    CHECK_THROWS_WITH_AS(csr_narrow(too_wide), doctest::Contains("65537"), std::invalid_argument);
  }

  // ---- simulation = deployment ------------------------------------------------------------------
  TEST_CASE("SparseLinear gives the masked float Linear's outputs at batch 1, 3 and 64") {
    for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
      if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
      KernelModeGuard guard(mode);
      Parameter w = make_param(random_tensor({37, 50}, 21));
      prune_parameter(w, sparsity_mask(w.var.value(), 0.08));
      Tensor b = random_tensor({37}, 22);
      SparseLinear sl(w.var.value(), b);
      CHECK(sl.weight().nnz() == count_nonzero(w.mask));
      CHECK(sl.narrow());   // 50 inputs: it runs from 16-bit columns
      CHECK(sl.storage_bytes() == sl.weight().storage_bytes() - 2 * sl.weight().nnz());
      for (int64_t N : {1, 3, 64}) {
        CAPTURE(N);
        Tensor x = random_tensor({N, 50}, 23 + static_cast<uint64_t>(N));
        Tensor y_dense = linear(Var(x), w.effective(), Var(b)).value();
        Tensor y_sparse = sl.forward(x);
        REQUIRE(y_sparse.shape() == y_dense.shape());
        expect_all_close(y_sparse.data(), y_dense.data(), y_dense.numel(), kKernelParity, "sparse vs dense");
      }
    }
  }

  TEST_CASE("sparse im2col convolution W_csr . col equals the dense masked conv GEMM") {
    ConvGeom g{3, 9, 8, 3, 3, 1, 1, 1, 1};  // C, H, W, KH, KW, SH, SW, PH, PW
    const int64_t OC = 5, CKK = g.C * g.KH * g.KW, P = g.OH() * g.OW();
    Tensor x = random_tensor({g.C, g.H, g.W}, 31);
    Tensor w = random_sparse(OC, CKK, 0.2, 32);
    std::vector<float> col(CKK * P), y_dense(OC * P), y_sparse(OC * P);
    im2col(g, x.data(), col.data());
    sgemm(Trans::N, Trans::N, OC, P, CKK, 1.0f, w.data(), CKK, col.data(), P, 0.0f, y_dense.data(), P);
    csr_spmm(csr_from_tensor(w), col.data(), P, y_sparse.data());
    expect_all_close(y_sparse.data(), y_dense.data(), OC * P, kKernelParity, "sparse conv vs dense");
  }

  TEST_CASE("SparseLinear rejects mismatched shapes") {
    CHECK_THROWS_AS(SparseLinear(Tensor({3}), Tensor()), std::invalid_argument);
    CHECK_THROWS_AS(SparseLinear(Tensor({3, 4}), Tensor({4})), std::invalid_argument);
    SparseLinear sl(random_tensor({3, 4}, 1), Tensor());
    try {
      sl.forward(Tensor({2, 5}));
      FAIL_CHECK("expected a shape error");
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      CHECK(m.find("[N, 4]") != std::string::npos);
      CHECK(m.find("[2, 5]") != std::string::npos);
    }
  }

  // ---- sensitivity analysis (Han Fig. 6) ----------------------------------------------------------
  TEST_CASE("sensitivity scan prunes one layer at a time and restores the weights exactly") {
    TwoLayer net;
    const Tensor w1 = net.w1->var.value().clone(), w2 = net.w2->var.value().clone();
    auto layers = prunable_parameters(net);
    // The "error" here is the fraction of zero weights in the whole model: it must see exactly
    // one layer pruned at a time.
    auto zeros = [&] {
      return static_cast<double>((24 - count_nonzero(net.w1->var.value())) + (18 - count_nonzero(net.w2->var.value())));
    };
    auto pts = sensitivity_scan(layers, {1.0, 0.5, 0.25}, zeros);
    REQUIRE(pts.size() == 6);
    CHECK(pts[0].layer == "fc1.weight");
    CHECK(pts[0].error == 0.0);
    CHECK(pts[1].error == 12.0);   // 24 → 12 kept
    CHECK(pts[2].error == 18.0);   // 24 → 6 kept
    CHECK(pts[4].layer == "conv.weight");
    CHECK(pts[4].error == 9.0);    // 18 → 9 kept, fc1 restored
    CHECK(net.w1->var.value().to_vector() == w1.to_vector());
    CHECK(net.w2->var.value().to_vector() == w2.to_vector());
  }
}
