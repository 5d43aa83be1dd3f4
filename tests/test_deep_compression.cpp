// tests/test_deep_compression.cpp — TEST_SUITE("deep_compression"): Han, Mao, Dally 2016.
// k-means and its three initialisations, the grouped centroid gradient (eq. 3), the codebook
// kernels (scalar = AVX2 = dense float), the relative-index format with filler zeros, canonical
// Huffman coding, the compressed file (round trip, every corruption rejected) and
// simulation = deployment: the model run from the file equals the masked, quantized model.
// Book: book/15-deep_compression.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>


#include "compression/coding/huffman.h"
#include "compression/coding/relative_index.h"
#include "compression/coding/sliced_ell.h"
#include "compression/deep_compression.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
#include "compression/pruning/magnitude.h"
#include "compression/quantization/kmeans.h"
#include "compression/quantization/weight_sharing.h"
#include "engine/kernels/cpu.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "layers/models/lenet.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::expect_all_close;
using mgf::testing::kAccumulate;
using mgf::testing::kDecode;
using mgf::testing::random_tensor;

namespace {

// A tiny flat model built only from engine ops, so these tests do not depend on layers/.
struct TLinear : Module {
  Parameter& weight;
  Parameter& bias;
  TLinear(int64_t in, int64_t out, uint64_t seed)
      : weight(register_parameter("weight", random_tensor({out, in}, seed, -0.5f, 0.5f))),
        bias(register_parameter("bias", random_tensor({out}, seed + 1, -0.1f, 0.1f))) {}
  Var forward(const Var& x) override { return linear(x, weight.effective(), bias.var); }
  std::string type_name() const override { return "TLinear"; }
};
struct TConv : Module {
  Parameter& weight;
  Parameter& bias;
  TConv(int64_t in, int64_t out, int64_t k, uint64_t seed)
      : weight(register_parameter("weight", random_tensor({out, in, k, k}, seed, -0.5f, 0.5f))),
        bias(register_parameter("bias", random_tensor({out}, seed + 1, -0.1f, 0.1f))) {}
  Var forward(const Var& x) override { return conv2d(x, weight.effective(), bias.var); }
  std::string type_name() const override { return "TConv"; }
};
struct TRelu : Module {
  Var forward(const Var& x) override { return relu(x); }
  std::string type_name() const override { return "TRelu"; }
};
struct TFlatten : Module {
  Var forward(const Var& x) override { return flatten(x); }
  std::string type_name() const override { return "TFlatten"; }
};
struct TSeq : Module {
  std::vector<std::shared_ptr<Module>> order;
  void add(const std::string& name, std::shared_ptr<Module> m) { order.push_back(register_module(name, m)); }
  Var forward(const Var& x) override {
    Var h = x;
    for (auto& m : order) h = m->forward(h);
    return h;
  }
  std::string type_name() const override { return "TSeq"; }
};

// conv(1→3, 3×3) on 6×6 → relu → flatten (3·4·4 = 48) → fc 48→20 → relu → fc 20→5
std::shared_ptr<TSeq> tiny_net(uint64_t seed) {
  auto s = std::make_shared<TSeq>();
  s->add("conv", std::make_shared<TConv>(1, 3, 3, seed));
  s->add("relu0", std::make_shared<TRelu>());
  s->add("flat", std::make_shared<TFlatten>());
  s->add("fc1", std::make_shared<TLinear>(48, 20, seed + 10));
  s->add("relu1", std::make_shared<TRelu>());
  s->add("fc2", std::make_shared<TLinear>(20, 5, seed + 20));
  return s;
}

Tensor random_mask(const Shape& s, float keep, uint64_t seed) {
  Rng r(seed);
  Tensor m(s);
  for (int64_t i = 0; i < m.numel(); ++i) m[i] = r.uniform() < keep ? 1.0f : 0.0f;
  return m;
}

std::vector<uint8_t> random_codes(int64_t n, float density, int bits, uint64_t seed) {
  Rng r(seed);
  std::vector<uint8_t> c(static_cast<size_t>(n), 0);
  for (auto& x : c)
    if (r.uniform() < density) x = static_cast<uint8_t>(1 + r.randint((1 << bits) - 1));
  return c;
}

// A scratch file in the system's temporary directory (the tests may run where build/ is absent).
std::string temp_path(const std::string& name) {
  static const std::string tag = std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  return (std::filesystem::temp_directory_path() / ("mgf-" + tag + "-" + name)).string();
}


}  // namespace

TEST_SUITE("deep_compression") {
  // ---- k-means ------------------------------------------------------------------------------
  TEST_CASE("k-means finds the two obvious clusters from every initialisation (eq. 1)") {
    const std::vector<float> w = {-1.1f, -1.0f, -0.9f, 1.9f, 2.0f, 2.1f, -1.0f, 2.0f};
    for (KmeansInit init : {KmeansInit::linear, KmeansInit::forgy, KmeansInit::density}) {
      CAPTURE(kmeans_init_name(init));
      Rng rng(3);
      Kmeans1d r = kmeans_1d(w.data(), static_cast<int64_t>(w.size()), 2, init, rng);
      REQUIRE(r.centroids.size() == 2);
      CHECK(r.centroids[0] == doctest::Approx(-1.0).epsilon(1e-5));
      CHECK(r.centroids[1] == doctest::Approx(2.0).epsilon(1e-5));
      CHECK(r.sse == doctest::Approx(4 * 0.01).epsilon(1e-3));   // four points 0.1 away
      for (size_t i = 0; i < w.size(); ++i) CHECK(r.assignment[i] == (w[i] < 0 ? 0 : 1));
    }
  }

  TEST_CASE("the three initialisations: linear spans [min, max], Forgy picks data points, density picks quantiles") {
    std::vector<float> w(100);
    for (int i = 0; i < 100; ++i) w[i] = static_cast<float>(i);   // uniform 0..99
    Rng rng(5);
    auto lin = kmeans_init(w.data(), 100, 4, KmeansInit::linear, rng);
    CHECK(lin == std::vector<float>{0.0f, 33.0f, 66.0f, 99.0f});
    auto den = kmeans_init(w.data(), 100, 4, KmeansInit::density, rng);
    CHECK(den == std::vector<float>{12.0f, 37.0f, 62.0f, 87.0f});   // CDF heights 1/8, 3/8, 5/8, 7/8
    auto fg = kmeans_init(w.data(), 100, 4, KmeansInit::forgy, rng);
    std::set<float> distinct(fg.begin(), fg.end());
    CHECK(distinct.size() == 4);   // drawn without replacement
    for (float c : fg) CHECK(c == std::floor(c));   // each one is a data point
    CHECK(std::is_sorted(fg.begin(), fg.end()));
  }

  TEST_CASE("linear init keeps a centroid on the rare large weights; density-following inits lose them (Fig. 4)") {
    // A pruned-layer-like distribution: two dense lobes near ±0.1 and a few large weights at ±1.
    Rng data(7);
    std::vector<float> w;
    for (int i = 0; i < 2000; ++i) w.push_back((data.uniform() < 0.5f ? -0.1f : 0.1f) + data.normal(0.0f, 0.02f));
    for (int i = 0; i < 4; ++i) w.push_back(i % 2 ? 1.0f : -1.0f);
    auto err_on_large = [&](KmeansInit init) {
      Rng rng(11);
      Kmeans1d r = kmeans_1d(w.data(), static_cast<int64_t>(w.size()), 4, init, rng);
      double e = 0;
      for (size_t i = 2000; i < w.size(); ++i) e += std::fabs(w[i] - r.centroids[r.assignment[i]]);
      return e / 4;
    };
    const double lin = err_on_large(KmeansInit::linear);
    CHECK(lin < 0.05);
    CHECK(err_on_large(KmeansInit::density) > 0.3);
    CHECK(err_on_large(KmeansInit::forgy) > 0.3);
  }

  TEST_CASE("k-means rejects empty input and k < 1") {
    float w = 1.0f;
    Rng rng(1);
    CHECK_THROWS_AS(kmeans_1d(&w, 0, 2, KmeansInit::linear, rng), std::invalid_argument);
    CHECK_THROWS_AS(kmeans_1d(&w, 1, 0, KmeansInit::linear, rng), std::invalid_argument);
    CHECK_THROWS_AS(parse_kmeans_init("kmeans++"), std::invalid_argument);
  }

  // ---- weight sharing -------------------------------------------------------------------------
  TEST_CASE("share_weights: pruned weights get code 0 = exact zero, survivors use at most 2^b - 1 centroids") {
    Tensor w = random_tensor({30, 40}, 21);
    Tensor m = random_mask(w.shape(), 0.2f, 22);
    Rng rng(1);
    SharedWeight s = share_weights(w, &m, 3, KmeansInit::linear, rng);
    CHECK(s.codebook.size() == 8);
    CHECK(s.codebook[0] == 0.0f);
    int64_t kept = 0;
    double err = 0;
    Tensor d = s.decode();
    for (int64_t i = 0; i < w.numel(); ++i) {
      if (m[i] == 0.0f) CHECK(s.codes[i] == 0);
      else {
        ++kept;
        CHECK(s.codes[i] != 0);
        err = std::max(err, static_cast<double>(std::fabs(d[i] - w[i])));
      }
    }
    CHECK(s.nonzeros() == kept);
    CHECK(err < 2.0 / 7);   // within a cell of a 7-level quantizer on [-1, 1]
    CHECK_THROWS_AS(share_weights(w, &m, 9, KmeansInit::linear, rng), std::invalid_argument);
  }

  TEST_CASE("trained quantization: dL/dC_k equals the gradients grouped by index and summed (eq. 3), by finite differences") {
    auto net = tiny_net(31);
    auto& fc1 = *std::static_pointer_cast<TLinear>(net->order[3]);
    fc1.weight.set_mask(random_mask(fc1.weight.var.shape(), 0.5f, 32));
    Rng rng(2);
    TrainedQuantization q;
    q.add("fc1.weight", fc1.weight, 3, KmeansInit::linear, rng);
    Var x(random_tensor({4, 1, 6, 6}, 33));
    Tensor r = random_tensor({4, 5}, 34);
    auto loss = [&]() {
      NoGradGuard ng;
      return mgf::testing::project(net->forward(x).value(), r);
    };
    net->zero_grad();
    net->forward(x).backward(r);
    auto& layer = q.layers()[0];
    std::vector<float> dC(8);
    centroid_gradients(fc1.weight.var.grad().data(), layer.shared.codes.data(), layer.shared.numel(), 8, dC.data());
    // brute force: the same sum with an explicit indicator
    for (int k = 0; k < 8; ++k) {
      double s = 0;
      for (int64_t i = 0; i < layer.shared.numel(); ++i)
        s += (layer.shared.codes[i] == k ? 1.0 : 0.0) * fc1.weight.var.grad()[i];
      CHECK(dC[k] == doctest::Approx(s).epsilon(1e-5));
    }
    // finite differences on C_k (k >= 1; moving C_k moves every weight with index k)
    for (int k = 1; k < 8; ++k) {
      const float h = 2e-3f, saved = layer.shared.codebook[k];
      layer.shared.codebook[k] = saved + h;
      q.write_weights();
      double lp = loss();
      layer.shared.codebook[k] = saved - h;
      q.write_weights();
      double lm = loss();
      layer.shared.codebook[k] = saved;
      q.write_weights();
      CAPTURE(k);
      const double numeric = (lp - lm) / (2 * h);
      CHECK(std::fabs(dC[k] - numeric) <= 1e-2 + 2e-2 * std::fabs(numeric));
    }
  }

  TEST_CASE("trained quantization lowers the loss, keeps the indices and keeps pruned weights at zero") {
    auto net = tiny_net(41);
    auto& fc1 = *std::static_pointer_cast<TLinear>(net->order[3]);
    Tensor m = random_mask(fc1.weight.var.shape(), 0.3f, 42);
    fc1.weight.set_mask(m);
    Rng rng(3);
    TrainedQuantization q;
    q.add("fc1.weight", fc1.weight, 2, KmeansInit::linear, rng);
    const auto codes0 = q.layers()[0].shared.codes;
    Var x(random_tensor({16, 1, 6, 6}, 43));
    Var target(random_tensor({16, 5}, 44));
    auto step = [&]() {
      net->zero_grad();
      Var l = mse_loss(net->forward(x), target);
      l.backward();
      q.step(0.05f, 0.5f);
      return l.value().item();
    };
    float first = step(), last = first;
    for (int i = 0; i < 30; ++i) last = step();
    CHECK(last < first);
    CHECK(q.layers()[0].shared.codes == codes0);
    std::set<float> distinct;
    for (int64_t i = 0; i < m.numel(); ++i) {
      distinct.insert(fc1.weight.var.value()[i]);
      if (m[i] == 0.0f) CHECK(fc1.weight.var.value()[i] == 0.0f);
    }
    CHECK(distinct.size() <= 4);   // 2 bits: zero + 3 centroids
  }

  // ---- codebook kernels ------------------------------------------------------------------------
  TEST_CASE("codebook_matvec equals the dense layer with decoded weights; scalar = AVX2 = bin-sum") {
    for (int64_t in : {1, 7, 8, 9, 31, 33, 1027}) {
      CAPTURE(in);
      const int64_t out = 5;
      auto codes = random_codes(out * in, 0.7f, 5, static_cast<uint64_t>(in));
      Tensor cb = random_tensor({32}, 50);
      cb[0] = 0.0f;
      Tensor x = random_tensor({in}, 51), b = random_tensor({out}, 52);
      std::vector<float> ref(out), ys(out), ya(out), yb(out);
      for (int64_t o = 0; o < out; ++o) {   // dense reference: W = C[I] in double
        double s = b[o];
        for (int64_t i = 0; i < in; ++i) s += static_cast<double>(cb[codes[o * in + i]]) * x[i];
        ref[o] = static_cast<float>(s);
      }
      codebook_matvec_scalar(codes.data(), cb.data(), x.data(), b.data(), ys.data(), out, in);
      codebook_matvec_avx2(codes.data(), cb.data(), x.data(), b.data(), ya.data(), out, in);
      codebook_matvec_binsum(codes.data(), cb.data(), 32, x.data(), b.data(), yb.data(), out, in);
      expect_all_close(ys.data(), ref.data(), out, kAccumulate, "ys vs ref");
      expect_all_close(ya.data(), ys.data(), out, kAccumulate, "ya vs ys");
      expect_all_close(yb.data(), ys.data(), out, kAccumulate, "yb vs ys");
    }
  }

  // ---- relative index ------------------------------------------------------------------------------
  TEST_CASE("relative index: gaps in b bits with a filler zero when a gap overflows (Fig. 2)") {
    // codes at positions 1, 4 and 15 with 2-bit gaps (max gap 3): 15 − 4 − 1 = 10 zeros → two fillers.
    std::vector<uint8_t> dense(18, 0);
    dense[1] = 5, dense[4] = 2, dense[15] = 7;
    RelativeIndex s = relative_index_encode(dense.data(), 18, 2);
    CHECK(s.gaps == std::vector<uint8_t>{1, 2, 3, 3, 2});
    CHECK(s.codes == std::vector<uint8_t>{5, 2, 0, 0, 7});
    CHECK(s.fillers() == 2);
    CHECK(relative_index_decode(s) == dense);
  }

  TEST_CASE("relative index round trips for every gap width, including long runs") {
    for (int bits = 1; bits <= 8; ++bits)
      for (float density : {0.0f, 0.01f, 0.1f, 0.9f}) {
        CAPTURE(bits);
        CAPTURE(density);
        auto dense = random_codes(3000, density, 6, static_cast<uint64_t>(bits * 100 + density * 1000));
        RelativeIndex s = relative_index_encode(dense.data(), 3000, bits);
        for (uint8_t g : s.gaps) CHECK(g < (1 << bits));
        CHECK(relative_index_decode(s) == dense);
      }
  }

  TEST_CASE("relative index decode rejects a stream that runs past the end or has a too-wide gap") {
    std::vector<uint8_t> dense(10, 0);
    dense[9] = 1;
    RelativeIndex s = relative_index_encode(dense.data(), 10, 4);
    s.numel = 9;
    CHECK_THROWS_WITH_AS(relative_index_decode(s), doctest::Contains("expected < numel = 9"), std::runtime_error);
    s.numel = 10;
    s.gap_bits = 3;   // gap 9 no longer fits
    CHECK_THROWS_WITH_AS(relative_index_decode(s), doctest::Contains("expected at most 7"), std::runtime_error);
    s.gap_bits = 4;
    s.codes.push_back(1);
    CHECK_THROWS_AS(relative_index_decode(s), std::runtime_error);
  }

  TEST_CASE("the sparse kernel runs from the gap stream and equals the dense codebook kernel; scalar = AVX2") {
    for (int64_t cols : {1, 7, 8, 9, 31, 33, 1027})
      for (float density : {0.03f, 0.3f, 1.0f}) {
        CAPTURE(cols);
        CAPTURE(density);
        const int64_t rows = 13;
        auto dense = random_codes(rows * cols, density, 5, static_cast<uint64_t>(cols * 7 + density * 100));
        RelativeIndex s = relative_index_encode(dense.data(), rows * cols, 3);   // 3-bit gaps: many fillers
        Tensor cb = random_tensor({32}, 60);
        cb[0] = 0.0f;
        Tensor x = random_tensor({cols}, 61);
        std::vector<float> ref(rows), ys(rows, 0.5f), ya(rows, 0.5f);
        codebook_matvec_scalar(dense.data(), cb.data(), x.data(), nullptr, ref.data(), rows, cols);
        for (auto& v : ref) v += 0.5f;
        relative_index_matvec_scalar(s.gaps.data(), s.codes.data(), s.entries(), cb.data(), x.data(), ys.data(), rows, cols);
        relative_index_matvec_avx2(s.gaps.data(), s.codes.data(), s.entries(), cb.data(), x.data(), ya.data(), rows, cols);
        expect_all_close(ys.data(), ref.data(), rows, kAccumulate, "ys vs ref");
        expect_all_close(ya.data(), ys.data(), rows, kAccumulate, "ya vs ys");
      }
  }

  TEST_CASE("the sparse conv kernel: gap stream x im2col matrix equals decoded weights x the same matrix; scalar = AVX2") {
    // P covers the 32-wide blocks, the 8-wide block and the scalar tail; 3-bit gaps force fillers,
    // density 0.03 leaves empty rows.
    for (int64_t P : {1, 7, 8, 9, 31, 32, 33, 45, 64, 97})
      for (float density : {0.03f, 0.3f, 1.0f}) {
        CAPTURE(P);
        CAPTURE(density);
        const int64_t rows = 11, cols = 29;
        auto codes = random_codes(rows * cols, density, 5, static_cast<uint64_t>(P * 13 + density * 100));
        RelativeIndex s = relative_index_encode(codes.data(), rows * cols, 3);
        Tensor cb = random_tensor({32}, 70);
        cb[0] = 0.0f;
        Tensor B = random_tensor({cols, P}, 71);
        std::vector<float> ref(rows * P, 0.0f), cs(rows * P, -9.0f), ca(rows * P, -9.0f), cd(rows * P, -9.0f);
        for (int64_t r = 0; r < rows; ++r)   // the specification: decoded W times B, in column order
          for (int64_t c = 0; c < cols; ++c)
            for (int64_t j = 0; j < P; ++j) ref[r * P + j] += cb[codes[r * cols + c]] * B[c * P + j];
        relative_index_spmm_scalar(s.gaps.data(), s.codes.data(), s.entries(), cb.data(), B.data(), P, cs.data(), rows, cols);
        relative_index_spmm_avx2(s.gaps.data(), s.codes.data(), s.entries(), cb.data(), B.data(), P, ca.data(), rows, cols);
        relative_index_spmm(s.gaps.data(), s.codes.data(), s.entries(), cb.data(), B.data(), P, cd.data(), rows, cols);
        expect_all_close(cs.data(), ref.data(), rows * P, kDecode, "cs vs ref");
        expect_all_close(ca.data(), cs.data(), rows * P, kDecode, "ca vs cs");
        expect_all_close(cd.data(), cs.data(), rows * P, kDecode, "cd vs cs");
      }
  }

  // ---- the runner's in-memory form: sliced ELL (SELL-8) built from the gap stream ----------------
  TEST_CASE("sliced ELL from the gap stream: every weight at its row and column, fillers dropped, padding zero") {
    for (int64_t rows : {1, 7, 8, 9, 13, 33})
      for (int64_t cols : {1, 9, 31, 1027})
        for (float density : {0.0f, 0.03f, 0.3f, 1.0f}) {
          CAPTURE(rows);
          CAPTURE(cols);
          CAPTURE(density);
          auto codes = random_codes(rows * cols, density, 5, static_cast<uint64_t>(rows * 1000 + cols * 7 + density * 100));
          RelativeIndex s = relative_index_encode(codes.data(), rows * cols, 3);   // 3-bit gaps: many fillers
          Tensor cb = random_tensor({32}, 80);
          cb[0] = 0.0f;
          SellMatrix W = sell_from_relative_index(s, cb.data(), 32, rows, cols);
          const int64_t L = SellMatrix::kLanes;
          REQUIRE(W.slices() == (rows + L - 1) / L);
          REQUIRE(W.entries() % L == 0);
          CHECK(W.nonzeros == s.entries() - s.fillers());
          // Scatter the form back into a dense matrix and compare with C[I] exactly; a padding
          // entry (beyond a row's own weights) must be (column 0, value 0).
          std::vector<float> dense(static_cast<size_t>(rows * cols), 0.0f), want(dense.size());
          for (int64_t i = 0; i < rows * cols; ++i) want[i] = cb[codes[i]];
          std::vector<int> seen(static_cast<size_t>(rows), 0);
          int64_t placed = 0, prev_len = INT64_MAX;
          for (int64_t sl = 0; sl < W.slices(); ++sl)
            for (int64_t i = 0; i < L; ++i) {
              const int32_t r = W.row[sl * L + i];
              if (r < 0) continue;
              REQUIRE(r < rows);
              ++seen[r];
              int64_t len = 0;
              for (int64_t e = W.slice_ptr[sl] + i; e < W.slice_ptr[sl + 1]; e += L) {
                if (W.val[e] == 0.0f) {   // padding: only after the row's weights
                  CHECK(W.col[e] == 0);
                  continue;
                }
                CHECK(len == (e - W.slice_ptr[sl] - i) / L);
                ++len;
                dense[r * cols + W.col[e]] = W.val[e];
                ++placed;
              }
              CHECK(len <= prev_len);   // σ: the rows come longest first
              prev_len = len;
            }
          for (int64_t r = 0; r < rows; ++r) CHECK(seen[r] == 1);
          CHECK(placed == W.nonzeros);
          expect_all_close(dense, want, mgf::testing::kExact, "scattered form vs C[I]");
          CHECK(W.bytes() == 6 * W.entries() + 4 * (W.slices() + 1) + 4 * W.slices() * L);
        }
  }

  TEST_CASE("sliced ELL rejects a stream of the wrong size, a code outside the codebook and too many columns") {
    auto codes = random_codes(4 * 9, 0.5f, 3, 90);
    RelativeIndex s = relative_index_encode(codes.data(), 36, 5);
    std::vector<float> cb(8, 0.5f);
    CHECK_THROWS_WITH_AS(sell_from_relative_index(s, cb.data(), 8, 4, 10), doctest::Contains("numel 36"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(sell_from_relative_index(s, cb.data(), 2, 4, 9), doctest::Contains("codebook"), std::runtime_error);
    RelativeIndex wide;
    wide.numel = 65537;
    CHECK_THROWS_WITH_AS(sell_from_relative_index(wide, cb.data(), 8, 1, 65537), doctest::Contains("65536"), std::invalid_argument);
    CHECK_THROWS_AS(sell_matvec_codes(sell_from_relative_index(s, cb.data(), 8, 4, 9), cb.data(), nullptr, cb.data()),
                    std::invalid_argument);   // built without codes
    CHECK_THROWS_WITH_AS(sell_from_relative_index(s, cb.data(), 8, 4, 9, true), doctest::Contains("codebook[0] = 0"),
                         std::invalid_argument);   // cb[0] = 0.5: padding would add 0.5·x[0]
    s.gaps.push_back(31);   // one more entry, 32 positions on: past the end of the matrix
    s.codes.push_back(1);
    CHECK_THROWS_AS(sell_from_relative_index(s, cb.data(), 8, 4, 9), std::runtime_error);
  }

  TEST_CASE("sell_matvec equals the dense codebook layer plus bias; scalar = AVX2, both dispatch modes; from the codes bit-equal") {
    for (int64_t rows : {1, 7, 8, 9, 31, 33})
      for (int64_t cols : {1, 7, 8, 9, 31, 33, 1027})
        for (float density : {0.03f, 0.3f, 1.0f}) {
          CAPTURE(rows);
          CAPTURE(cols);
          CAPTURE(density);
          auto codes = random_codes(rows * cols, density, 6, static_cast<uint64_t>(rows * 3 + cols * 11 + density * 100));
          RelativeIndex s = relative_index_encode(codes.data(), rows * cols, 5);
          Tensor cb = random_tensor({64}, 81);
          cb[0] = 0.0f;
          Tensor x = random_tensor({cols}, 82), b = random_tensor({rows}, 83);
          SellMatrix W = sell_from_relative_index(s, cb.data(), 64, rows, cols);
          std::vector<float> ref(rows), ys(rows, -9.0f), ya(rows, -9.0f), yd(rows, -9.0f);
          codebook_matvec_scalar(codes.data(), cb.data(), x.data(), b.data(), ref.data(), rows, cols);
          sell_matvec_scalar(W, x.data(), b.data(), ys.data());
          sell_matvec_avx2(W, x.data(), b.data(), ya.data());
          expect_all_close(ys, ref, kAccumulate, "scalar vs dense codebook");
          expect_all_close(ya, ys, kAccumulate, "avx2 vs scalar");
          for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
            KernelModeGuard g(mode);
            sell_matvec(W, x.data(), nullptr, yd.data());   // no bias
            for (int64_t r = 0; r < rows; ++r) yd[r] += b[r];
            expect_all_close(yd, ys, kAccumulate, std::string("dispatched, ") + kernel_mode_name(mode));
          }
          // From the codes: the same products in the same order, so the same bits.
          SellMatrix Wc = sell_from_relative_index(s, cb.data(), 64, rows, cols, true);
          CHECK(Wc.code_bytes() == W.bytes() - 3 * W.entries() + 64 * 4);
          std::vector<float> zs(rows, -9.0f), za(rows, -9.0f), zd(rows, -9.0f);
          sell_matvec_codes_scalar(Wc, x.data(), b.data(), zs.data());
          sell_matvec_codes_avx2(Wc, x.data(), b.data(), za.data());
          sell_matvec_codes(Wc, x.data(), b.data(), zd.data());
          expect_all_close(zs, ys, mgf::testing::kExact, "codes scalar vs values scalar");
          expect_all_close(za, ya, mgf::testing::kExact, "codes avx2 vs values avx2");
          expect_all_close(zd, use_avx2() ? ya : ys, mgf::testing::kExact, "codes dispatched");
        }
  }

  TEST_CASE("sell_spmm: decoded W times B plus bias, over the 32-wide, 8-wide and scalar column paths; scalar = AVX2") {
    for (int64_t P : {1, 7, 8, 9, 31, 32, 33, 45, 64, 97})
      for (float density : {0.03f, 0.3f, 1.0f}) {
        CAPTURE(P);
        CAPTURE(density);
        const int64_t rows = 11, cols = 29;   // two slices, the second with 5 empty lanes
        auto codes = random_codes(rows * cols, density, 5, static_cast<uint64_t>(P * 13 + density * 100));
        RelativeIndex s = relative_index_encode(codes.data(), rows * cols, 3);
        Tensor cb = random_tensor({32}, 84);
        cb[0] = 0.0f;
        Tensor B = random_tensor({cols, P}, 85), bias = random_tensor({rows}, 86);
        SellMatrix W = sell_from_relative_index(s, cb.data(), 32, rows, cols);
        std::vector<float> ref(rows * P), cs(rows * P, -9.0f), ca(rows * P, -9.0f), cd(rows * P, -9.0f);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < P; ++j) {
            double acc = bias[r];
            for (int64_t c = 0; c < cols; ++c) acc += static_cast<double>(cb[codes[r * cols + c]]) * B[c * P + j];
            ref[r * P + j] = static_cast<float>(acc);
          }
        sell_spmm_scalar(W, B.data(), P, bias.data(), cs.data());
        sell_spmm_avx2(W, B.data(), P, bias.data(), ca.data());
        expect_all_close(cs, ref, kDecode, "scalar vs reference");
        expect_all_close(ca, cs, kDecode, "avx2 vs scalar");
        for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
          KernelModeGuard g(mode);
          sell_spmm(W, B.data(), P, bias.data(), cd.data());
          expect_all_close(cd, cs, kDecode, std::string("dispatched, ") + kernel_mode_name(mode));
        }
      }
  }

  TEST_CASE("sell_linear_forward: a batch through the transposed product equals one matvec per sample") {
    const int64_t rows = 19, cols = 43;
    auto codes = random_codes(rows * cols, 0.2f, 6, 87);
    RelativeIndex s = relative_index_encode(codes.data(), rows * cols, 5);
    Tensor cb = random_tensor({64}, 88), bias = random_tensor({rows}, 89);
    cb[0] = 0.0f;
    SellMatrix W = sell_from_relative_index(s, cb.data(), 64, rows, cols);
    for (int64_t N : {1, 3, 4, 17, 64}) {
      CAPTURE(N);
      Tensor X = random_tensor({N, cols}, 90 + static_cast<uint64_t>(N));
      std::vector<float> Y(N * rows, -9.0f), ref(N * rows);
      for (int64_t n = 0; n < N; ++n) sell_matvec_scalar(W, X.data() + n * cols, bias.data(), ref.data() + n * rows);
      sell_linear_forward(W, bias.data(), X.data(), N, Y.data());
      expect_all_close(Y, ref, kDecode, "batched vs per sample");
    }
  }

  // ---- Huffman ---------------------------------------------------------------------------------
  TEST_CASE("Huffman code lengths are -log2 p on a dyadic distribution") {
    std::vector<uint64_t> f = {8, 4, 2, 1, 1};   // p = 1/2, 1/4, 1/8, 1/16, 1/16
    auto len = huffman_lengths(f);
    CHECK(len == std::vector<uint8_t>{1, 2, 3, 4, 4});
    CHECK(huffman_mean_length(f, len) == doctest::Approx(entropy_bits(f)));
  }

  TEST_CASE("Huffman expected length is within 1 bit of the entropy, and never below it") {
    for (uint64_t seed : {1, 2, 3, 4}) {
      Rng r(seed);
      std::vector<uint64_t> f(40);
      for (auto& x : f) x = static_cast<uint64_t>(r.randint(1000)) * (r.uniform() < 0.8f);
      f[0] += 1;
      auto len = huffman_lengths(f);
      const double H = entropy_bits(f), L = huffman_mean_length(f, len);
      CHECK(L >= H - 1e-9);
      CHECK(L < H + 1.0);
    }
  }

  TEST_CASE("Huffman round trip; a canonical code is rebuilt from its lengths alone") {
    Rng r(9);
    std::vector<uint8_t> sym(5000);
    for (auto& s : sym) s = static_cast<uint8_t>(std::min<int64_t>(r.randint(8) * r.randint(8), 63));
    auto len = huffman_lengths(symbol_histogram(sym, 64));
    BitStream bs = huffman_encode(sym, huffman_canonical(len));
    CHECK(huffman_decode(bs, len, 5000) == sym);
    // Codes of one length are consecutive and in symbol order.
    HuffmanCode h = huffman_canonical(len);
    for (size_t a = 0; a < len.size(); ++a)
      for (size_t b = a + 1; b < len.size(); ++b)
        if (len[a] && len[a] == len[b]) CHECK(h.codes[a] < h.codes[b]);
  }

  TEST_CASE("Huffman: a one-symbol alphabet costs one bit per symbol; an empty message costs nothing") {
    std::vector<uint8_t> sym(37, 4);
    auto len = huffman_lengths(symbol_histogram(sym, 8));
    CHECK(len[4] == 1);
    BitStream bs = huffman_encode(sym, huffman_canonical(len));
    CHECK(bs.nbits == 37);
    CHECK(huffman_decode(bs, len, 37) == sym);
    CHECK(huffman_decode(BitStream{}, len, 0).empty());
  }

  TEST_CASE("Huffman lengths are capped at 15 bits and stay a decodable prefix code") {
    std::vector<uint64_t> f(30);
    uint64_t a = 1, b = 1;   // Fibonacci counts: the unlimited code would be 29 bits deep
    for (auto& x : f) {
      x = a;
      uint64_t c = a + b;
      a = b;
      b = c;
    }
    auto len = huffman_lengths(f);
    CHECK(*std::max_element(len.begin(), len.end()) <= kHuffmanMaxLength);
    std::vector<uint8_t> sym;
    for (int s = 0; s < 30; ++s) sym.push_back(static_cast<uint8_t>(s));
    CHECK(huffman_decode(huffman_encode(sym, huffman_canonical(len)), len, 30) == sym);
  }

  TEST_CASE("Huffman decode rejects truncated streams, invalid codewords, leftover bits and bad lengths") {
    std::vector<uint8_t> sym = {0, 1, 2, 0, 0, 3, 1};
    auto len = huffman_lengths(symbol_histogram(sym, 4));
    BitStream bs = huffman_encode(sym, huffman_canonical(len));
    BitStream cut = bs;
    cut.nbits -= 1;
    CHECK_THROWS_WITH_AS(huffman_decode(cut, len, 7), doctest::Contains("truncated"), std::runtime_error);
    CHECK_THROWS_WITH_AS(huffman_decode(bs, len, 6), doctest::Contains("expected all"), std::runtime_error);
    BitStream lie = bs;
    lie.nbits = 8 * bs.bytes.size() + 1;
    CHECK_THROWS_AS(huffman_decode(lie, len, 7), std::runtime_error);
    // An incomplete code {0 → "0", 1 → "10"}: "11" is no codeword.
    BitStream ones{{0xC0}, 2};
    CHECK_THROWS_WITH_AS(huffman_decode(ones, {1, 2}, 1), doctest::Contains("invalid codeword"), std::runtime_error);
    // Over-subscribed lengths are not a prefix code.
    CHECK_THROWS_WITH_AS(huffman_decode(bs, {1, 1, 1}, 1), doctest::Contains("Kraft"), std::runtime_error);
  }

  // ---- the file ------------------------------------------------------------------------------
  TEST_CASE("compressed file round trip: every tensor comes back in its stored form; fixed-width costs b_w + b_i bits per entry") {
    auto net = tiny_net(71);
    TrainedQuantization q;
    Rng rng(4);
    int bits = 4;
    for (auto& np : net->named_parameters())
      if (np.name.find("weight") != std::string::npos) {
        np.param->set_mask(random_mask(np.param->var.shape(), 0.25f, 72 + bits));
        q.add(np.name, *np.param, bits--, KmeansInit::linear, rng);
      }
    for (uint32_t version : {1u, 2u})
    for (bool huffman : {true, false}) {
      CAPTURE(version);
      CAPTURE(huffman);
      CodingOptions o;
      o.version = version;
      CompressedModel cm = make_compressed_model(*net, q, "tiny", o);
      FileLayout wrote, read;
      std::string bytes = serialize_compressed(cm, huffman, &wrote);
      CHECK(static_cast<uint8_t>(bytes[8]) == version);
      CompressedModel back = parse_compressed(bytes, "memory", &read);
      CHECK(back.version == version);
      CHECK(wrote.file_bytes == static_cast<int64_t>(bytes.size()));
      CHECK(back.arch == "tiny");
      REQUIRE(back.tensors.size() == cm.tensors.size());
      int64_t sum = wrote.header_bytes;
      for (size_t i = 0; i < cm.tensors.size(); ++i) {
        CAPTURE(cm.tensors[i].name);
        CHECK(back.tensors[i].name == cm.tensors[i].name);
        CHECK(back.tensors[i].coded == cm.tensors[i].coded);
        CHECK(back.tensors[i].codebook == cm.tensors[i].codebook);
        CHECK(back.tensors[i].stream.gaps == cm.tensors[i].stream.gaps);
        CHECK(back.tensors[i].stream.codes == cm.tensors[i].stream.codes);
        CHECK(back.tensors[i].values == cm.tensors[i].values);
        CHECK(read.tensors[i].total_bytes() == wrote.tensors[i].total_bytes());
        sum += wrote.tensors[i].total_bytes();
        const TensorLayout& t = wrote.tensors[i];
        if (t.coded && !huffman) {
          CHECK(t.code_bits == static_cast<uint64_t>(t.entries * t.weight_bits));
          CHECK(t.gap_stream_bits == static_cast<uint64_t>(t.entries * t.gap_bits));
        }
      }
      CHECK(sum == wrote.file_bytes);   // the layout accounts for every byte
    }
    // the decoded weights are exactly what the quantized model uses
    CompressedModel cm = make_compressed_model(*net, q, "tiny", {});
    for (auto& np : net->named_parameters()) {
      Tensor d = cm.find(np.name)->decode();
      for (int64_t i = 0; i < d.numel(); ++i) CHECK(d[i] == np.param->var.value()[i]);
    }
  }

  TEST_CASE("a corrupt or truncated compressed file fails with a message, never a crash (versions 1 and 2)") {
    auto net = tiny_net(81);
    TrainedQuantization q;
    Rng rng(5);
    for (auto& np : net->named_parameters())
      if (np.name.find("weight") != std::string::npos) {
        np.param->set_mask(random_mask(np.param->var.shape(), 0.3f, 82));
        q.add(np.name, *np.param, 3, KmeansInit::linear, rng);
      }
    for (uint32_t version : {1u, 2u}) {
    CAPTURE(version);
    CodingOptions o;
    o.version = version;
    const std::string good = serialize_compressed(make_compressed_model(*net, q, "tiny", o), true);
    // every truncation
    for (size_t n = 0; n < good.size(); ++n) {
      CAPTURE(n);
      CHECK_THROWS_AS(parse_compressed(good.substr(0, n), "t.mgfdc"), std::runtime_error);
    }
    std::string bad = good;
    bad[0] = 'X';
    CHECK_THROWS_WITH_AS(parse_compressed(bad, "t.mgfdc"), doctest::Contains("magic"), std::runtime_error);
    bad = good;
    bad[8] = 3;
    CHECK_THROWS_WITH_AS(parse_compressed(bad, "t.mgfdc"), doctest::Contains("field 'version' at byte offset 8: expected 1 or 2, found 3"),
                         std::runtime_error);
    bad[8] = static_cast<char>(3 - version);   // the other known version: its layout does not fit these bytes
    CHECK_THROWS_AS(parse_compressed(bad, "t.mgfdc"), std::runtime_error);
    bad = good;
    bad[good.size() / 2] ^= 0x10;
    CHECK_THROWS_WITH_AS(parse_compressed(bad, "t.mgfdc"), doctest::Contains("CRC-32"), std::runtime_error);
    CHECK_THROWS_WITH_AS(parse_compressed(good + "x", "t.mgfdc"), doctest::Contains("trailing"), std::runtime_error);
    // Corruptions the checksum cannot see (a bit flipped and the CRC recomputed): the parser
    // must still either accept a well-formed file or throw — exercised on every byte.
    int rejected = 0;
    for (size_t i = 24; i < good.size(); ++i) {
      bad = good;
      bad[i] ^= 0x41;
      uint32_t c = crc32(bad.data() + 24, bad.size() - 24);
      for (int k = 0; k < 4; ++k) bad[20 + k] = static_cast<char>((c >> (8 * k)) & 0xFF);
      try {
        parse_compressed(bad, "t.mgfdc");
      } catch (const std::runtime_error&) {
        ++rejected;
      }
    }
    CHECK(rejected > 0);
    }
  }

  TEST_CASE("a huge entry count in a small .mgfdc file is refused before anything is reserved for it") {
    // The fuzzer's find: huffman_decode reserved `entries` bytes before checking them against
    // the stream, so a 452-byte file asked for 1.4 GB. Here: an [8192, 8192] coded tensor
    // (numel 2^26, the most kMaxTensorElements allows) declares 60 000 000 entries (<= numel)
    // and an 8-bit stream (version 1 layout).
    ByteWriter p;
    p.str_u8("tiny");
    p.u32(1);              // tensor count
    p.str_u8("fc.weight");
    p.u8(2), p.u32(8192), p.u32(8192);
    p.u8(1);               // coded
    p.u8(1), p.u8(1);      // weight bits, gap bits
    p.f32(0.5f);           // codebook C_1
    p.u32(60000000);       // entry count
    for (int stream = 0; stream < 2; ++stream) p.u16(2), p.u8(0x11), p.u32(8), p.u8(0);
    ByteWriter f;
    f.bytes("MGFDC\r\n\x1a", 8);
    f.u32(1);
    f.u64(p.size());
    f.u32(crc32(p.data().data(), p.size()));
    f.bytes(p.data().data(), p.size());
    const std::string file(f.data().begin(), f.data().end());
    CHECK_THROWS_WITH_AS(parse_compressed(file, "huge.mgfdc"),
                         doctest::Contains("huge.mgfdc: field 'tensor 'fc.weight' weight-index stream bit count'"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(parse_compressed(file, "huge.mgfdc"),
                         doctest::Contains("expected at least one bit per symbol, 60000000 symbols, found 8 bits"),
                         std::runtime_error);
    // and huffman_decode itself checks the count against the bits before reserving
    BitStream bs;
    bs.bytes = {0};
    bs.nbits = 8;
    CHECK_THROWS_WITH_AS(huffman_decode(bs, {1, 1}, 350000000), doctest::Contains("350000000 symbols need at least"),
                         std::runtime_error);
  }

  // A hand-made .mgfdc: the frame (magic, version, length, CRC-32) around `p`.
  static std::string framed(const ByteWriter& p, uint32_t version) {
    ByteWriter f;
    f.bytes("MGFDC\r\n\x1a", 8);
    f.u32(version);
    f.u64(p.size());
    f.u32(crc32(p.data().data(), p.size()));
    f.bytes(p.data().data(), p.size());
    return std::string(f.data().begin(), f.data().end());
  }

  TEST_CASE("a declared shape beyond kMaxTensorElements is refused by name before anything is sized from it") {
    // A coded [65536, 65536] tensor (2^32 elements) with no entries is a few bytes: the stream
    // cannot bound the shape (trailing zeros need no entries), so the reader caps it.
    for (uint32_t version : {1u, 2u}) {
      CAPTURE(version);
      ByteWriter p;
      p.str_u8("tiny");
      if (version == 1) {
        p.u32(1);
        p.str_u8("fc.weight");
        p.u8(2), p.u32(65536), p.u32(65536), p.u8(1), p.u8(1), p.u8(1), p.f32(0.5f), p.u32(0);
        for (int stream = 0; stream < 2; ++stream) p.u16(0), p.u32(0);
      } else {
        p.u8(1);                                  // tensor count
        p.u8(0), p.str_u8("fc.weight");           // no shared prefix
        p.u8(2), p.u8(0x80), p.u8(0x80), p.u8(0x04), p.u8(0x80), p.u8(0x80), p.u8(0x04);   // 65536, 65536
        p.u8(1), p.u8(0x11), p.u16(0x3800), p.u8(0);   // coded, b_w = b_i = 1, C_1 = 0.5, 0 entries
        for (int stream = 0; stream < 2; ++stream) p.u8(0), p.u8(0);
      }
      const std::string file = framed(p, version);
      CHECK_THROWS_WITH_AS(parse_compressed(file, "big.mgfdc"), doctest::Contains("big.mgfdc: field 'tensor 'fc.weight' shape'"),
                           std::runtime_error);
      CHECK_THROWS_WITH_AS(parse_compressed(file, "big.mgfdc"),
                           doctest::Contains("expected at most kMaxTensorElements = 67108864 elements, found 4294967296 or more"),
                           std::runtime_error);
    }
    // decode() of a tensor built in memory checks the same cap
    CompressedTensor t;
    t.name = "w";
    t.shape = {int64_t{1} << 14, int64_t{1} << 13};
    t.coded = true;
    CHECK_THROWS_WITH_AS(t.decode(), doctest::Contains("expected at most kMaxTensorElements"), std::runtime_error);
  }

  TEST_CASE("version 2 varints: at most 5 bytes, minimal, and bounded per field") {
    auto file_with_count = [](std::vector<uint8_t> varint) {
      ByteWriter p;
      p.str_u8("tiny");
      p.bytes(varint.data(), varint.size());   // tensor count
      return framed(p, 2);
    };
    CHECK(parse_compressed(file_with_count({0}), "v.mgfdc").tensors.empty());
    CHECK_THROWS_WITH_AS(parse_compressed(file_with_count({0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), "v.mgfdc"),
                         doctest::Contains("field 'tensor count' at byte offset 29: expected a varint of at most 5 bytes"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(parse_compressed(file_with_count({0x81, 0x00}), "v.mgfdc"), doctest::Contains("expected a minimal varint"),
                         std::runtime_error);
    // a name prefix longer than the previous name
    ByteWriter p;
    p.str_u8("tiny");
    p.u8(1), p.u8(3), p.str_u8("w");
    CHECK_THROWS_WITH_AS(parse_compressed(framed(p, 2), "v.mgfdc"),
                         doctest::Contains("field 'tensor 0 name prefix' at byte offset 30: expected at most 0, found 3"),
                         std::runtime_error);
  }

  TEST_CASE("binary16: every half value round-trips through float; floats round to nearest, ties to even") {
    int checked = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
      const float f = half_to_float(static_cast<uint16_t>(h));
      if (std::isnan(f)) continue;
      if (float_to_half(f) != h) {
        CAPTURE(h);
        CHECK(float_to_half(f) == h);
      }
      ++checked;
    }
    CHECK(checked == 65536 - 2 * 1023);   // all but the NaNs
    CHECK(half_to_float(0x3C00) == 1.0f);
    CHECK(half_to_float(0x7BFF) == 65504.0f);
    CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);       // halfway, even below
    CHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);   // halfway, even above
    CHECK(float_to_half(65519.0f) == 0x7BFF);
    CHECK(float_to_half(65520.0f) == 0x7C00);                           // rounds to infinity
    CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);              // halfway to the smallest subnormal
    CHECK(float_to_half(std::ldexp(3.0f, -26)) == 0x0001);
    CHECK(float_to_half(-2.0f) == 0xC000);
    CHECK(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  }

  TEST_CASE("half_floats: the model rounded to binary16 is exactly what a version-2 file holds, which is smaller than versions 2 and 1 in f32") {
    auto net = tiny_net(91);
    TrainedQuantization q;
    Rng rng(6);
    for (auto& np : net->named_parameters())
      if (np.name.find("weight") != std::string::npos) {
        np.param->set_mask(random_mask(np.param->var.shape(), 0.3f, 92));
        q.add(np.name, *np.param, 4, KmeansInit::linear, rng);
      }
    CodingOptions half;
    half.half_floats = true;
    half.version = 2;
    // not yet rounded: the writer refuses to lose precision silently
    CHECK_THROWS_WITH_AS(serialize_compressed(make_compressed_model(*net, q, "tiny", half), true),
                         doctest::Contains("expected a binary16 value"), std::invalid_argument);
    CodingOptions v1;
    v1.version = 1;
    v1.half_floats = true;
    CHECK_THROWS_WITH_AS(make_compressed_model(*net, q, "tiny", v1), doctest::Contains("needs file version 2"), std::invalid_argument);
    const int64_t bytes_v1_f32 = static_cast<int64_t>(serialize_compressed(make_compressed_model(*net, q, "tiny", CodingOptions{8, 5, true, false, 1}), true).size());
    const int64_t bytes_v2_f32 = static_cast<int64_t>(serialize_compressed(make_compressed_model(*net, q, "tiny", CodingOptions{8, 5, true, false, 2}), true).size());
    round_to_half_floats(*net, q);
    FileLayout L;
    const std::string file = serialize_compressed(make_compressed_model(*net, q, "tiny", half), true, &L);
    CHECK(static_cast<int64_t>(file.size()) < bytes_v2_f32);
    CHECK(bytes_v2_f32 < bytes_v1_f32);
    int64_t sum = L.header_bytes;
    for (const TensorLayout& t : L.tensors) sum += t.total_bytes();
    CHECK(sum == static_cast<int64_t>(file.size()));
    const CompressedModel back = parse_compressed(file, "memory");
    int64_t compared = 0;
    for (auto& np : net->named_parameters()) {
      const CompressedTensor* t = back.find(np.name);
      REQUIRE(t != nullptr);
      CHECK(t->half);
      const Tensor d = t->decode();
      for (int64_t i = 0; i < d.numel(); ++i, ++compared)
        if (d[i] != np.param->var.value()[i]) {
          CAPTURE(np.name);
          CAPTURE(i);
          CHECK(d[i] == np.param->var.value()[i]);
        }
      for (int64_t i = 0; i < d.numel(); ++i) CHECK(round_to_half(d[i]) == d[i]);
    }
    CHECK(compared == net->num_parameters());
  }

  TEST_CASE("save_compressed writes atomically and load_compressed names the file in its errors") {
    auto net = tiny_net(91);
    TrainedQuantization q;
    Rng rng(6);
    auto& fc2 = *std::static_pointer_cast<TLinear>(net->order[5]);
    q.add("fc2.weight", fc2.weight, 2, KmeansInit::linear, rng);
    const std::string path = temp_path("test_deep_compression.mgfdc");
    int64_t n = save_compressed(path, make_compressed_model(*net, q, "tiny"));
    CHECK(file_size_bytes(path) == n);
    std::FILE* f = std::fopen((path + ".tmp").c_str(), "rb");
    CHECK(f == nullptr);
    if (f) std::fclose(f);
    CHECK(load_compressed(path).tensors.size() == 6);
    CHECK_THROWS_WITH_AS(load_compressed(temp_path("does-not-exist.mgfdc")), doctest::Contains("does-not-exist"), std::runtime_error);
    std::remove(path.c_str());
  }

  TEST_CASE("simulation = deployment: the model run from the file gives the masked, quantized model's logits") {
    auto net = tiny_net(101);
    TrainedQuantization q;
    Rng rng(7);
    for (auto& np : net->named_parameters())
      if (np.name.find("weight") != std::string::npos) {
        np.param->set_mask(random_mask(np.param->var.shape(), 0.4f, 102));
        q.add(np.name, *np.param, np.param->var.value().ndim() == 4 ? 8 : 5, KmeansInit::linear, rng);
      }
    // a few steps of trained quantization so the codebooks are not just the k-means ones
    Var x(random_tensor({9, 1, 6, 6}, 103));
    for (int i = 0; i < 3; ++i) {
      net->zero_grad();
      mse_loss(net->forward(x), Var(random_tensor({9, 5}, 104))).backward();
      q.step(0.01f);
    }
    const std::string path = temp_path("test_deep_compression_sim.mgfdc");
    save_compressed(path, make_compressed_model(*net, q, "tiny"));
    CompressedRunner runner(load_compressed(path), tiny_net(999));   // a fresh skeleton: other weights
    std::remove(path.c_str());
    CHECK(runner.compressed_linear_layers() == 2);
    CHECK(runner.reinflated_layers() == 1);
    NoGradGuard ng;
    Tensor want = net->forward(x).value(), got = runner.forward(x).value();
    REQUIRE(got.shape() == want.shape());
    expect_all_close(got.data(), want.data(), got.numel(), kDecode, "got vs want");
    for (int64_t n = 0; n < 9; ++n) {
      auto arg = [&](const Tensor& t) { return std::max_element(t.data() + n * 5, t.data() + n * 5 + 5) - (t.data() + n * 5); };
      CHECK(arg(got) == arg(want));
    }
    // a skeleton that does not match the file is refused
    auto other = std::make_shared<TSeq>();
    other->add("fc9", std::make_shared<TLinear>(3, 3, 1));
    CHECK_THROWS_AS(CompressedRunner(make_compressed_model(*net, q, "tiny"), other), std::invalid_argument);
  }
  TEST_CASE("LeNet-5 from the file: both convs and both FC layers run from their streams, nothing re-inflated, same logits") {
    for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
      if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
      CAPTURE(kernel_mode_name(mode));
      KernelModeGuard guard(mode);
      auto net = make_lenet5();
      TrainedQuantization q;
      Rng rng(17);
      uint64_t seed = 200;
      for (auto& np : net->named_parameters())
        if (np.param->var.value().ndim() >= 2) {
          np.param->set_mask(random_mask(np.param->var.shape(), 0.3f, ++seed));
          q.add(np.name, *np.param, np.param->var.value().ndim() == 4 ? 8 : 5, KmeansInit::linear, rng);
        }
      CompressedModel cm = make_compressed_model(*net, q, "lenet5", CodingOptions{4, 3, true});   // narrow gaps: fillers
      CompressedRunner runner(parse_compressed(serialize_compressed(cm, true), "memory"), make_lenet5());
      CHECK(runner.compressed_conv_layers() == 2);
      CHECK(runner.compressed_linear_layers() == 2);
      CHECK(runner.reinflated_layers() == 0);
      // the in-memory form (6 bytes per kept weight, 30 % kept) is far below 4 bytes per weight
      CHECK(runner.memory_bytes() > 0);
      CHECK(runner.memory_bytes() < 4 * net->num_parameters() / 2);
      NoGradGuard ng;
      net->eval();
      Var x(random_tensor({5, 1, 28, 28}, 210, 0.0f, 1.0f));
      Tensor want = net->forward(x).value(), got = runner.forward(x).value();
      REQUIRE(got.shape() == want.shape());
      expect_all_close(got.data(), want.data(), got.numel(), kAccumulate, "got vs want");
    }
  }

  TEST_CASE("a compressed conv with padding and stride equals the dense conv with the decoded weights") {
    Conv2dOptions o;
    o.stride_h = 2;
    o.stride_w = 1;
    o.pad_h = 1;
    o.pad_w = 2;
    Parameter w;
    w.name = "weight";
    w.var = Var(random_tensor({6, 3, 3, 2}, 220), true);   // a non-square kernel, through the op
    w.set_mask(random_mask(w.var.shape(), 0.5f, 221));
    Rng rng(3);
    SharedWeight sw = share_weights(w.var.value(), &w.mask, 4, KmeansInit::linear, rng);
    CompressedTensor t;
    t.name = "c.weight";
    t.shape = w.var.shape();
    t.coded = true;
    t.weight_bits = 4;
    t.codebook = sw.codebook;
    t.stream = relative_index_encode(sw.codes.data(), sw.numel(), 2);
    Tensor bias = random_tensor({6}, 222);
    CompressedConv2d cc(t, bias.to_vector(), o);
    Tensor x = random_tensor({2, 3, 7, 9}, 223);
    NoGradGuard ng;
    Tensor want = conv2d(Var(x), Var(sw.decode()), Var(bias), o).value(), got = cc.forward(Var(x)).value();
    REQUIRE(got.shape() == want.shape());
    expect_all_close(got.data(), want.data(), got.numel(), kDecode, "got vs want");
    CHECK_THROWS_AS(cc.forward(Var(random_tensor({2, 4, 7, 9}, 1))), std::invalid_argument);   // wrong channels
    o.groups = 3;
    CHECK_THROWS_AS(CompressedConv2d(t, {}, o), std::invalid_argument);
  }

  TEST_CASE("compress_and_measure: the whole pipeline on a tiny problem; the file is smaller and runs like the simulation") {
    set_training_output(false);
    DataSplits data;
    data.train = synthetic_dataset(256, 4, 8, 1);
    data.test = synthetic_dataset(64, 4, 8, 2);
    auto make = [] {
      auto s = std::make_shared<TSeq>();
      s->add("flat", std::make_shared<TFlatten>());
      s->add("fc1", std::make_shared<TLinear>(64, 32, 5));
      s->add("relu", std::make_shared<TRelu>());
      s->add("fc2", std::make_shared<TLinear>(32, 4, 6));
      return s;
    };
    auto model = make();
    DeepCompressionConfig cfg;
    cfg.keep = {{"fc1.weight", 0.25}, {"fc2.weight", 0.5}};
    cfg.prune_steps = 2;
    cfg.prune_epochs = 1;
    cfg.quant_epochs = 1;
    cfg.fc_bits = 4;
    cfg.batch = 32;
    cfg.file = temp_path("pipeline.mgfdc");
    DeepCompressionResult r = compress_and_measure(*model, make, data, cfg);
    set_training_output(true);
    CHECK(r.file_bytes == file_size_bytes(cfg.file));
    CHECK(r.file_bytes < r.pq_file_bytes + 64);   // Huffman never costs more than a table's worth
    CHECK(r.ratio() > 3.0);
    CHECK(r.prediction_mismatches == 0);
    CHECK(r.max_logit_diff < 1e-4);
    CHECK(r.error_deployed == r.error_quantized);   // coding changes bytes, not weights
    auto& fc1 = *std::static_pointer_cast<TLinear>(model->order[1]);
    CHECK(density(fc1.weight) == doctest::Approx(0.25).epsilon(0.01));
    std::remove(cfg.file.c_str());
    std::remove((cfg.file + ".pq").c_str());
    CHECK_THROWS_AS(deep_compression_paper_config("alexnet"), std::invalid_argument);
    CHECK(deep_compression_paper_config("lenet5").keep.size() == 4);
    // The paper configs retrain by rewinding to the baselines' peak rate with a cosine per
    // step (book/15), with the baselines' L2 and LeNet-5's jitter.
    const DeepCompressionConfig c300 = deep_compression_paper_config("lenet300"), c5 = deep_compression_paper_config("lenet5");
    CHECK(c300.prune_cosine);
    CHECK(c300.prune_lr == doctest::Approx(0.05));
    CHECK(c300.weight_decay == doctest::Approx(5e-4));
    CHECK(c300.jitter == 0);
    CHECK(c5.prune_lr == doctest::Approx(0.01));
    CHECK(c5.jitter == 2);
  }

  TEST_CASE("kmeans_init_ablation: bits x (linear, Forgy, density) cells, one error per seed, each from a fresh pruned model") {
    set_training_output(false);
    DataSplits data;
    data.train = synthetic_dataset(64, 4, 8, 1);
    data.test = synthetic_dataset(32, 4, 8, 2);
    std::vector<std::shared_ptr<TSeq>> made;  // every model the ablation asked for, to look at afterwards
    auto pruned = [&]() -> std::shared_ptr<Module> {
      auto s = std::make_shared<TSeq>();
      s->add("flat", std::make_shared<TFlatten>());
      auto fc1 = std::make_shared<TLinear>(64, 16, 5);
      prune_parameter(fc1->weight, random_mask({16, 64}, 0.3f, 9));
      s->add("fc1", fc1);
      s->add("relu", std::make_shared<TRelu>());
      s->add("fc2", std::make_shared<TLinear>(16, 4, 6));
      made.push_back(s);
      return s;
    };
    DeepCompressionConfig cfg;
    cfg.batch = 16;
    const Tensor mask = random_mask({16, 64}, 0.3f, 9);
    for (int epochs : {0, 1}) {
      CAPTURE(epochs);
      made.clear();
      const auto cells = kmeans_init_ablation(pruned, "fc1.weight", {2, 3}, epochs, 2, data, cfg);
      REQUIRE(cells.size() == 6);
      CHECK(made.size() == 12);  // 2 bits x 3 inits x 2 seeds, each a fresh model
      const KmeansInit order[] = {KmeansInit::linear, KmeansInit::forgy, KmeansInit::density};
      for (size_t c = 0; c < cells.size(); ++c) {
        CAPTURE(c);
        CHECK(cells[c].bits == (c < 3 ? 2 : 3));
        CHECK(cells[c].init == order[c % 3]);
        REQUIRE(cells[c].error_kmeans.size() == 2);
        REQUIRE(cells[c].error_trained.size() == 2);
        for (double e : cells[c].error_trained) CHECK((e >= 0.0 && e <= 1.0));
        if (epochs == 0) CHECK(cells[c].error_trained == cells[c].error_kmeans);
        // linear initialisation draws nothing: both seeds give the same k-means
        if (order[c % 3] == KmeansInit::linear) CHECK(cells[c].error_kmeans[0] == cells[c].error_kmeans[1]);
      }
      // every model: fc1 shares at most 2^b - 1 values, pruned weights stay exactly zero
      for (size_t m = 0; m < made.size(); ++m) {
        CAPTURE(m);
        const int bits = m < 6 ? 2 : 3;
        const Tensor& w = std::static_pointer_cast<TLinear>(made[m]->order[1])->weight.var.value();
        std::set<float> values;
        for (int64_t i = 0; i < w.numel(); ++i) {
          if (mask[i] == 0.0f) CHECK(w[i] == 0.0f);
          else if (w[i] != 0.0f) values.insert(w[i]);
        }
        CHECK(static_cast<int>(values.size()) <= (1 << bits) - 1);
      }
    }
    CHECK_THROWS_AS(kmeans_init_ablation(pruned, "fc9.weight", {2}, 0, 1, data, cfg), std::invalid_argument);
    set_training_output(true);
  }
}
