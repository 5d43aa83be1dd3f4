// tests/test_xnor.cpp — TEST_SUITE("xnor"): XNOR-Net (Rastegari et al. 2016).
// Bit packing and the popcount GEMM (exact against the float arithmetic of the same signs, in
// every kernel variant), the BWN / XNOR autograd ops (gradients by central differences away
// from the kinks, and the straight-through estimator by name), the packed export and the
// simulation = deployment check. Book: book/23-xnor.md.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/bitpack.h"
#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::random_tensor;

namespace {

std::vector<float> random_signs_source(int64_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.uniform(-1.0f, 1.0f);
  return v;
}

// The float reference of the same sign arithmetic: Σ_k sign(a_ik)·sign(b_jk), sign(0) = +1.
std::vector<int32_t> sign_gemm_reference(const std::vector<float>& a, const std::vector<float>& b, int64_t M,
                                         int64_t N, int64_t K) {
  std::vector<int32_t> c(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float s = 0.0f;  // exact: |s| <= K < 2^24
      for (int64_t k = 0; k < K; ++k)
        s += (a[static_cast<size_t>(i * K + k)] >= 0 ? 1.0f : -1.0f) * (b[static_cast<size_t>(j * K + k)] >= 0 ? 1.0f : -1.0f);
      c[static_cast<size_t>(i * N + j)] = static_cast<int32_t>(s);
    }
  return c;
}

// Runs one variant and reports the first mismatch, if any.
bool bgemm_matches(void (*fn)(int64_t, int64_t, int64_t, const uint64_t*, const uint64_t*, int32_t*, int64_t),
                   int64_t M, int64_t N, int64_t K, uint64_t seed) {
  auto a = random_signs_source(M * K, seed), b = random_signs_source(N * K, seed + 1);
  PackedSigns pa = PackedSigns::from_rows(a.data(), M, K), pb = PackedSigns::from_rows(b.data(), N, K);
  std::vector<int32_t> c(static_cast<size_t>(M * N), -7777);
  fn(M, N, K, pa.bits.data(), pb.bits.data(), c.data(), N);
  auto ref = sign_gemm_reference(a, b, M, N, K);
  for (size_t i = 0; i < c.size(); ++i)
    if (c[i] != ref[i]) {
      MESSAGE("M " << M << " N " << N << " K " << K << ": first bad index " << i << ": " << c[i] << " vs " << ref[i]);
      return false;
    }
  return true;
}

}  // namespace

TEST_SUITE("xnor") {
  TEST_CASE("packing puts +1 as bit 1 along K, and the padding bits stay 0 for ragged K") {
    for (int64_t K : {1, 63, 64, 65, 200}) {
      CAPTURE(K);
      auto x = random_signs_source(3 * K, 7 + static_cast<uint64_t>(K));
      PackedSigns p = PackedSigns::from_rows(x.data(), 3, K);
      CHECK(p.words == (K + 63) / 64);
      for (int64_t r = 0; r < 3; ++r) {
        std::vector<float> back(static_cast<size_t>(K));
        unpack_signs_row(p.row(r), K, back.data());
        for (int64_t k = 0; k < K; ++k) CHECK(back[static_cast<size_t>(k)] == (x[static_cast<size_t>(r * K + k)] >= 0 ? 1.0f : -1.0f));
        const int64_t used = K % 64;
        if (used != 0) CHECK((p.row(r)[p.words - 1] >> used) == 0u);  // padding bits are zero
      }
    }
    float zero = 0.0f;
    CHECK(PackedSigns::from_rows(&zero, 1, 1).bits[0] == 1u);  // sign(0) = +1
    CHECK_THROWS_AS(PackedSigns::from_rows(&zero, 1, 0), std::invalid_argument);
  }

  TEST_CASE("sign packing: pack_signs_row_avx2 equals pack_signs_row_scalar bit for bit (ragged K, -0, NaN, inf)") {
    if (!cpu_has_avx2()) {
      MESSAGE("no AVX2 on this CPU: only the scalar side exists");
      return;
    }
    const float specials[] = {0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-30f, -1e-30f};
    for (int64_t K : {1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 200, 257}) {
      for (int64_t offset : {0, 1, 3}) {  // unaligned starts
        CAPTURE(K);
        CAPTURE(offset);
        std::vector<float> x = random_signs_source(K + offset, 90 + static_cast<uint64_t>(K));
        for (int64_t k = 0; k < K; k += 3) x[static_cast<size_t>(offset + k)] = specials[(k / 3) % 8];
        std::vector<uint64_t> a(static_cast<size_t>(bit_words(K)), ~uint64_t{0}), b(a);  // stale bits must go
        pack_signs_row_scalar(x.data() + offset, K, a.data());
        pack_signs_row_avx2(x.data() + offset, K, b.data());
        CHECK(a == b);
        if (K % 64) CHECK((a.back() >> (K % 64)) == 0u);                        // padding bits are zero
        CHECK((a[0] & 1u) == (x[static_cast<size_t>(offset)] >= 0.0f ? 1u : 0u));  // bit 0 is x[0]
      }
    }
    const float negzero = -0.0f, nan = NAN;
    uint64_t w = 0;
    pack_signs_row_avx2(&negzero, 1, &w);
    CHECK(w == 1u);  // −0.0 >= 0: +1, as the float simulation's sign
    pack_signs_row_avx2(&nan, 1, &w);
    CHECK(w == 0u);  // NaN is not >= 0
  }

  TEST_CASE("a binary dot product is K - 2 popcount(a xor b): all variants equal the float sign arithmetic") {
    // ragged K around the word and vector boundaries; N and M around the 4-column block
    const int64_t Ks[] = {1, 63, 64, 65, 200, 255, 256, 257, 1027};
    const int64_t sizes[] = {1, 7, 8, 9, 31, 33};
    uint64_t seed = 100;
    for (int64_t K : Ks)
      for (int64_t N : sizes) {
        CAPTURE(K);
        CAPTURE(N);
        const int64_t M = (N % 3) + 2;
        CHECK(bgemm_matches(&bgemm_scalar, M, N, K, seed));
        CHECK(bgemm_matches(&bgemm_avx2, M, N, K, seed));  // = scalar on a build without x86
        ++seed;
      }
    CHECK(bgemm_matches(&bgemm_avx2, 3, 1027, 300, 9));
    CHECK(bgemm_matches(&bgemm_avx2, 1027, 2, 70, 10));
    CHECK(bgemm_matches(&bgemm_avx2, 5, 9, 64 * 31 * 4 + 5, 11));  // > 31 slices: the byte counters are flushed
    // Every sign different: each byte counter gains 8 per slice, so a block of 32 slices would wrap
    // past 255 and lose 256; the flush every 31 slices keeps the count exact (C = −K).
    for (int64_t K : {64 * 4 * 31, 64 * 4 * 32, 64 * 4 * 64 + 64 * 3 + 17}) {
      CAPTURE(K);
      PackedSigns ones = PackedSigns::from_rows(std::vector<float>(static_cast<size_t>(3 * K), 1.0f).data(), 3, K);
      PackedSigns neg = PackedSigns::from_rows(std::vector<float>(static_cast<size_t>(5 * K), -1.0f).data(), 5, K);
      std::vector<int32_t> c(15, 0);
      bgemm_avx2(3, 5, K, ones.bits.data(), neg.bits.data(), c.data(), 5);
      for (int32_t v : c) CHECK(v == -K);
    }
  }

  TEST_CASE("the AVX-512 VPOPCNTQ variant equals the float sign arithmetic (skipped without AVX-512)") {
    if (!cpu_has_avx512()) {
      MESSAGE("this CPU has no AVX-512 VPOPCNTDQ: bgemm_avx512 not run");
      CHECK_THROWS_AS(bgemm_matches(&bgemm_avx512, 1, 1, 1, 1), std::runtime_error);
      return;
    }
    for (int64_t K : {1, 63, 64, 65, 200, 511, 512, 513, 1027})
      for (int64_t N : {1, 7, 8, 9, 31, 33}) {
        CAPTURE(K);
        CAPTURE(N);
        CHECK(bgemm_matches(&bgemm_avx512, 3, N, K, 200 + static_cast<uint64_t>(K + N)));
      }
  }

  TEST_CASE("bgemm dispatches to every mode and splits rows over threads without changing a bit") {
    const int64_t M = 37, N = 29, K = 333;
    auto a = random_signs_source(M * K, 1), b = random_signs_source(N * K, 2);
    PackedSigns pa = PackedSigns::from_rows(a.data(), M, K), pb = PackedSigns::from_rows(b.data(), N, K);
    auto ref = sign_gemm_reference(a, b, M, N, K);
    std::vector<KernelMode> modes = {KernelMode::scalar};
    if (cpu_has_avx2()) modes.push_back(KernelMode::avx2);
    if (cpu_has_avx512()) modes.push_back(KernelMode::avx512);
    for (KernelMode m : modes) {
      KernelModeGuard g(m);
      std::vector<int32_t> c(static_cast<size_t>(M * (N + 3)), 0);
      bgemm(M, N, K, pa.bits.data(), pb.bits.data(), c.data(), N + 3);  // ldc > N
      bool same = true;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) same = same && c[static_cast<size_t>(i * (N + 3) + j)] == ref[static_cast<size_t>(i * N + j)];
      CHECK_MESSAGE(same, kernel_mode_name(m));
    }
    int32_t c0 = 0;
    CHECK_THROWS_AS(bgemm(1, 1, 0, pa.bits.data(), pb.bits.data(), &c0, 1), std::invalid_argument);
  }

  TEST_CASE("im2col on bits equals the signs of im2col (ragged words, strides, padding as +1); beta map is A conv k") {
    // 3×3 stride (2, 1) pad 1; 5×5 pad 2 (KW-bit groups straddle words); a row wider than a word;
    // im2col_pack_signs assembles each output row in a register, so every ragged case matters
    const ConvGeom geoms[] = {{1, 7, 6, 3, 3, 2, 1, 1, 1}, {3, 7, 6, 3, 3, 2, 1, 1, 1}, {13, 7, 6, 3, 3, 2, 1, 1, 1},
                              {7, 9, 11, 5, 5, 1, 1, 2, 2}, {2, 5, 70, 3, 3, 1, 1, 1, 1}, {20, 12, 12, 5, 5, 1, 1, 0, 0},
                              // KW-bit groups that end exactly on a word boundary (K a multiple of 64)
                              {64, 5, 5, 3, 3, 1, 1, 1, 1}, {16, 6, 6, 4, 4, 1, 1, 0, 0}};
    for (const ConvGeom& g : geoms) {
      const int64_t C = g.C;
      CAPTURE(C);
      CAPTURE(g.W);
      Tensor x = random_tensor({C, g.H, g.W}, 40 + static_cast<uint64_t>(C));
      const int64_t K = C * g.KH * g.KW, P = g.OH() * g.OW();
      std::vector<float> col(static_cast<size_t>(K * P));
      im2col_scalar(g, x.data(), col.data());
      std::vector<uint64_t> bits(static_cast<size_t>(P * bit_words(K)));
      im2col_pack_signs(g, x.data(), bits.data());
      std::vector<float> beta(static_cast<size_t>(P));
      xnor_beta_map(g, x.data(), beta.data());
      bool same = true, beta_ok = true;
      for (int64_t p = 0; p < P; ++p) {
        std::vector<float> row(static_cast<size_t>(K));
        unpack_signs_row(bits.data() + p * bit_words(K), K, row.data());
        double mean_abs = 0;
        for (int64_t k = 0; k < K; ++k) {
          const float v = col[static_cast<size_t>(k * P + p)];
          same = same && row[static_cast<size_t>(k)] == (v >= 0 ? 1.0f : -1.0f);
          mean_abs += std::fabs(v);
        }
        beta_ok = beta_ok && std::fabs(mean_abs / K - beta[static_cast<size_t>(p)]) < 1e-5;
      }
      CHECK(same);
      CHECK(beta_ok);
    }
  }
}

// ---- the autograd ops ------------------------------------------------------------------------
#include "compression/quantization/packed_binary.h"
#include "compression/quantization/xnor.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/ops.h"
#include "layers/init.h"

namespace {
// Values uniform in ±[lo, hi]: away from the kink at 0 (and, with lo > 1, outside the STE window).
Tensor away_from_zero(Shape s, uint64_t seed, float lo, float hi) {
  Tensor t = random_tensor(std::move(s), seed, lo, hi);
  Rng r(seed + 99);
  for (int64_t i = 0; i < t.numel(); ++i)
    if (r.bernoulli(0.5f)) t[i] = -t[i];
  return t;
}
}  // namespace

TEST_SUITE("xnor") {
  TEST_CASE("straight-through estimator: sign forward, gradient 1 where |r| <= 1 and 0 beyond") {
    Var x(Tensor({6}, {-2.0f, -1.0f, -0.3f, 0.0f, 0.5f, 1.5f}), true);
    Var y = sign_ste(x);
    const float want[] = {-1, -1, -1, 1, 1, 1};
    for (int i = 0; i < 6; ++i) CHECK(y.value()[i] == want[i]);
    y.backward(Tensor({6}, {1, 2, 3, 4, 5, 6}));
    const float dwant[] = {0, 2, 3, 4, 5, 0};  // |x| ≤ 1 passes, |x| > 1 cancels (Eq. 10)
    for (int i = 0; i < 6; ++i) CHECK(x.grad()[i] == dwant[i]);
  }

  TEST_CASE("BWN: alpha is the mean absolute weight per filter, and alpha sign(W) minimises ||W - aB||^2") {
    Tensor w({2, 3}, {0.5f, -1.0f, 1.5f, -0.2f, -0.2f, 0.8f});
    auto a = bwn_alpha(w);
    CHECK(a[0] == doctest::Approx(1.0));
    CHECK(a[1] == doctest::Approx(0.4));
    Var wt = bwn_weights(Var(w));
    CHECK(wt.value()[1] == doctest::Approx(-1.0));
    CHECK(wt.value()[5] == doctest::Approx(0.4));
    // Eq. 6: the error of α·sign(W) is no larger than that of any other scale
    auto err = [&](float s) {
      double e = 0;
      for (int i = 0; i < 3; ++i) e += std::pow(w[i] - s * (w[i] >= 0 ? 1 : -1), 2);
      return e;
    };
    for (float s : {0.5f, 0.9f, 1.1f, 2.0f}) CHECK(err(a[0]) <= err(s));
  }

  TEST_CASE("BWN weight gradient as printed in Algorithm 1: dW = dW~ (1/n + alpha 1_{|W|<=1})") {
    Var w(Tensor({1, 4}, {0.5f, -2.0f, 0.25f, -0.25f}), true);  // n = 4, α = 0.75
    bwn_weights(w, true, BwnGrad::paper).backward(Tensor({1, 4}, {1.0f, 1.0f, 2.0f, -1.0f}));
    CHECK(w.grad()[0] == doctest::Approx(1.0 * (0.25 + 0.75)));
    CHECK(w.grad()[1] == doctest::Approx(1.0 * 0.25));  // |W| > 1: only the 1/n term
    CHECK(w.grad()[2] == doctest::Approx(2.0 * (0.25 + 0.75)));
    CHECK(w.grad()[3] == doctest::Approx(-1.0 * (0.25 + 0.75)));
    Var v(Tensor({1, 2}, {0.5f, -2.0f}), true);  // no α: the STE alone
    bwn_weights(v, false).backward(Tensor({1, 2}, {3.0f, 3.0f}));
    CHECK(v.grad()[0] == 3.0f);
    CHECK(v.grad()[1] == 0.0f);
  }

  TEST_CASE("BWN exact gradient through alpha matches central differences outside the STE window") {
    // With every |W| > 1 the STE term is 0 and the exact gradient is the true derivative of α(W)·sign(W)
    Var w(away_from_zero({3, 2, 2, 2}, 5, 1.1f, 2.0f), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return bwn_weights(v[0], true, BwnGrad::exact); }, {w}));
  }

  TEST_CASE("binary_conv2d: gradients check for w and for a real input (BWN), conv and fully connected") {
    Var x(random_tensor({2, 3, 5, 4}, 11), true);
    Var w(random_tensor({4, 3, 3, 3}, 12), true);
    BinaryConvOptions o;
    o.stride = 2;
    o.pad = 1;
    CHECK(check_gradients([o](const std::vector<Var>& v) { return binary_conv2d(v[0], v[1], o); }, {x, w}));
    Var xd(random_tensor({3, 7}, 13), true), wd(random_tensor({5, 7}, 14), true);
    CHECK(check_gradients([](const std::vector<Var>& v) { return binary_conv2d(v[0], v[1], {}); }, {xd, wd}));
    // without binarization the op is a plain convolution: compare with the engine's conv2d
    Conv2dOptions co;
    co.stride_h = co.stride_w = 2;
    co.pad_h = co.pad_w = 1;
    Tensor a = binary_conv2d(x, w, o).value(), b = conv2d(x, w, Var(), co).value();
    for (int64_t i = 0; i < a.numel(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-4));
  }

  TEST_CASE("XNOR binary_conv2d: the K (beta) path checks by central differences away from the kinks") {
    // |x| > 1: sign is flat and the STE is 0, so the whole input gradient is the one through K = A*k
    BinaryConvOptions o;
    o.binarize_input = true;
    o.use_beta = true;
    o.pad = 1;
    Var x(away_from_zero({2, 2, 4, 4}, 21, 1.1f, 2.0f), true);
    Var w(random_tensor({3, 2, 3, 3}, 22), true);
    CHECK(check_gradients([o](const std::vector<Var>& v) { return binary_conv2d(v[0], v[1], o); }, {x, w}));
    Var xd(away_from_zero({3, 9}, 23, 1.1f, 2.0f), true), wd(random_tensor({4, 9}, 24), true);
    CHECK(check_gradients([o](const std::vector<Var>& v) { return binary_conv2d(v[0], v[1], o); }, {xd, wd}));
  }

  TEST_CASE("XNOR binary_conv2d: inside |x| <= 1 the input gradient is the STE through sign") {
    BinaryConvOptions o;
    o.binarize_input = true;  // no β: dx = col2im(Wᵀ dY ⊙ 1_{|x|≤1})
    Var x(Tensor({1, 1, 1, 3}, {0.5f, -3.0f, -0.25f}), true);
    Var w(Tensor({1, 1, 1, 2}, {2.0f, -1.0f}), true);
    Var y = binary_conv2d(x, w, o);  // s = (+1, −1, −1): y = (2·1 − 1·−1, 2·−1 − 1·−1) = (3, −1)
    CHECK(y.value()[0] == 3.0f);
    CHECK(y.value()[1] == -1.0f);
    y.backward(Tensor({1, 1, 1, 2}, {1.0f, 1.0f}));
    CHECK(x.grad()[0] == 2.0f);   // w0·dy0
    CHECK(x.grad()[1] == 0.0f);   // |x| > 1: cancelled
    CHECK(x.grad()[2] == -1.0f);  // w1·dy1
    CHECK(w.grad()[0] == 0.0f);   // s0·dy0 + s1·dy1 = 1 − 1
    CHECK(w.grad()[1] == -2.0f);  // s1·dy0 + s2·dy1
  }

  TEST_CASE("binary_conv2d rejects mismatched shapes, naming both") {
    Var x(Tensor({1, 3, 5, 5})), w(Tensor({2, 4, 3, 3}));
    try {
      binary_conv2d(x, w, {});
      FAIL("expected an exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("[2, 4, 3, 3]") != std::string::npos);
      CHECK(std::string(e.what()).find("[1, 3, 5, 5]") != std::string::npos);
    }
    CHECK_THROWS_AS(binary_conv2d(Var(Tensor({1, 3, 2, 2})), Var(Tensor({2, 3, 3, 3})), {}), std::invalid_argument);
  }
}

// ---- the network, the packed file, simulation = deployment ---------------------------------------
namespace {
BinaryNetConfig tiny(BinaryMode m, BlockOrder order = BlockOrder::bacp) {
  BinaryNetConfig c;
  c.mode = m;
  c.order = order;
  c.c1 = 4;
  c.c2 = 6;
  c.fc = 16;
  return c;
}
// Random batch-norm statistics and affine parameters, so eval mode is not the identity.
void scramble_bn(BinaryLeNet5& m, uint64_t seed) {
  Rng r(seed);
  for (auto& [name, t] : m.named_buffers())
    for (int64_t i = 0; i < t->numel(); ++i)
      (*t)[i] = name.find("var") != std::string::npos ? r.uniform(0.5f, 2.0f) : r.uniform(-0.3f, 0.3f);
  for (auto& np : m.named_parameters())
    if (np.name.find(".bias") != std::string::npos && np.name.find("bn") == 0)
      for (int64_t i = 0; i < np.param->var.value().numel(); ++i) np.param->var.value()[i] = r.uniform(-0.3f, 0.3f);
  // γ of either sign (a negative γ flips the folded comparison), one of them 0 (a constant channel)
  for (auto& np : m.named_parameters())
    if (np.name.find(".weight") != std::string::npos && np.name.find("bn") == 0) {
      Tensor& g = np.param->var.value();
      for (int64_t i = 0; i < g.numel(); ++i) g[i] = r.uniform(-1.5f, 1.5f);
      g[0] = 0.0f;
    }
}
int64_t argmax_row(const Tensor& t, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 1; j < t.dim(1); ++j)
    if (t[n * t.dim(1) + j] > t[n * t.dim(1) + best]) best = j;
  return best;
}
}  // namespace

TEST_SUITE("xnor") {
  TEST_CASE("every layout of the binary LeNet-5 trains: one Adam-free SGD step lowers the loss") {
    const BinaryNetConfig cfgs[] = {tiny(BinaryMode::real), tiny(BinaryMode::bwn), tiny(BinaryMode::xnor),
                                    tiny(BinaryMode::xnor, BlockOrder::cbap)};
    Tensor x = random_tensor({8, 1, 28, 28}, 31);
    std::vector<int32_t> y = {0, 1, 2, 3, 4, 5, 6, 7};
    for (const auto& c : cfgs) {
      CAPTURE(c.name());
      manual_seed(3);
      BinaryLeNet5 m(c);
      double first = 0, last = 0;
      for (int step = 0; step < 8; ++step) {
        m.zero_grad();
        Var loss = cross_entropy(m(Var(x)), y);
        loss.backward();
        if (step == 0) first = loss.value().item();
        last = loss.value().item();
        for (Parameter* p : m.parameters())
          if (!p->var.grad().empty())
            for (int64_t i = 0; i < p->var.value().numel(); ++i) p->var.value()[i] -= 0.05f * p->var.grad()[i];
      }
      CHECK(last < first);
    }
  }

  TEST_CASE("binary layers take 1 bit per weight: 32x fewer bytes than fp32, exactly") {
    BinaryLeNet5 f(tiny(BinaryMode::real)), b(tiny(BinaryMode::xnor));
    // conv2 6×(4·25 = 100 → 2 words), fc1 16×(96 → 2 words), + α per filter
    const int64_t binary_fp32 = 4 * (6 * 100 + 16 * 96), binary_packed = 8 * (6 * 2 + 16 * 2) + 4 * (6 + 16);
    CHECK(b.float_weight_bytes() - b.deployed_weight_bytes() == binary_fp32 - binary_packed);
    CHECK(f.deployed_weight_bytes() == f.float_weight_bytes());
    // at K a multiple of 64 the sign bits alone are exactly 1/32 of the floats
    Tensor w = random_tensor({10, 128}, 3);
    CHECK(PackedSigns::from_rows(w.data(), 10, 128).bytes() * 32 == 4 * w.numel());
  }

  TEST_CASE("the binary LeNet-5 is its layers in the documented order, and draws only its four He-normal weights") {
    struct Want {
      BinaryNetConfig c;
      std::vector<std::string> children;
    };
    const Want wants[] = {
        {tiny(BinaryMode::real), {"conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "flatten", "fc1", "bn3", "relu3", "fc2"}},
        {tiny(BinaryMode::xnor), {"conv1", "bn1", "relu1", "pool1", "bn2", "conv2", "pool2", "flatten", "bn3", "fc1", "bn4", "relu4", "fc2"}},
        {tiny(BinaryMode::xnor, BlockOrder::cbap),
         {"conv1", "bn1", "sign1", "pool1", "conv2", "bn2", "sign2", "pool2", "flatten", "fc1", "bn3", "relu3", "fc2"}}};
    for (const Want& w : wants) {
      CAPTURE(w.c.name());
      manual_seed(11);
      BinaryLeNet5 m(w.c);
      std::vector<std::string> names;
      for (const auto& child : m) names.push_back(child.first);
      CHECK(names == w.children);
      // The same stream by hand: N(0, 2/fan_in) for conv1, conv2, fc1, fc2, and nothing else
      // (the layers' own default init must not move the generator, or a seed's data order changes).
      Rng r(11);
      for (const Parameter* p : {&m.conv1->weight, &m.conv2->weight, &m.fc1->weight, &m.fc2->weight}) {
        const Tensor& t = p->var.value();
        const float sd = std::sqrt(2.0f / static_cast<float>(fan_in(t)));
        int64_t differ = 0;
        for (int64_t i = 0; i < t.numel(); ++i) differ += t[i] != r.normal(0.0f, sd);
        CHECK(differ == 0);
      }
      CHECK(global_rng().next_u64() == r.next_u64());
      for (const Parameter* b : {m.conv1->bias, m.fc2->bias})
        for (int64_t i = 0; i < b->var.value().numel(); ++i) REQUIRE(b->var.value()[i] == 0.0f);
    }
  }

  TEST_CASE("the packed runner's layers come from the file: kinds in order, sizes from the records") {
    using K = PackedBinaryNet::Kind;
    const std::string path = (std::filesystem::temp_directory_path() / "mgf_test_xnor_layers.xnor").string();
    {  // B-A-C-P: the binary layers see real inputs (β and the pool come before the sign)
      manual_seed(4);
      BinaryLeNet5 m(tiny(BinaryMode::xnor));
      export_packed(m, path);
      PackedBinaryNet p(path);
      std::vector<K> kinds;
      for (const auto& l : p.layers()) kinds.push_back(l.kind);
      CHECK(kinds == std::vector<K>{K::conv, K::batch_norm, K::relu, K::max_pool, K::batch_norm, K::binary_conv, K::max_pool,
                                    K::flatten, K::batch_norm, K::binary_linear, K::batch_norm, K::relu, K::linear});
      REQUIRE(p.layers().size() == 13);
      const auto& L = p.layers();
      CHECK((L[0].out == 4 && L[0].g.KH == 5 && L[0].g.OH() == 24));        // conv1 [4, 1, 5, 5] on 28×28
      CHECK((L[5].name == "conv2" && L[5].g.C == 4 && L[5].g.H == 12 && L[5].g.KH == 5 && L[5].out == 6 &&
             L[5].g.OH() == 8));                                             // 100 = 4·5·5 bits per row
      CHECK((L[9].name == "fc1" && L[9].g.C == 6 * 16 && L[9].out == 16));  // 6 × 4 × 4 after the pool
      CHECK(p.binary_weight_bytes() == 8 * (6 * 2 + 16 * 2));
      for (const auto& l : L) CHECK((!l.in_bits && !l.out_bits));
      // conv1 4·576·25 MACs + conv2 6·64 rows of 2 words + fc1 16·2 words + fc2 10·16 + one per
      // output of the other layers (the fuzz harness bounds this before forward(); it once
      // divided by the zero stride of a layer without a geometry)
      const int64_t other = 4 * 576 + 4 * 576 + 4 * 144 + 4 * 144 + 6 * 16 + 96 + 96 + 16 + 16;
      CHECK(p.ops_per_image() == 4 * 576 * 25 + 6 * 64 * 2 + 16 * 2 + 10 * 16 + other);
    }
    {  // C-B-A-P: conv2 → fc1 in bits, BN + sign folded into conv2's thresholds, pools as OR
      manual_seed(4);
      BinaryLeNet5 m(tiny(BinaryMode::xnor, BlockOrder::cbap));
      export_packed(m, path);
      PackedBinaryNet p(path);
      std::vector<K> kinds;
      std::vector<bool> bits_out;
      for (const auto& l : p.layers()) kinds.push_back(l.kind), bits_out.push_back(l.out_bits);
      CHECK(kinds == std::vector<K>{K::conv, K::sign, K::or_pool, K::bit_conv, K::or_pool, K::flatten, K::bit_linear,
                                    K::batch_norm, K::relu, K::linear});
      CHECK(bits_out == std::vector<bool>{false, true, true, true, true, true, false, false, false, false});
      REQUIRE(p.layers().size() == 10);
      CHECK((p.layers()[1].name == "bn1+sign1" && p.layers()[1].rth.C == 4));
      CHECK(p.layers()[3].name == "conv2+bn2+sign2");
      CHECK((p.layers()[3].mode == 1 && p.layers()[3].th.O == 6));
      CHECK((p.layers()[6].in == std::vector<int64_t>{96} && p.layers()[6].mode == 0));
    }
    std::remove(path.c_str());
  }

  TEST_CASE("simulation = deployment: the packed model on the popcount GEMM predicts what the float simulation predicts") {
    struct Case {
      BinaryMode mode;
      BlockOrder order;
      int gcase;
      bool beta;
    };
    const Case cases[] = {{BinaryMode::xnor, BlockOrder::bacp, 1, true},  {BinaryMode::xnor, BlockOrder::bacp, 1, false},
                          {BinaryMode::xnorpp, BlockOrder::bacp, 1, true}, {BinaryMode::xnorpp, BlockOrder::bacp, 4, true},
                          {BinaryMode::xnor, BlockOrder::cbap, 1, true},  {BinaryMode::xnor, BlockOrder::cbap, 1, false}};
    for (const Case& cs : cases) {
      manual_seed(7);
      BinaryNetConfig c = tiny(cs.mode, cs.order);
      c.gamma_case = cs.gcase;
      c.use_beta = cs.beta;
      CAPTURE(c.name());
      BinaryLeNet5 m(c);
      scramble_bn(m, 8);
      m.eval();
      Tensor x = random_tensor({12, 1, 28, 28}, 9);
      Tensor sim;
      {
        NoGradGuard ng;
        sim = m(Var(x)).value();
      }
      const std::string path = (std::filesystem::temp_directory_path() / "mgf_test_xnor_tiny.xnor").string();
      const int64_t bytes = export_packed(m, path);
      PackedBinaryNet packed(path);
      CHECK(packed.file_bytes() == bytes);
      CHECK(packed.xnorpp() == (cs.mode == BinaryMode::xnorpp));
      std::vector<KernelMode> modes = {KernelMode::scalar};
      if (cpu_has_avx2()) modes.push_back(KernelMode::avx2);
      if (cpu_has_avx512()) modes.push_back(KernelMode::avx512);
      for (KernelMode km : modes) {
        KernelModeGuard g(km);
        std::vector<double> us;
        Tensor dep = packed.forward(x, &us);
        REQUIRE(dep.shape() == sim.shape());
        CHECK(us.size() == packed.layers().size());
        double worst = 0;
        for (int64_t i = 0; i < dep.numel(); ++i) worst = std::max(worst, (double)std::fabs(dep[i] - sim[i]) / (1.0 + std::fabs(sim[i])));
        CHECK_MESSAGE(worst < 1e-4, kernel_mode_name(km), " worst relative difference ", worst);
        for (int64_t n = 0; n < 12; ++n) CHECK(argmax_row(dep, n) == argmax_row(sim, n));
      }
      std::remove(path.c_str());
    }
  }

  TEST_CASE("a corrupt, truncated, foreign or version-2 packed file is a clear error") {
    manual_seed(1);
    BinaryLeNet5 m(tiny(BinaryMode::xnor));
    const std::string path = (std::filesystem::temp_directory_path() / "mgf_test_xnor_bad.xnor").string();
    export_packed(m, path);
    std::string good;
    {
      std::ifstream f(path, std::ios::binary);
      good.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    auto expect_error = [&](const std::string& bytes, const char* needle) {
      {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << bytes;
      }
      try {
        PackedBinaryNet p(path);
        FAIL("expected an error containing: " << needle);
      } catch (const std::runtime_error& e) {
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
      }
    };
    std::string flipped = good;
    flipped[flipped.size() / 2] ^= 0x10;
    expect_error(flipped, "checksum");
    expect_error(good.substr(0, good.size() - 5), "truncated or padded");
    expect_error(good.substr(0, 10), "header");
    expect_error("NOTXNOR!" + good.substr(8), "magic");
    std::string v5 = good;
    v5[8] = 5;
    expect_error(v5, "expected version 3 or 4, found 5");
    std::string v3 = good;   // version 3 (the records before binary_res_block) is still read
    v3[8] = 3;
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << v3;
    }
    CHECK_NOTHROW(PackedBinaryNet{path});
    std::string v2 = good;   // the fixed-layout format before layer records: refused, with what to do
    v2[8] = 2;
    expect_error(v2, "found version 2 (a fixed LeNet-5 layout of named tensors), which is no longer read: expected "
                     "version 3 or 4 (a list of layer records); re-export the model with export_packed");
    std::string v1 = good;   // the old native-endian, FNV-1a format is refused by name
    v1[8] = 1;
    expect_error(v1, "found version 1");
    std::remove(path.c_str());
    CHECK_THROWS_AS(PackedBinaryNet((std::filesystem::temp_directory_path() / "mgf_no_such_file.xnor").string()), std::runtime_error);
    BinaryLeNet5 bwn(tiny(BinaryMode::bwn));
    CHECK_THROWS_AS(export_packed(bwn, path), std::invalid_argument);
  }

  TEST_CASE("from_bytes refuses a layer on the wrong domain, and padding bits a popcount would count") {
    // Rewrites a field of an exported file and repairs the checksum, so the parser, not the
    // CRC, has to catch it.
    auto repair = [](std::vector<uint8_t>& b) {
      const uint32_t crc = crc32(b.data() + 28, b.size() - 28);
      for (int k = 0; k < 4; ++k) b[24 + static_cast<size_t>(k)] = static_cast<uint8_t>(crc >> (8 * k));
    };
    auto find = [](const std::vector<uint8_t>& b, const std::string& key) {
      return static_cast<size_t>(std::search(b.begin(), b.end(), key.begin(), key.end()) - b.begin());
    };
    const std::string path = (std::filesystem::temp_directory_path() / "mgf_test_xnor_shape.xnor").string();
    manual_seed(2);
    BinaryLeNet5 cbap(tiny(BinaryMode::xnor, BlockOrder::cbap));
    export_packed(cbap, path);
    std::vector<uint8_t> good = read_file(path);
    CHECK_NOTHROW(PackedBinaryNet::from_bytes(good, "good.xnor"));
    // "pool1" (an OR-pool, kind 9) turned into a real max-pool (kind 3): it would read bits as floats
    std::vector<uint8_t> bad = good;
    const size_t kind_at = find(good, "pool1") - 8;
    REQUIRE(bad[kind_at] == 9);
    bad[kind_at] = 3;
    repair(bad);
    CHECK_THROWS_WITH_AS(PackedBinaryNet::from_bytes(bad, "bad.xnor"),
                         doctest::Contains("(max_pool pool1): expected a real input, found bits [4, 24, 24]"), std::runtime_error);

    // A padding bit (past K in a row's last word) set, in a real-input and in a bit-input layer.
    manual_seed(2);
    BinaryLeNet5 bacp(tiny(BinaryMode::xnor));
    export_packed(bacp, path);
    std::vector<uint8_t> good_b = read_file(path);
    std::remove(path.c_str());
    struct Rec {
      const std::vector<uint8_t>* file;
      std::string name;
      size_t fields;  // u32 fields between the name and the bits
      int64_t K;
    };
    const Rec recs[] = {{&good_b, "conv2", 3, 100}, {&good_b, "fc1", 2, 96}, {&good, "conv2+bn2+sign2", 3, 100}};
    for (const Rec& r : recs) {
      CAPTURE(r.name);
      std::vector<uint8_t> padded = *r.file;
      const size_t first_word = find(padded, r.name) + r.name.size() + 4 * r.fields;
      padded[first_word + 8 * static_cast<size_t>(bit_words(r.K) - 1) + 7] |= 0x80;  // bit 63 of row 0's last word
      repair(padded);
      CHECK_THROWS_WITH_AS(PackedBinaryNet::from_bytes(padded, "pad.xnor"), doctest::Contains("padding bits set"),
                           std::runtime_error);
    }
  }
}

// ---- a pipeline that stays binary: folded thresholds, OR-pooling, im2col on bits ----------------------
#include "compression/quantization/bit_activations.h"

namespace {
// The first index where two word vectors differ, or -1.
int64_t first_diff(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return a.size() == b.size() ? -1 : static_cast<int64_t>(std::min(a.size(), b.size()));
}
bool bit_at(const uint64_t* w, int64_t i) { return (w[i / 64] >> (i % 64)) & 1u; }
}  // namespace

TEST_SUITE("xnor") {
  TEST_CASE("the folded threshold equals batch norm + sign of scale*z for every integer z (negative scales, ties)") {
    const int64_t O = 70, K = 37;  // two flip words (70 > 64), every z in [-K, K]
    Rng r(21);
    std::vector<float> s(O), g(O), b(O), mu(O), var(O);
    for (int64_t o = 0; o < O; ++o) {
      s[o] = r.uniform(0.05f, 2.0f);
      g[o] = r.uniform(-2.0f, 2.0f);
      b[o] = r.uniform(-1.0f, 1.0f);
      mu[o] = r.uniform(-10.0f, 10.0f);
      var[o] = r.uniform(0.1f, 4.0f);
    }
    g[3] = 0.0f, b[3] = 0.5f;     // γ = 0: the bit is sign(β) = +1 for every z
    g[4] = 0.0f, b[4] = -0.5f;    // ... and −1
    g[5] = -1.0f, b[5] = 0.0f, mu[5] = s[5] * 3.0f;   // a tie: BN(s·3) = 0 exactly → sign(0) = +1, negative γ
    g[6] = 1.0f, b[6] = 0.0f, mu[6] = s[6] * -5.0f;   // a tie, positive γ
    g[7] = 1.0f, b[7] = 0.0f, mu[7] = 1e6f;           // never reached: all −1
    g[8] = -1.0f, b[8] = 0.0f, mu[8] = 1e6f;          // all +1 through a negative scale
    const SignThresholds th = fold_bn_sign(s.data(), g.data(), b.data(), mu.data(), var.data(), 1e-5f, O, K);
    // the reference: the batch_norm op in eval mode on y = s·z, then sign_ste
    Tensor y({2 * K + 1, O});
    for (int64_t z = -K; z <= K; ++z)
      for (int64_t o = 0; o < O; ++o) y[(z + K) * O + o] = s[o] * static_cast<float>(z);
    Tensor rm({O}, mu), rv({O}, var);
    Tensor ref = sign_ste(batch_norm(Var(y), Var(Tensor({O}, g)), Var(Tensor({O}, b)), rm, rv, false, 0.1f, 1e-5f)).value();
    std::vector<int32_t> zs(static_cast<size_t>((2 * K + 1) * O));
    for (int64_t z = -K; z <= K; ++z)
      for (int64_t o = 0; o < O; ++o) zs[static_cast<size_t>((z + K) * O + o)] = static_cast<int32_t>(z);
    std::vector<uint64_t> bits(static_cast<size_t>((2 * K + 1) * bit_words(O)));
    sign_threshold_rows_scalar(zs.data(), 2 * K + 1, O, th, bits.data());
    int64_t differ = 0, ties = 0, ones = 0;
    for (int64_t z = -K; z <= K; ++z)
      for (int64_t o = 0; o < O; ++o) {
        const bool want = ref[(z + K) * O + o] > 0.0f, got = bit_at(bits.data() + (z + K) * bit_words(O), o);
        if (want != got && differ++ == 0) MESSAGE("first difference: channel " << o << ", z " << z);
        ones += got;
      }
    CHECK(differ == 0);
    // the named cases hold as stated
    for (int64_t z = -K; z <= K; ++z) {
      const uint64_t* row = bits.data() + (z + K) * bit_words(O);
      CHECK((bit_at(row, 3) && !bit_at(row, 4) && !bit_at(row, 7) && bit_at(row, 8)));
      CHECK(bit_at(row, 5) == (z <= 3));   // negative γ: the comparison flips, the tie is +1
      CHECK(bit_at(row, 6) == (z >= -5));
      ties += (z == 3) + (z == -5);
    }
    CHECK(ties == 2);
    CHECK((ones > 0 && ones < (2 * K + 1) * O));
    CHECK((th.flip[0] >> 5 & 1u) == 1u);
  }

  TEST_CASE("batch norm + sign folded to a float threshold equals the batch_norm op + sign, boundaries included") {
    const int64_t C = 67;
    Rng r(33);
    std::vector<float> g(C), b(C), mu(C), var(C);
    for (int64_t c = 0; c < C; ++c)
      g[c] = r.uniform(-2.0f, 2.0f), b[c] = r.uniform(-1.0f, 1.0f), mu[c] = r.uniform(-1.0f, 1.0f), var[c] = r.uniform(0.1f, 3.0f);
    g[1] = 0.0f, b[1] = 0.25f;   // constant +1
    g[2] = 0.0f, b[2] = -0.25f;  // constant -1
    g[3] = -1.0f, b[3] = 0.0f;   // negative γ: x <= μ
    const RealThresholds th = fold_bn_sign_real(g.data(), b.data(), mu.data(), var.data(), 1e-5f, C);
    CHECK(((th.down[0] >> 3) & 1u) == 1u);
    // values: random ones, and each channel's threshold with its two float neighbours (the ties)
    const int64_t S = 40;
    Tensor x({1, C, S, 1});
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < S; ++p) {
        const float t = th.tau[static_cast<size_t>(c)];
        float v = r.uniform(-3.0f, 3.0f);
        if (std::isfinite(t) && p < 3) v = p == 0 ? t : std::nextafter(t, p == 1 ? -INFINITY : INFINITY);
        x[c * S + p] = v;
      }
    Tensor rm({C}, mu), rv({C}, var);
    Tensor ref = sign_ste(batch_norm(Var(x), Var(Tensor({C}, g)), Var(Tensor({C}, b)), rm, rv, false, 0.1f, 1e-5f)).value();
    std::vector<uint64_t> a(static_cast<size_t>(S * bit_words(C))), v(a.size());
    sign_pack_chw_scalar(x.data(), C, S, th, a.data());
    sign_pack_chw_avx2(x.data(), C, S, th, v.data());
    CHECK(first_diff(a, v) == -1);
    int64_t differ = 0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < S; ++p) differ += (ref[c * S + p] > 0) != bit_at(a.data() + p * bit_words(C), c);
    CHECK(differ == 0);
    for (int64_t p = 0; p < S; ++p) CHECK((bit_at(a.data() + p * bit_words(C), 1) && !bit_at(a.data() + p * bit_words(C), 2)));
  }

  TEST_CASE("sign_pack_chw_avx2 equals sign_pack_chw_scalar (ragged pixel and channel counts)") {
    for (int64_t C : {1, 20, 32, 33, 64, 65, 130})
      for (int64_t S : {1, 7, 8, 9, 576}) {
        CAPTURE(C);
        CAPTURE(S);
        Tensor x = random_tensor({C, S}, static_cast<uint64_t>(C * 1000 + S));
        RealThresholds th;
        th.C = C;
        th.down.assign(static_cast<size_t>(bit_words(C)), 0);
        Rng r(static_cast<uint64_t>(C + S));
        for (int64_t c = 0; c < C; ++c) {
          th.tau.push_back(r.uniform(-0.5f, 0.5f));
          if (r.uniform(0.0f, 1.0f) < 0.5f) th.down[static_cast<size_t>(c / 64)] |= uint64_t{1} << (c % 64);
        }
        x[0] = th.tau[0];  // equal: counts on both sides
        std::vector<uint64_t> a(static_cast<size_t>(S * bit_words(C)), 5), b(a.size(), 6), d(a.size(), 7);
        sign_pack_chw_scalar(x.data(), C, S, th, a.data());
        sign_pack_chw_avx2(x.data(), C, S, th, b.data());
        sign_pack_chw(x.data(), C, S, th, d.data());
        CHECK(first_diff(a, b) == -1);
        CHECK(first_diff(a, d) == -1);
      }
  }

  TEST_CASE("sign_threshold_rows_avx2 equals sign_threshold_rows_scalar bit for bit (ragged channel counts)") {
    for (int64_t O : {1, 7, 8, 9, 31, 63, 64, 65, 130}) {
      CAPTURE(O);
      const int64_t rows = 5;
      Rng r(static_cast<uint64_t>(O));
      SignThresholds th;
      th.O = O;
      th.flip.assign(static_cast<size_t>(bit_words(O)), 0);
      for (int64_t o = 0; o < O; ++o) {
        th.t.push_back(static_cast<int32_t>(r.uniform(-20.0f, 20.0f)));
        if (r.uniform(0.0f, 1.0f) < 0.5f) th.flip[static_cast<size_t>(o / 64)] |= uint64_t{1} << (o % 64);
      }
      std::vector<int32_t> z(static_cast<size_t>(rows * O));
      for (auto& v : z) v = static_cast<int32_t>(r.uniform(-25.0f, 25.0f));
      z[0] = th.t[0];  // equal to the threshold: not greater
      std::vector<uint64_t> a(static_cast<size_t>(rows * bit_words(O)), 7), b(a.size(), 9), d(a.size(), 11);
      sign_threshold_rows_scalar(z.data(), rows, O, th, a.data());
      sign_threshold_rows_avx2(z.data(), rows, O, th, b.data());
      sign_threshold_rows(z.data(), rows, O, th, d.data());  // the dispatcher in this run's kernel mode
      CHECK(first_diff(a, b) == -1);
      CHECK(first_diff(a, d) == -1);
      for (int64_t row = 0; row < rows; ++row)  // padding bits stay 0
        if (O % 64) CHECK((a[static_cast<size_t>((row + 1) * bit_words(O) - 1)] >> (O % 64)) == 0u);
    }
  }

  TEST_CASE("OR-pooling of packed bits equals max-pooling of the +-1 tensor (scalar and AVX2, ragged sizes)") {
    struct Shp {
      int64_t C, H, W, k;
    };
    for (const Shp sh : {Shp{20, 24, 24, 2}, Shp{50, 8, 8, 2}, Shp{1, 5, 7, 2}, Shp{70, 9, 11, 3}, Shp{130, 6, 10, 2}, Shp{3, 4, 4, 4}}) {
      CAPTURE(sh.C);
      CAPTURE(sh.H);
      CAPTURE(sh.W);
      CAPTURE(sh.k);
      const int64_t cw = bit_words(sh.C), OH = sh.H / sh.k, OW = sh.W / sh.k;
      Tensor x = random_tensor({1, sh.C, sh.H, sh.W}, static_cast<uint64_t>(sh.C * 100 + sh.H));
      Tensor pm = sign_ste(Var(x)).value();  // the ±1 tensor
      std::vector<uint64_t> in(static_cast<size_t>(sh.H * sh.W * cw), 0);
      for (int64_t c = 0; c < sh.C; ++c)
        for (int64_t p = 0; p < sh.H * sh.W; ++p)
          if (pm[c * sh.H * sh.W + p] > 0) in[static_cast<size_t>(p * cw + c / 64)] |= uint64_t{1} << (c % 64);
      std::vector<uint64_t> a(static_cast<size_t>(OH * OW * cw)), b(a.size());
      or_pool_bits_scalar(in.data(), sh.H, sh.W, cw, sh.k, a.data());
      or_pool_bits_avx2(in.data(), sh.H, sh.W, cw, sh.k, b.data());
      CHECK(first_diff(a, b) == -1);
      Tensor ref = max_pool2d(Var(pm), sh.k, sh.k).value();
      REQUIRE(ref.numel() == sh.C * OH * OW);
      int64_t differ = 0;
      for (int64_t c = 0; c < sh.C; ++c)
        for (int64_t p = 0; p < OH * OW; ++p) differ += (ref[c * OH * OW + p] > 0) != bit_at(a.data() + p * cw, c);
      CHECK(differ == 0);
    }
  }

  TEST_CASE("im2col_bits_avx2 equals im2col_bits_scalar bit for bit (ragged fields, words and channel counts)") {
    struct Shp {
      int64_t C, H, W, KH, KW;
    };
    // OW around the 4-field block (1, 3, 4, 5, 8, 9), words % 4 = 0..3, C = 1 .. 64 and > 64 (scalar)
    for (const Shp sh : {Shp{20, 12, 12, 5, 5}, Shp{1, 3, 6, 2, 2}, Shp{7, 6, 8, 3, 3}, Shp{64, 5, 12, 2, 3},
                         Shp{33, 4, 11, 4, 3}, Shp{50, 4, 4, 4, 4}, Shp{13, 9, 13, 5, 5}, Shp{70, 5, 9, 2, 2}}) {
      CAPTURE(sh.C);
      CAPTURE(sh.W);
      const int64_t cw = bit_words(sh.C), OH = sh.H - sh.KH + 1, OW = sh.W - sh.KW + 1, words = bit_words(sh.KH * sh.KW * sh.C);
      Rng r(static_cast<uint64_t>(sh.C * 100 + sh.W));
      std::vector<uint64_t> in(static_cast<size_t>(sh.H * sh.W * cw));
      for (int64_t p = 0; p < sh.H * sh.W; ++p)
        for (int64_t w = 0; w < cw; ++w) {
          const int64_t n = std::min<int64_t>(64, sh.C - 64 * w);  // padding bits 0, as an activation has them
          in[static_cast<size_t>(p * cw + w)] = r.next_u64() & (n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1);
        }
      std::vector<uint64_t> a(static_cast<size_t>(OH * OW * words), ~uint64_t{0}), b(a);  // stale words must go
      im2col_bits_scalar(in.data(), sh.H, sh.W, sh.C, sh.KH, sh.KW, a.data());
      im2col_bits_avx2(in.data(), sh.H, sh.W, sh.C, sh.KH, sh.KW, b.data());
      size_t bad = 0;
      while (bad < a.size() && a[bad] == b[bad]) ++bad;
      if (bad < a.size()) MESSAGE("first differing word " << bad);
      CHECK(bad == a.size());
    }
  }

  TEST_CASE("im2col on HWC bits equals the signs of im2col, in (kh, kw, c) order; the whole-image kernel is the flatten") {
    struct Shp {
      int64_t C, H, W, KH, KW;
    };
    for (const Shp sh : {Shp{20, 12, 12, 5, 5}, Shp{3, 7, 9, 3, 2}, Shp{64, 4, 4, 2, 2}, Shp{70, 5, 6, 3, 3}, Shp{50, 4, 4, 4, 4}}) {
      CAPTURE(sh.C);
      CAPTURE(sh.KH);
      const int64_t cw = bit_words(sh.C), OH = sh.H - sh.KH + 1, OW = sh.W - sh.KW + 1, Kb = sh.KH * sh.KW * sh.C;
      Tensor x = random_tensor({sh.C, sh.H, sh.W}, static_cast<uint64_t>(sh.C + sh.KH));
      std::vector<uint64_t> in(static_cast<size_t>(sh.H * sh.W * cw), 0);
      for (int64_t c = 0; c < sh.C; ++c)
        for (int64_t p = 0; p < sh.H * sh.W; ++p)
          if (x[c * sh.H * sh.W + p] >= 0) in[static_cast<size_t>(p * cw + c / 64)] |= uint64_t{1} << (c % 64);
      std::vector<uint64_t> out(static_cast<size_t>(OH * OW * bit_words(Kb)), ~uint64_t{0});
      im2col_bits(in.data(), sh.H, sh.W, sh.C, sh.KH, sh.KW, out.data());
      const ConvGeom g{sh.C, sh.H, sh.W, sh.KH, sh.KW, 1, 1, 0, 0};
      std::vector<float> col(static_cast<size_t>(Kb * OH * OW));
      im2col(g, x.data(), col.data());  // row (c, kh, kw), column p
      int64_t differ = 0;
      for (int64_t p = 0; p < OH * OW; ++p) {
        const uint64_t* row = out.data() + p * bit_words(Kb);
        for (int64_t c = 0; c < sh.C; ++c)
          for (int64_t kh = 0; kh < sh.KH; ++kh)
            for (int64_t kw = 0; kw < sh.KW; ++kw)
              differ += (col[static_cast<size_t>(((c * sh.KH + kh) * sh.KW + kw) * OH * OW + p)] >= 0) !=
                        bit_at(row, (kh * sh.KW + kw) * sh.C + c);
        if (Kb % 64) CHECK((row[bit_words(Kb) - 1] >> (Kb % 64)) == 0u);  // padding bits 0
      }
      CHECK(differ == 0);
    }
  }
}
