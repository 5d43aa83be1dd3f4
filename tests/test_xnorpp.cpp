// tests/test_xnorpp.cpp — TEST_SUITE("xnorpp"): XNOR-Net++ (Bulat & Tzimiropoulos 2019), the learned
// scale Γ in its four shapes: gradients of every factor by central differences, the materialised Γ
// equals the product of the factors, equal binary cost; and why the chapter's network is a binary
// ResNet: a positive per-channel scale before a batch norm is divided out (so Γ is inert in the
// binary LeNet-5), while in a residual block (layers/models/binary_resnet.h) it sets the output.
// Book: book/24-xnorpp.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "compression/quantization/bitpack.h"
#include "compression/quantization/packed_binary.h"
#include "compression/quantization/xnor.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
#include "engine/rng.h"
#include "layers/models/binary_lenet5.h"
#include "compression/quantization/xnorpp.h"
#include "engine/kernels/cpu.h"
#include "engine/ops.h"
#include "layers/models/binary_resnet.h"
#include "layers/norm.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::check_gradients;
using mgf::testing::expect_all_close;
using mgf::testing::kAccumulate;
using mgf::testing::kElementwise;
using mgf::testing::random_tensor;

namespace {

// A tiny binary ResNet (width 4, one block per stage) whose batch norms and scales are not at
// their init values: running statistics, γ of both signs, β, and Γ factors drawn at random, so
// the packed runner has something to get wrong. Eval mode.
std::unique_ptr<BinaryResNet> random_resnet(int gamma_case, uint64_t seed) {
  manual_seed(seed);
  BinaryResNetConfig cfg;
  cfg.gamma_case = gamma_case;
  cfg.width = 4;
  cfg.blocks_per_stage = 1;
  auto m = std::make_unique<BinaryResNet>(cfg);
  uint64_t s = seed * 100;
  for (const auto& [name, child] : m->children()) {
    std::vector<BatchNorm*> bns;
    if (auto* bn = dynamic_cast<BatchNorm*>(child.get())) bns.push_back(bn);
    if (auto* rb = dynamic_cast<BinaryResBlock*>(child.get())) {
      bns.push_back(rb->bn);
      for (Parameter* p : rb->conv->gamma) p->var.value() = random_tensor(p->var.value().shape(), s++, 0.3f, 1.5f);
    }
    for (BatchNorm* bn : bns) {
      const Shape c = bn->running_mean.shape();
      bn->running_mean = random_tensor(c, s++, -0.5f, 0.5f);
      bn->running_var = random_tensor(c, s++, 0.3f, 2.0f);
      bn->weight.var.value() = random_tensor(c, s++, -1.5f, 1.5f);
      bn->bias.var.value() = random_tensor(c, s++, -0.5f, 0.5f);
    }
  }
  m->eval();
  return m;
}

// A .xnor file around a payload (header, CRC-32), as export_packed writes it.
std::vector<uint8_t> xnor_bytes(const ByteWriter& p, uint32_t version, uint32_t layers) {
  ByteWriter f;
  f.bytes("MGFXNOR1", 8);
  f.u32(version), f.u32(layers), f.u64(p.size()), f.u32(crc32(p.data().data(), p.size()));
  f.bytes(p.data().data(), p.size());
  return f.take();
}

// input [2, 3, 3] → binary_res_block (O, k, pad, scale as given) → flatten → linear 18 → 2
ByteWriter res_block_payload(uint32_t O, uint32_t k, uint32_t pad, uint32_t scale, uint64_t bits = 0x15) {
  ByteWriter p;
  p.u32(2), p.u32(3), p.u32(3);
  p.u32(12), p.str_u32("block1");
  p.u32(O), p.u32(k), p.u32(pad), p.u32(scale);
  p.f32(1e-5f);
  for (int i = 0; i < 4 * 2; ++i) p.f32(i % 4 == 3 ? 1.0f : 0.25f);  // gamma, beta, mean, var of 2 channels
  for (uint32_t r = 0; r < O; ++r) p.u64(bits);                      // O rows of 2·k·k bits
  for (uint32_t i = 0; i < (scale == 2 ? O * 9 : O); ++i) p.f32(0.5f);
  p.u32(4), p.str_u32("flatten");
  p.u32(7), p.str_u32("fc"), p.u32(2);
  for (int i = 0; i < 2 * 18 + 2; ++i) p.f32(0.1f);
  return p;
}

}  // namespace

TEST_SUITE("xnorpp") {
  TEST_CASE("the four shapes of Gamma: o, o x h x w, o (x) hw, o (x) h (x) w; fully connected is alpha in R^o") {
    CHECK(gamma_parameter_count(1, 50, 8, 8) == 50);
    CHECK(gamma_parameter_count(2, 50, 8, 8) == 50 * 64);
    CHECK(gamma_parameter_count(3, 50, 8, 8) == 50 + 64);
    CHECK(gamma_parameter_count(4, 50, 8, 8) == 50 + 8 + 8);
    for (int c = 1; c <= 4; ++c) CHECK(gamma_parameter_count(c, 500, 0, 0) == 500);
    CHECK_THROWS_AS(gamma_factors(5, 4, 2, 2), std::invalid_argument);
  }

  TEST_CASE("every Gamma factor's gradient checks by central differences (y (.) Gamma is linear in each)") {
    const int64_t O = 3, OH = 2, OW = 4;
    for (int c = 1; c <= 4; ++c) {
      CAPTURE(c);
      std::vector<Var> in{Var(random_tensor({2, O, OH, OW}, 1), true)};
      uint64_t seed = 10;
      for (const GammaFactor& f : gamma_factors(c, O, OH, OW)) in.push_back(Var(random_tensor(f.shape, seed++, 0.5f, 1.5f), true));
      CHECK(check_gradients([](const std::vector<Var>& v) {
        return apply_gamma(v[0], std::vector<Var>(v.begin() + 1, v.end()));
      }, in));
    }
  }

  TEST_CASE("Gamma learned through the binary conv: gradient of alpha, beta, gamma by central differences") {
    // the XNOR-Net++ layer: (sign(I) ⊛ sign(W)) ⊙ Γ; I and W fixed, Γ checked (case 4)
    BinaryConvOptions o;
    o.binarize_input = true;
    o.pad = 1;
    Var x(random_tensor({2, 2, 3, 4}, 3));
    Var w(random_tensor({3, 2, 3, 3}, 4));
    std::vector<Var> g;
    uint64_t seed = 20;
    for (const GammaFactor& f : gamma_factors(4, 3, 3, 4)) g.push_back(Var(random_tensor(f.shape, seed++, 0.5f, 1.5f), true));
    CHECK(check_gradients([&](const std::vector<Var>& v) { return apply_gamma(binary_conv2d(x, bwn_weights(w, false), o), v); }, g));
  }

  TEST_CASE("the materialised Gamma equals the product of the factors, in every case") {
    const int64_t O = 3, OH = 2, OW = 3;
    Tensor y = Tensor::ones({1, O, OH, OW});
    for (int c = 1; c <= 4; ++c) {
      CAPTURE(c);
      std::vector<Tensor> f;
      std::vector<Var> fv;
      uint64_t seed = 30;
      for (const GammaFactor& gf : gamma_factors(c, O, OH, OW)) {
        f.push_back(random_tensor(gf.shape, seed++, 0.5f, 1.5f));
        fv.push_back(Var(f.back()));
      }
      Tensor ref = apply_gamma(Var(y), fv).value();  // Γ = 1 ⊙ Γ
      Tensor G = gamma_full(c, f, O, OH, OW);
      for (int64_t i = 0; i < G.numel(); ++i) CHECK(G[i] == doctest::Approx(ref[i]));
    }
  }

  TEST_CASE("Gamma starts at XNOR-Net's analytic alpha, spatial factors at 1") {
    Tensor w({2, 2}, {1.0f, -3.0f, 0.5f, 0.5f});
    auto init = gamma_init(4, w.reshape({2, 2, 1, 1}), 2, 2);
    REQUIRE(init.size() == 3);
    CHECK(init[0][0] == doctest::Approx(2.0));
    CHECK(init[0][1] == doctest::Approx(0.5));
    CHECK(init[1][0] == 1.0f);
    CHECK(init[2][1] == 1.0f);
  }

  TEST_CASE("XNOR-Net++ models of every case have the same binary layers (equal binary cost)") {
    int64_t bytes = -1;
    for (int c = 1; c <= 4; ++c) {
      BinaryNetConfig cfg;
      cfg.mode = BinaryMode::xnorpp;
      cfg.gamma_case = c;
      cfg.c1 = 4, cfg.c2 = 6, cfg.fc = 16;
      BinaryLeNet5 m(cfg);
      const int64_t packed = m.deployed_weight_bytes() - 4 * (gamma_parameter_count(c, 6, 8, 8) + 16);
      if (bytes >= 0) CHECK(packed == bytes);
      bytes = packed;
      m.eval();
      NoGradGuard ng;
      CHECK(m(Var(random_tensor({2, 1, 28, 28}, 5))).shape() == Shape{2, 10});
    }
  }

  // ---- the invariance that made cases 1–4 equal in the binary LeNet-5 -----------------------------
  // BN(s ⊙ x) = BN(x) for s > 0 per channel: the batch mean and standard deviation scale by s too.
  // Only ε breaks it: (x−μ)/√(σ²+ε/s²) vs (x−μ)/√(σ²+ε), a relative change ≤ ε·|1/s²−1|/(2σ²) =
  // 1.5e-5 for s ≥ 0.5 and σ² ≈ 1/3 — inside kAccumulate (the statistics are sums over N·H·W).
  TEST_CASE("a positive per-channel scale before batch norm changes nothing (batch statistics)") {
    const int64_t C = 3;
    Tensor x = random_tensor({4, C, 3, 2}, 40);
    Tensor s = random_tensor({1, C, 1, 1}, 41, 0.5f, 2.0f);
    BatchNorm2d bn(C);
    bn.weight.var.value() = random_tensor({C}, 42, 0.5f, 1.5f);  // any affine part: it comes after
    bn.bias.var.value() = random_tensor({C}, 43);
    NoGradGuard ng;
    const Tensor plain = bn(Var(x)).value();
    const Tensor scaled = bn(mul(Var(x), Var(s))).value();
    expect_all_close(scaled, plain, kAccumulate, "BN(s * x) vs BN(x)");
    // and a scale that is NOT per channel (it varies over positions) does change it
    Tensor sp = random_tensor({1, C, 3, 2}, 44, 0.5f, 2.0f);
    const Tensor moved = bn(mul(Var(x), Var(sp))).value();
    float worst = 0;
    for (int64_t i = 0; i < moved.numel(); ++i) worst = std::max(worst, std::fabs(moved[i] - plain[i]));
    CHECK(worst > 0.1f);
  }

  TEST_CASE("in the binary LeNet-5 the learned per-channel scale of conv2 and fc1 is inert: logits unchanged") {
    // conv2 → max-pool → bn3 and fc1 → bn4 (B-A-C-P, binary_lenet5.h): a positive α_o commutes with
    // the max and is divided out by the batch norm after it. This is why cases 1–4 tied there.
    BinaryNetConfig cfg;
    cfg.mode = BinaryMode::xnorpp;
    cfg.gamma_case = 1;
    cfg.c1 = 4, cfg.c2 = 6, cfg.fc = 16;
    manual_seed(7);
    BinaryLeNet5 m(cfg);
    m.train();  // batch statistics: the invariance holds for every batch, not only after training
    NoGradGuard ng;
    const Var x(random_tensor({8, 1, 28, 28}, 45));
    const Tensor before = m(x).value();
    for (BinaryLayer* l : {static_cast<BinaryLayer*>(m.conv2), static_cast<BinaryLayer*>(m.fc1)}) {
      Tensor& alpha = l->gamma[0]->var.value();
      const Tensor s = random_tensor(alpha.shape(), 46, 0.5f, 2.0f);
      for (int64_t i = 0; i < alpha.numel(); ++i) alpha[i] *= s[i];
    }
    const Tensor after = m(x).value();
    expect_all_close(after, before, kAccumulate, "LeNet-5 logits, alpha rescaled vs not");
  }

  // ---- the binary residual block, where the scale matters ----------------------------------------
  TEST_CASE("in the binary residual block the scale sets the output: branch(2 alpha) = 2 branch(alpha)") {
    // y = x + Γ ⊙ (sign(BN(x)) ⊛ sign(W)) is linear in Γ and nothing normalises the branch alone,
    // so doubling case 1's α doubles y − x: the scale reaches the next block's input.
    for (int c = 1; c <= 4; ++c) {
      CAPTURE(c);
      manual_seed(8);
      BinaryResBlock block(3, 5, c);
      block.train();
      NoGradGuard ng;
      const Var x(random_tensor({2, 3, 5, 5}, 47));
      const Tensor y1 = block(x).value();
      Tensor& alpha = block.conv->gamma[0]->var.value();
      for (int64_t i = 0; i < alpha.numel(); ++i) alpha[i] *= 2.0f;
      const Tensor y2 = block(x).value();
      Tensor want(y1.shape()), got(y1.shape());
      float worst = 0;
      for (int64_t i = 0; i < y1.numel(); ++i) {
        want[i] = 2.0f * (y1[i] - x.value()[i]);
        got[i] = y2[i] - x.value()[i];
        worst = std::max(worst, std::fabs(y2[i] - y1[i]));
      }
      expect_all_close(got, want, kElementwise, "y - x with 2 alpha vs 2 (y - x)");
      CHECK(worst > 0.1f);  // the output did move
    }
  }

  TEST_CASE("in the binary ResNet a per-channel rescale of one block's alpha changes the logits") {
    BinaryResNetConfig cfg;
    cfg.gamma_case = 1;
    cfg.width = 4;
    cfg.blocks_per_stage = 1;
    manual_seed(9);
    BinaryResNet m(cfg);
    m.train();
    NoGradGuard ng;
    const Var x(random_tensor({8, 1, 28, 28}, 48));
    const Tensor before = m(x).value();
    Tensor& alpha = m.blocks[0]->conv->gamma[0]->var.value();
    const Tensor s = random_tensor(alpha.shape(), 46, 0.5f, 2.0f);  // the rescale the LeNet-5 ignored
    for (int64_t i = 0; i < alpha.numel(); ++i) alpha[i] *= s[i];
    const Tensor after = m(x).value();
    float worst = 0;
    for (int64_t i = 0; i < after.numel(); ++i) worst = std::max(worst, std::fabs(after[i] - before[i]));
    CHECK(worst > 1e-2f);
  }

  TEST_CASE("binary residual block: every Gamma factor's gradient checks by central differences, every case") {
    // the block output is linear in each factor (x, BN and the signs fixed), so no kink is in the way
    for (int c = 1; c <= 4; ++c) {
      CAPTURE(c);
      manual_seed(10);
      BinaryResBlock block(2, 3, c);
      block.train();
      const Var x(random_tensor({2, 2, 3, 3}, 49));
      std::vector<Var> g;
      for (Parameter* p : block.conv->gamma) g.push_back(p->var);  // the same nodes the block reads
      CHECK(check_gradients([&](const std::vector<Var>&) { return block(x); }, g));
    }
  }

  TEST_CASE("binary residual block: the shortcut passes the gradient unchanged (Gamma = 0: dy/dx = I)") {
    // With Γ = 0 the binary branch is 0 for every x, so the true Jacobian is the identity; the
    // analytic one is I + 0·(STE path), so this checks the add and that the branch is scaled.
    manual_seed(11);
    BinaryResBlock block(2, 3, 1);
    block.train();
    block.conv->gamma[0]->var.value().fill(0.0f);
    std::vector<Var> in{Var(random_tensor({2, 2, 3, 3}, 50), true)};
    CHECK(check_gradients([&](const std::vector<Var>& v) { return block(v[0]); }, in));
  }

  TEST_CASE("the binary ResNet: logits [N, 10], its learned scale counts, bad shapes and cases refused") {
    for (int c = 0; c <= 4; ++c) {
      CAPTURE(c);
      BinaryResNetConfig cfg;
      cfg.gamma_case = c;
      cfg.width = 4;
      BinaryResNet m(cfg);
      REQUIRE(m.blocks.size() == 4);
      const int64_t want = c == 0 ? 0
                                  : 2 * gamma_parameter_count(c, 4, 14, 14) + 2 * gamma_parameter_count(c, 4, 7, 7);
      CHECK(m.learned_scale_count() == want);
      m.eval();
      NoGradGuard ng;
      CHECK(m(Var(random_tensor({3, 1, 28, 28}, 51))).shape() == Shape{3, 10});
      CHECK_THROWS_AS(m(Var(random_tensor({3, 1, 27, 28}, 52))), std::invalid_argument);
    }
    CHECK(BinaryResNetConfig{4, 16, 2}.name() == "XNOR++ case 4");
    CHECK(BinaryResNetConfig{0, 16, 2}.name() == "XNOR-Net alpha*K");
    CHECK_THROWS_AS(BinaryResNet(BinaryResNetConfig{5, 4, 1}), std::invalid_argument);
    CHECK_THROWS_AS(BinaryResNet(BinaryResNetConfig{1, 0, 1}), std::invalid_argument);
    CHECK_THROWS_AS(BinaryResBlock(4, 7, -1), std::invalid_argument);
  }

  TEST_CASE("a binary ResNet exports to .xnor version 4 and reads back: one binary_res_block per block, bits and scales") {
    for (int c : {0, 1, 4}) {
      CAPTURE(c);
      auto m = random_resnet(c, 60 + static_cast<uint64_t>(c));
      const std::string path = "build/test-xnorpp-resnet.xnor";
      const int64_t bytes = export_packed(*m, {1, 28, 28}, path);
      const PackedBinaryNet net(path);
      CHECK(net.file_bytes() == bytes);
      CHECK(net.xnorpp() == (c != 0));
      std::string kinds;
      for (const auto& l : net.layers()) kinds += std::string(kinds.empty() ? "" : " ") + PackedBinaryNet::kind_name(l.kind);
      CHECK(kinds == "conv batch_norm relu max_pool binary_res_block max_pool binary_res_block batch_norm relu flatten linear");
      int b = 0;
      for (const auto& l : net.layers()) {
        if (l.kind != PackedBinaryNet::Kind::binary_res_block) continue;
        const BinaryResBlock& blk = *m->blocks[static_cast<size_t>(b++)];
        const Tensor& W = blk.conv->weight.var.value();
        CHECK(l.out == 4);
        CHECK(l.K == 4 * 9);
        CHECK(l.g.PH == 1);
        CHECK(l.mode == (c == 0 ? 0u : 2u));
        std::vector<float> signs(static_cast<size_t>(l.K));
        for (int64_t o = 0; o < 4; ++o) {  // the packed rows are sign(W), im2col's order
          unpack_signs_row(l.bits.data() + o * bit_words(l.K), l.K, signs.data());
          for (int64_t k = 0; k < l.K; ++k) CHECK(signs[static_cast<size_t>(k)] == (W[o * l.K + k] >= 0 ? 1.0f : -1.0f));
        }
        const int64_t hw = l.in[1];
        if (c == 0) {
          CHECK(l.scale == bwn_alpha(W));
        } else {
          std::vector<Tensor> f;
          for (Parameter* p : blk.conv->gamma) f.push_back(p->var.value());
          const Tensor G = gamma_full(c, f, 4, hw, hw);
          CHECK(l.scale == std::vector<float>(G.data(), G.data() + G.numel()));
        }
        CHECK(l.gamma == std::vector<float>(blk.bn->weight.var.value().data(), blk.bn->weight.var.value().data() + 4));
        CHECK(l.mean == std::vector<float>(blk.bn->running_mean.data(), blk.bn->running_mean.data() + 4));
      }
      CHECK(b == 2);
    }
  }

  TEST_CASE("simulation = deployment: the packed binary ResNet predicts what the float simulation predicts (every case)") {
    // The binary branch is counted in bits (xnor + popcount, the padding as +1) and scaled once;
    // the shortcut, the batch norms and the scales stay float. The simulation sums ±α (or ±1
    // times Γ) in float, so the logits agree to rounding, and the predictions exactly.
    const Tensor x = random_tensor({16, 1, 28, 28}, 70, -0.5f, 2.0f);
    for (int c = 0; c <= 4; ++c) {
      CAPTURE(c);
      auto m = random_resnet(c, 70 + static_cast<uint64_t>(c));
      const std::string path = "build/test-xnorpp-resnet-sim.xnor";
      export_packed(*m, {1, 28, 28}, path);
      const PackedBinaryNet net(path);
      NoGradGuard ng;
      const Tensor sim = (*m)(Var(x)).value();
      for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
        if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
        KernelModeGuard kg(mode);
        const Tensor dep = net.forward(x);
        REQUIRE(dep.shape() == sim.shape());
        float worst = 0, scale = 0;
        for (int64_t i = 0; i < sim.numel(); ++i) {
          worst = std::max(worst, std::fabs(dep[i] - sim[i]));
          scale = std::max(scale, std::fabs(sim[i]));
        }
        CHECK(worst <= 1e-4f * std::max(1.0f, scale));
        for (int64_t n = 0; n < 16; ++n) {
          int64_t a = 0, b = 0;
          for (int64_t j = 1; j < 10; ++j) {
            if (dep[n * 10 + j] > dep[n * 10 + a]) a = j;
            if (sim[n * 10 + j] > sim[n * 10 + b]) b = j;
          }
          CHECK(a == b);
        }
        Tensor x3({1, 1, 28, 28});  // batch 1 = row 3 of the batch
        std::copy(x.data() + 3 * 784, x.data() + 4 * 784, x3.data());
        const Tensor one = net.forward(x3);
        for (int64_t j = 0; j < 10; ++j) CHECK(one[j] == doctest::Approx(dep[3 * 10 + j]).epsilon(1e-5));  // (sgemm blocks by batch)
      }
    }
  }

  TEST_CASE("a malformed binary_res_block record is refused with a named error") {
    auto expect = [](const std::vector<uint8_t>& f, const std::string& what) {
      CAPTURE(what);
      CHECK_THROWS_WITH_AS(PackedBinaryNet::from_bytes(f, "bad.xnor"), doctest::Contains(what.c_str()), std::runtime_error);
    };
    CHECK_NOTHROW(PackedBinaryNet::from_bytes(xnor_bytes(res_block_payload(2, 3, 1, 1), 4, 3), "good.xnor"));
    CHECK_NOTHROW(PackedBinaryNet::from_bytes(xnor_bytes(res_block_payload(2, 3, 1, 2), 4, 3), "good.xnor"));
    expect(xnor_bytes(res_block_payload(2, 3, 1, 1), 3, 3), "expected a kind 0 .. 11 (version 3), found 12");
    expect(xnor_bytes(res_block_payload(2, 3, 1, 1), 5, 3), "expected version 3 or 4, found 5");
    expect(xnor_bytes(res_block_payload(3, 3, 1, 1), 4, 3), "a block of 3 channels in and out (the identity shortcut)");
    expect(xnor_bytes(res_block_payload(2, 3, 0, 1), 4, 3), "field 'res block pad'");
    expect(xnor_bytes(res_block_payload(2, 3, 1, 3), 4, 3), "expected 0 (alpha*K), 1 (alpha) or 2 (Gamma), found 3");
    expect(xnor_bytes(res_block_payload(2, 3, 1, 1, uint64_t{1} << 40), 4, 3), "has padding bits set past K = 18");
    ByteWriter tail;  // truncated inside the linear record (the header describes the shorter payload)
    const ByteWriter full = res_block_payload(2, 3, 1, 1);
    tail.bytes(full.data().data(), full.size() - 60);
    expect(xnor_bytes(tail, 4, 3), "linear weight of fc");
    // the exporter refuses a block it has no record for (2 channels reaching a 3-channel input:
    // no identity shortcut)
    manual_seed(3);
    Sequential bad;
    bad.add("block", std::make_shared<BinaryResBlock>(2, 5, 1));
    CHECK_THROWS_WITH_AS(export_packed(bad, {3, 5, 5}, "build/test-bad-block.xnor"),
                         doctest::Contains("export_packed: layer block: expected a C -> C binary conv"), std::invalid_argument);
  }
}
