// tests/test_distillation.cpp — TEST_SUITE("distillation"): Hinton, Vinyals, Dean 2015 §2 on
// tiny cases — the KD gradient (1/T)(q − p) by finite differences, the T² scaling, the
// high-temperature limit (logit matching on zero-mean logits), the teacher cache's round trip
// and its malformed-file errors, max-norm, and a student trained on cached logits through a
// shuffled loader. Book: book/25-distillation.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "distill/kd.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "layers/shape.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

namespace {

// Softmax of row-major [N, C] at temperature T, in double.
std::vector<double> softmax_T(const Tensor& z, double T) {
  const int64_t N = z.dim(0), C = z.dim(1);
  std::vector<double> out(static_cast<size_t>(N * C));
  for (int64_t n = 0; n < N; ++n) {
    double m = -1e300, s = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, static_cast<double>(z[n * C + c]) / T);
    for (int64_t c = 0; c < C; ++c) s += std::exp(z[n * C + c] / T - m);
    for (int64_t c = 0; c < C; ++c) out[static_cast<size_t>(n * C + c)] = std::exp(z[n * C + c] / T - m) / s;
  }
  return out;
}

// The gradient of `loss(z)` with respect to z.
Tensor grad_of(const std::function<Var(const Var&)>& loss, const Tensor& z0) {
  Var z(z0.clone(), true);
  loss(z).backward();
  return z.grad().clone();
}

double norm(const Tensor& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += static_cast<double>(t[i]) * t[i];
  return std::sqrt(s);
}

// Row means removed: the paper's §2.1 limit assumes zero-mean logits.
Tensor zero_mean_rows(Tensor t) {
  const int64_t N = t.dim(0), C = t.dim(1);
  for (int64_t n = 0; n < N; ++n) {
    double m = 0;
    for (int64_t c = 0; c < C; ++c) m += t[n * C + c];
    m /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) t[n * C + c] -= static_cast<float>(m);
  }
  return t;
}

template <class F>
void check_runtime_message(F f, std::initializer_list<std::string> needles) {
  try {
    f();
    FAIL_CHECK("expected std::runtime_error");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    CAPTURE(m);
    for (const auto& s : needles) CHECK(m.find(s) != std::string::npos);
  }
}

std::vector<uint8_t> tiny_cache_bytes() {
  TeacherCache c{random_tensor({3, 4}, 7), 0xC0FFEEu};
  return encode_teacher_cache(c);
}

}  // namespace

TEST_SUITE("distillation") {
  TEST_CASE("the soft-target gradient is (1/T)(q - p) per example, checked by finite differences") {
    const Tensor v = random_tensor({3, 5}, 11, -3.0f, 3.0f);
    const Tensor z0 = random_tensor({3, 5}, 12, -3.0f, 3.0f);
    for (float T : {1.0f, 2.5f, 20.0f}) {
      CAPTURE(T);
      // the closed form of §2, divided by N because the loss is a batch mean
      const Tensor g = grad_of([&](const Var& z) { return soft_target_cross_entropy(z, v, T); }, z0);
      const std::vector<double> q = softmax_T(z0, T), p = softmax_T(v, T);
      for (int64_t i = 0; i < g.numel(); ++i)
        CHECK(g[i] == doctest::Approx((q[static_cast<size_t>(i)] - p[static_cast<size_t>(i)]) / (3.0 * T)).epsilon(1e-4));
      // and the whole KD loss (soft × T² + hard) against central differences (at T = 20 the
      // float loss, ~T² × the entropy, is too coarse for h = 1e-2: the closed form covers it)
      if (T > 4.0f) continue;
      const std::vector<int32_t> y = {0, 3, 4};
      Var s(z0.clone(), true);
      CHECK(check_gradients([&](const std::vector<Var>& in) { return kd_loss(in[0], v, y, T, 0.9f); }, {s}));
    }
  }

  TEST_CASE("kd_loss is w T^2 H(p, q) + (1 - w) H(y, q): the weights as stated") {
    const Tensor v = random_tensor({2, 4}, 21, -2.0f, 2.0f), z0 = random_tensor({2, 4}, 22, -2.0f, 2.0f);
    const std::vector<int32_t> y = {1, 2};
    const float T = 4.0f, w = 0.7f;
    Var z(z0.clone());
    const double soft = soft_target_cross_entropy(z, v, T).value().item(), hard = cross_entropy(z, y).value().item();
    CHECK(kd_loss(z, v, y, T, w).value().item() == doctest::Approx(w * T * T * soft + (1 - w) * hard).epsilon(1e-5));
    CHECK(kd_loss(z, v, y, T, 1.0f).value().item() == doctest::Approx(T * T * soft).epsilon(1e-5));
    CHECK(kd_loss(z, v, y, T, 0.0f).value().item() == doctest::Approx(hard).epsilon(1e-5));
    CHECK_THROWS_AS(kd_loss(z, v, y, T, 1.5f), std::invalid_argument);
    CHECK_THROWS_AS(kd_loss(z, v, y, 0.0f, 0.5f), std::invalid_argument);
  }

  TEST_CASE("T^2 keeps the soft gradient's size across temperatures; without it the gradient shrinks as 1/T^2") {
    // §2: "the magnitudes of the gradients produced by the soft targets scale as 1/T²".
    const Tensor v = zero_mean_rows(random_tensor({4, 10}, 31, -2.0f, 2.0f));
    const Tensor z0 = zero_mean_rows(random_tensor({4, 10}, 32, -2.0f, 2.0f));
    auto soft_norm = [&](float T, float mult) {
      return norm(grad_of([&](const Var& z) { return scale(soft_target_cross_entropy(z, v, T), mult); }, z0));
    };
    const double g10 = soft_norm(10, 1), g20 = soft_norm(20, 1), g40 = soft_norm(40, 1);
    CHECK(g10 / g20 == doctest::Approx(4.0).epsilon(0.05));   // 1/T²: doubling T quarters it
    CHECK(g20 / g40 == doctest::Approx(4.0).epsilon(0.02));
    const double s10 = soft_norm(10, 100), s20 = soft_norm(20, 400), s40 = soft_norm(40, 1600);
    CHECK(s10 / s20 == doctest::Approx(1.0).epsilon(0.05));   // × T²: the same size at every T
    CHECK(s20 / s40 == doctest::Approx(1.0).epsilon(0.02));
    // kd_loss applies the T² itself
    const std::vector<int32_t> y = {0, 1, 2, 3};
    const double k20 = norm(grad_of([&](const Var& z) { return kd_loss(z, v, y, 20, 1.0f); }, z0));
    CHECK(k20 == doctest::Approx(s20).epsilon(1e-4));
  }

  TEST_CASE("at high T on zero-mean logits KD is logit matching: T^2 C dH/dz -> (z - v)/N") {
    // §2.1: q_i ≈ (1 + z_i/T)/(C + Σ z_j/T), so ∂H/∂z_i ≈ (z_i − v_i)/(N C T²) when Σ z = Σ v = 0.
    const int64_t N = 3, C = 10;
    const Tensor v = zero_mean_rows(random_tensor({N, C}, 41, -3.0f, 3.0f));
    const Tensor z0 = zero_mean_rows(random_tensor({N, C}, 42, -3.0f, 3.0f));
    const Tensor lm = grad_of([&](const Var& z) { return logit_matching_loss(z, v); }, z0);
    for (int64_t i = 0; i < lm.numel(); ++i) CHECK(lm[i] == doctest::Approx((z0[i] - v[i]) / N).epsilon(1e-5));
    double prev_err = 1e9;
    for (float T : {5.0f, 50.0f, 500.0f}) {
      CAPTURE(T);
      const Tensor g = grad_of([&](const Var& z) { return soft_target_cross_entropy(z, v, T); }, z0);
      double err = 0, ref = 0;
      for (int64_t i = 0; i < g.numel(); ++i) {
        err = std::max(err, std::fabs(static_cast<double>(g[i]) * T * T * C - lm[i]));
        ref = std::max(ref, std::fabs(static_cast<double>(lm[i])));
      }
      CHECK(err < prev_err);   // the gap closes as T grows ...
      prev_err = err;
      if (T == 500.0f) CHECK(err < 0.01 * ref);   // ... to within 1 % at T = 500
    }
    // without zero means the limit is off by the mean difference: the condition matters
    Tensor z_shift = z0.clone();
    for (int64_t i = 0; i < C; ++i) z_shift[i] += 2.0f;   // row 0 no longer zero-mean
    const Tensor gs = grad_of([&](const Var& z) { return soft_target_cross_entropy(z, v, 500.0f); }, z_shift);
    const Tensor ls = grad_of([&](const Var& z) { return logit_matching_loss(z, v); }, z_shift);
    CHECK(std::fabs(gs[0] * 500.0 * 500.0 * C - ls[0]) > 0.5 / N);
  }

  TEST_CASE("the teacher cache round-trips through its file and recomputes for another transfer set") {
    const std::string dir = (std::filesystem::temp_directory_path() / "mgf_test_distillation").string();
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/teacher.mgftl";
    std::filesystem::remove(path);
    Dataset d = synthetic_dataset(20, 4, 8, 3);
    manual_seed(5);
    Sequential teacher;
    teacher.add("flatten", std::make_shared<Flatten>());
    teacher.add("fc", std::make_shared<Linear>(64, 4));
    bool computed = false;
    TeacherCache a = cached_teacher_logits(path, teacher, d, &computed);
    CHECK(computed);
    CHECK(a.logits.shape() == Shape{20, 4});
    TeacherCache b = cached_teacher_logits(path, teacher, d, &computed);
    CHECK_FALSE(computed);   // the second student reads the file instead of running the teacher
    CHECK(b.fingerprint == a.fingerprint);
    for (int64_t i = 0; i < a.logits.numel(); ++i) CHECK(b.logits[i] == a.logits[i]);   // bit-exact
    // the logits are the teacher's eval-mode outputs, in dataset order
    Tensor direct = teacher(Var(d.slice(7, 1).images)).value();
    for (int64_t c = 0; c < 4; ++c) CHECK(a.logits[7 * 4 + c] == doctest::Approx(direct[c]).epsilon(1e-6));
    // another transfer set (one label changed) has another fingerprint: recomputed, not misread
    Dataset d2 = d;
    d2.labels[0] = (d2.labels[0] + 1) % 4;
    CHECK(dataset_fingerprint(d2) != dataset_fingerprint(d));
    cached_teacher_logits(path, teacher, d2, &computed);
    CHECK(computed);
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("malformed teacher caches are refused with the field and offset named") {
    const std::vector<uint8_t> good = tiny_cache_bytes();
    CHECK(decode_teacher_cache(good, "t").logits.shape() == Shape{3, 4});
    std::vector<uint8_t> b = good;
    b[0] = 'X';
    check_runtime_message([&] { decode_teacher_cache(b, "t.mgftl"); }, {"t.mgftl", "magic", "offset 0"});
    b = good;
    b[8] = 2;
    check_runtime_message([&] { decode_teacher_cache(b, "t.mgftl"); }, {"version", "expected 1, found 2"});
    b = good;
    b.resize(good.size() - 5);
    check_runtime_message([&] { decode_teacher_cache(b, "t.mgftl"); }, {"logits", "need 52 bytes, found 47"});
    b = good;
    b.push_back(0);
    check_runtime_message([&] { decode_teacher_cache(b, "t.mgftl"); }, {"logits", "found 53"});
    b = good;
    b[40] ^= 1;   // one bit of a logit
    check_runtime_message([&] { decode_teacher_cache(b, "t.mgftl"); }, {"crc32", "damaged"});
    b.assign(good.begin(), good.begin() + 10);
    check_runtime_message([&] { decode_teacher_cache(b, "t.mgftl"); }, {"version", "offset 8"});
    // N·C that overflows 64 bits is refused before any allocation
    ByteWriter w;
    w.bytes("MGFTL1\0\0", 8);
    w.u32(1);
    w.u64(uint64_t{1} << 62);
    w.u64(16);
    w.u32(0);
    w.u32(0);
    CHECK_THROWS(decode_teacher_cache(w.data(), "huge.mgftl"));
    ByteWriter z;
    z.bytes("MGFTL1\0\0", 8);
    z.u32(1);
    z.u64(0);
    z.u64(10);
    z.u32(0);
    check_runtime_message([&] { decode_teacher_cache(z.data(), "z.mgftl"); }, {"N >= 1", "N = 0"});
    check_runtime_message([&] { read_teacher_cache("/nonexistent-dir/t.mgftl"); }, {"t.mgftl"});
  }

  TEST_CASE("max-norm projects rows above c onto the sphere and leaves the others alone") {
    Tensor w({3, 2}, {3.0f, 4.0f, 0.3f, 0.4f, -6.0f, 8.0f});   // row norms 5, 0.5, 10
    CHECK(max_norm_constrain(w, 2.0f) == 2);
    CHECK(w[0] == doctest::Approx(1.2f));
    CHECK(w[1] == doctest::Approx(1.6f));
    CHECK(w[2] == 0.3f);   // inside the ball: bit-identical
    CHECK(w[3] == 0.4f);
    CHECK(std::hypot(w[4], w[5]) == doctest::Approx(2.0f));
    CHECK(w[4] < 0);       // the direction is kept
    CHECK(max_norm_constrain(w, 2.0f) == 0);
    Tensor bad({2, 2, 2});
    CHECK_THROWS_AS(max_norm_constrain(bad, 1.0f), std::invalid_argument);
    CHECK_THROWS_AS(max_norm_constrain(w, 0.0f), std::invalid_argument);
  }

  TEST_CASE("max-norm on a Linear's weight bounds each unit's incoming weights: |w_u . x| <= c |x| for every x") {
    // The axis matters: Srivastava et al. 2014 constrain the weights *into* a hidden unit, so
    // that unit's pre-activation is bounded by c‖x‖ (Cauchy-Schwarz). A weight whose rows are
    // short but whose columns are long (and the other way round) catches a column-wise version.
    Linear fc(3, 2, /*bias=*/false);
    Tensor& w = fc.weight.var.value();   // [out = 2 units, in = 3 inputs]
    const float vals[] = {3.0f, 3.0f, 3.0f, 0.1f, 0.1f, 0.1f};   // unit 0: norm 5.2; every column norm 3.0
    std::copy(std::begin(vals), std::end(vals), w.data());
    CHECK(max_norm_constrain(w, 1.0f) == 1);   // only unit 0's row is outside the ball
    Rng rng(5);
    for (int trial = 0; trial < 50; ++trial) {
      Tensor x({1, 3});
      double nx = 0;
      for (int j = 0; j < 3; ++j) x[j] = rng.normal(0.0f, 1.0f), nx += static_cast<double>(x[j]) * x[j];
      const Tensor y = fc.forward(Var(x)).value();
      CHECK(std::fabs(y[0]) <= std::sqrt(nx) * (1.0 + 1e-5));
    }
    // and along the unit's own direction the bound is reached: that unit's weights are on the sphere
    Tensor x({1, 3}, {1.0f, 1.0f, 1.0f});
    CHECK(fc.forward(Var(x)).value()[0] == doctest::Approx(std::sqrt(3.0)));
    CHECK(w[3] == 0.1f);   // unit 1, inside the ball, untouched
  }

  TEST_CASE("a student learns from cached logits alone through a shuffled loader (rows follow the order)") {
    // The teacher's "logits" are 5 · one-hot(label); with soft weight 1 the labels are never
    // used, so the student can only reach a low error if each batch gets its own examples' rows.
    set_training_output(false);
    const Dataset d = synthetic_dataset(200, 4, 8, 9);
    Tensor v({200, 4});
    for (int64_t i = 0; i < 200; ++i) v[i * 4 + d.labels[static_cast<size_t>(i)]] = 5.0f;
    manual_seed(3);
    Sequential s;
    s.add("flatten", std::make_shared<Flatten>());
    s.add("fc", std::make_shared<Linear>(64, 4));
    Rng rng(4);
    DataLoader loader(d, 16, true, rng);
    SGD opt(s.parameters(), {.lr = 0.05f, .momentum = 0.9f});
    for (int e = 0; e < 15; ++e) train_epoch_kd(s, opt, loader, v, 2.0f, 1.0f);
    CHECK(evaluate(s, d).errors <= 10);
    // the wrong number of cached rows is refused
    CHECK_THROWS_AS(train_epoch_kd(s, opt, loader, Tensor({199, 4}), 2.0f, 1.0f), std::invalid_argument);
    set_training_output(true);
  }
}
