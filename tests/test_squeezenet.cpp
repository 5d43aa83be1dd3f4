// tests/test_squeezenet.cpp — TEST_SUITE("squeezenet"): Iandola et al. 2016.
// The Fire module's parameter formula (§3.2) and MACs, its shapes and gradients, the
// metaparameters of §5 (e_i, s_i = SR·e_i, pct3x3), the simple bypass, the small Fire-net and
// its plain-CNN twin, and a Fire-net run from a .mgfdc file (Deep Compression, §6 of the
// paper) giving the simulated model's logits.
// Book: book/04-squeezenet.md.
#include <doctest/doctest.h>

#include <cstdio>
#include <memory>

#include "compression/deep_compression.h"
#include "compression/quantization/weight_sharing.h"
#include "engine/kernels/cpu.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/summary.h"
#include "layers/conv.h"
#include "layers/fire.h"
#include "layers/models/squeezenet.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::random_tensor;

namespace {
// The Fire's weights, read back, as the dense reference computes them.
Tensor weight_of(Module& stage) { return dynamic_cast<Conv2d&>(stage).weight.var.value(); }
Tensor bias_of(Module& stage) { return dynamic_cast<Conv2d&>(stage).bias->var.value(); }
}  // namespace

TEST_SUITE("squeezenet") {
  TEST_CASE("Fire parameters are C_in*s + s*e1 + 9*s*e3 plus s + e1 + e3 biases (paper §3.2)") {
    struct Case { int64_t in, s, e1, e3; };
    for (Case c : {Case{96, 16, 64, 64}, Case{128, 32, 128, 128}, Case{3, 1, 1, 1}, Case{7, 5, 9, 2}}) {
      CAPTURE(c.in);
      Fire f(c.in, c.s, c.e1, c.e3);
      const int64_t want = c.in * c.s + c.s * c.e1 + 9 * c.s * c.e3 + c.s + c.e1 + c.e3;
      CHECK(f.num_parameters() == want);
    }
    // SqueezeNet's fire2 (Table 1): 96 → s 16 → 64 + 64: 11 920 parameters (weights + biases).
    CHECK(Fire(96, 16, 64, 64).num_parameters() == 1536 + 16 + 1024 + 64 + 9216 + 64);
  }

  TEST_CASE("Fire output shape is [N, e1 + e3, H, W]; the bypass keeps it and needs C_in = e1 + e3") {
    Fire f(5, 3, 4, 6);
    Var y = f.forward(Var(random_tensor({2, 5, 7, 9}, 1)));
    CHECK(y.shape() == Shape{2, 10, 7, 9});
    Fire b(10, 3, 4, 6, true);
    CHECK(b.forward(Var(random_tensor({1, 10, 5, 5}, 2))).shape() == Shape{1, 10, 5, 5});
    CHECK_THROWS_AS(Fire(9, 3, 4, 6, true), std::invalid_argument);
    CHECK_THROWS_AS(Fire(9, 0, 4, 6), std::invalid_argument);
    CHECK_THROWS_AS(f.forward(Var(random_tensor({1, 4, 5, 5}, 3))), std::invalid_argument);
  }

  TEST_CASE("Fire forward equals squeeze -> ReLU -> (1x1 ReLU || 3x3 ReLU) concatenated, plus x with bypass") {
    for (bool bypass : {false, true}) {
      CAPTURE(bypass);
      Fire f(6, 2, 3, 3, bypass);
      Var x(random_tensor({2, 6, 5, 4}, 11));
      Conv2dOptions same;
      same.pad_h = same.pad_w = 1;
      NoGradGuard ng;
      Var s = relu(conv2d(x, Var(weight_of(f.squeeze())), Var(bias_of(f.squeeze()))));
      Var a = relu(conv2d(s, Var(weight_of(f.expand1x1())), Var(bias_of(f.expand1x1()))));
      Var b = relu(conv2d(s, Var(weight_of(f.expand3x3())), Var(bias_of(f.expand3x3())), same));
      Tensor want = concat_channels({a, b}).value();
      if (bypass) want = add(Var(want), x).value();
      Tensor got = f.forward(x).value();
      REQUIRE(got.shape() == want.shape());
      for (int64_t i = 0; i < got.numel(); ++i) REQUIRE(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
      // channel 0..2 come from the 1×1 branch: with bypass off they are ReLU outputs, never < 0
      if (!bypass)
        for (int64_t i = 0; i < got.numel(); ++i) CHECK(got[i] >= 0.0f);
    }
  }

  TEST_CASE("Fire gradients (input and all six parameters, with bypass) match central differences") {
    Fire f(4, 2, 2, 2, true);
    // inputs away from ReLU kinks are not guaranteed, but h = 1e-3 with these seeds stays off them
    std::vector<Var> inputs{Var(random_tensor({2, 4, 4, 3}, 21), true)};
    std::vector<Parameter*> ps = f.parameters();
    for (Parameter* p : ps) inputs.push_back(p->var);
    auto run = [&](const std::vector<Var>& in) { return f.forward(in[0]); };
    mgf::testing::GradCheckOptions o;
    o.h = 1e-3f;
    o.atol = 3e-3f;
    CHECK(mgf::testing::check_gradients(run, inputs, o));
  }

  TEST_CASE("Fire MACs: H*W*(C_in*s + s*e1 + 9*s*e3), the sum of its three convolutions, and summarize() counts it") {
    Fire f(16, 4, 8, 8);
    const Shape in{1, 16, 14, 14}, out{1, 16, 14, 14};
    CHECK(f.macs_per_image(in, out) == 196 * (16 * 4 + 4 * 8 + 9 * 4 * 8));
    const int64_t parts = layer_macs(f.squeeze(), in, {1, 4, 14, 14}) + layer_macs(f.expand1x1(), {1, 4, 14, 14}, {1, 8, 14, 14}) +
                          layer_macs(f.expand3x3(), {1, 4, 14, 14}, {1, 8, 14, 14});
    CHECK(f.macs_per_image(in, out) == parts);
    CHECK(layer_macs(f, in, out) == parts);   // through ReportsMacs
    // a whole Fire-net: the summary's total is the sum of conv1, the Fires and conv10
    FireNetConfig c;
    auto net = make_fire_net(c);
    ModelSummary s = summarize(*net, {1, 1, 28, 28}, 1);
    int64_t want = 14 * 14 * 32 * 9;   // conv1: 1 → 32, 3×3, stride 2 → 14×14
    for (int64_t i = 0; i < c.fires; ++i) {
      const int64_t hw = i < (c.fires + 1) / 2 ? 196 : 49;
      const int64_t in_c = i == 0 ? c.stem : c.expand(i - 1), sq = c.squeeze(i), e3 = c.expand3x3(i);
      want += hw * (in_c * sq + sq * (c.expand(i) - e3) + 9 * sq * e3);
    }
    want += 49 * c.expand(c.fires - 1) * 10;   // conv10
    CHECK(s.macs == want);
    CHECK(s.params == net->num_parameters());
  }

  TEST_CASE("metaparameters of §5: e_i = base_e + incr_e*floor(i/freq), s_i = SR*e_i, e3 = pct3x3*e_i") {
    FireNetConfig c;
    c.base_e = 128, c.incr_e = 128, c.freq = 2, c.fires = 8, c.sr = 0.125, c.pct3x3 = 0.5;
    // SqueezeNet's fire2..fire9 expand widths (Table 1): 128 128 256 256 384 384 512 512
    const int64_t e[8] = {128, 128, 256, 256, 384, 384, 512, 512};
    for (int64_t i = 0; i < 8; ++i) {
      CHECK(c.expand(i) == e[i]);
      CHECK(c.squeeze(i) == e[i] / 8);
      CHECK(c.expand3x3(i) == e[i] / 2);
    }
    c.pct3x3 = 0.0;
    CHECK_THROWS_AS(make_fire_net(c), std::invalid_argument);   // no 3×3 filter left
    c.pct3x3 = 0.5;
    c.sr = 0.0;
    CHECK_THROWS_AS(make_fire_net(c), std::invalid_argument);
  }

  TEST_CASE("the Fire-net and its plain twin: logits [N, 10], the same stages, >= 8x fewer parameters at SR 0.125") {
    FireNetConfig c;
    auto fire = make_fire_net(c), plain = make_plain_cnn(c);
    NoGradGuard ng;
    Var x(random_tensor({3, 1, 28, 28}, 5, 0.0f, 1.0f));
    CHECK(fire->forward(x).shape() == Shape{3, 10});
    CHECK(plain->forward(x).shape() == Shape{3, 10});
    CHECK(plain->num_parameters() >= 8 * fire->num_parameters());
    // bypass only where widths allow and the index is odd: fire3 and fire5 with the defaults
    c.bypass = true;
    auto byp = make_fire_net(c);
    CHECK_FALSE(byp->at<Fire>("fire2").bypass);
    CHECK(byp->at<Fire>("fire3").bypass);
    CHECK_FALSE(byp->at<Fire>("fire4").bypass);   // 32 → 64
    CHECK(byp->at<Fire>("fire5").bypass);
    CHECK(byp->num_parameters() == fire->num_parameters());   // a simple bypass has no parameters
    // more squeeze, more parameters; the sizes grow monotonically with SR
    c.bypass = false;
    c.sr = 0.75;
    CHECK(make_fire_net(c)->num_parameters() > fire->num_parameters());
  }

  TEST_CASE("pool_after moves the Fire-net's max-pool (downsample late) without changing its parameters") {
    FireNetConfig c;
    CHECK(c.pool_index() == 2);   // default: after half of the 4 Fires
    auto order = [](Sequential& net) {
      std::string s;
      for (const auto& child : net.children()) s += child.first + " ";
      return s;
    };
    auto half = make_fire_net(c);
    CHECK(order(*half) == "conv1 relu1 fire2 fire3 pool fire4 fire5 conv10 gap ");
    c.pool_after = 4;
    auto late = make_fire_net(c);
    CHECK(order(*late) == "conv1 relu1 fire2 fire3 fire4 fire5 pool conv10 gap ");
    CHECK(late->num_parameters() == half->num_parameters());
    // every Fire at 14×14 now: more MACs for the same parameters (strategy 3 of §3.1)
    CHECK(summarize(*late, {1, 1, 28, 28}, 1).macs > summarize(*half, {1, 1, 28, 28}, 1).macs);
    NoGradGuard ng;
    CHECK(late->forward(Var(random_tensor({2, 1, 28, 28}, 6, 0.0f, 1.0f))).shape() == Shape{2, 10});
    c.pool_after = 5;
    CHECK_THROWS_WITH_AS(make_fire_net(c), doctest::Contains("pool_after in [-1, fires], found pool_after = 5"), std::invalid_argument);
  }

  TEST_CASE("a Fire-net from a .mgfdc file: every conv (Fire stages included) runs compressed and gives the simulated logits") {
    for (KernelMode mode : {KernelMode::scalar, KernelMode::avx2}) {
      if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
      CAPTURE(kernel_mode_name(mode));
      KernelModeGuard guard(mode);
      FireNetConfig c;
      c.bypass = true;
      auto net = make_fire_net(c);
      TrainedQuantization q;
      Rng rng(31);
      Rng mask_rng(32);
      for (auto& np : net->named_parameters())
        if (np.param->var.value().ndim() == 4) {
          Tensor m(np.param->var.shape());
          for (int64_t i = 0; i < m.numel(); ++i) m[i] = mask_rng.uniform(0.0f, 1.0f) < 0.4f ? 1.0f : 0.0f;
          np.param->set_mask(m);
          q.add(np.name, *np.param, 6, KmeansInit::linear, rng);
        }
      CompressedModel cm = make_compressed_model(*net, q, "firenet");
      CompressedRunner runner(parse_compressed(serialize_compressed(cm, true), "memory"), make_fire_net(c));
      CHECK(runner.compressed_conv_layers() == 2 + 3 * c.fires);   // conv1, conv10 and 3 per Fire
      CHECK(runner.reinflated_layers() == 0);
      NoGradGuard ng;
      net->eval();
      Var x(random_tensor({4, 1, 28, 28}, 33, 0.0f, 1.0f));
      Tensor want = net->forward(x).value(), got = runner.forward(x).value();
      REQUIRE(got.shape() == want.shape());
      mgf::testing::expect_all_close(got.data(), want.data(), got.numel(), mgf::testing::kAccumulate, "file vs simulated");
      // a skeleton with other Fire sizes is refused, naming the tensor
      FireNetConfig other = c;
      other.sr = 0.25;
      CHECK_THROWS_WITH_AS(CompressedRunner(cm, make_fire_net(other)), doctest::Contains("fire2.squeeze.weight"),
                           std::invalid_argument);
    }
  }

  TEST_CASE("the Fire-net's .mgfdc in version 2: lean records for its 28 small tensors, binary16 floats exact from the file") {
    FireNetConfig c;
    auto net = make_fire_net(c);
    TrainedQuantization q;
    Rng rng(41), mask_rng(42);
    for (auto& np : net->named_parameters())
      if (np.param->var.value().ndim() == 4) {
        Tensor m(np.param->var.shape());
        for (int64_t i = 0; i < m.numel(); ++i) m[i] = mask_rng.uniform(0.0f, 1.0f) < 0.4f ? 1.0f : 0.0f;
        np.param->set_mask(m);
        q.add(np.name, *np.param, 4, KmeansInit::linear, rng);
      }
    for (auto& np : net->named_parameters())   // non-zero biases, as after training
      if (np.param->var.value().ndim() == 1) np.param->var.value() = random_tensor(np.param->var.shape(), 43, -0.1f, 0.1f);
    auto headers = [](const FileLayout& L) {
      int64_t h = L.header_bytes;
      for (const TensorLayout& t : L.tensors) h += t.header_bytes;
      return h;
    };
    CodingOptions v2;
    v2.version = 2;
    FileLayout L1, L2, L16;
    const int64_t b1 = static_cast<int64_t>(serialize_compressed(make_compressed_model(*net, q, "firenet"), true, &L1).size());
    const int64_t b2 = static_cast<int64_t>(serialize_compressed(make_compressed_model(*net, q, "firenet", v2), true, &L2).size());
    REQUIRE(L1.tensors.size() == 28);
    // names share prefixes ("fire2.squeeze." → "bias"), dims are 1-byte varints: the per-tensor
    // record shrinks to about half; the streams are the same bits
    CHECK(headers(L2) * 10 < headers(L1) * 6);
    for (size_t i = 0; i < L1.tensors.size(); ++i) CHECK(L2.tensors[i].code_bits == L1.tensors[i].code_bits);
    CHECK(b2 < b1);
    CodingOptions half = v2;
    half.half_floats = true;
    round_to_half_floats(*net, q);
    const std::string file = serialize_compressed(make_compressed_model(*net, q, "firenet", half), true, &L16);
    CHECK(static_cast<int64_t>(file.size()) < b2);
    for (const TensorLayout& t : L16.tensors) CHECK(t.raw_bytes + t.codebook_bytes < 4 * 33);   // 2 bytes per float
    CompressedRunner runner(parse_compressed(file, "memory"), make_fire_net(c));
    NoGradGuard ng;
    net->eval();
    Var x(random_tensor({2, 1, 28, 28}, 44, 0.0f, 1.0f));
    Tensor want = net->forward(x).value(), got = runner.forward(x).value();
    mgf::testing::expect_all_close(got.data(), want.data(), got.numel(), mgf::testing::kAccumulate, "f16 file vs rounded model");
  }
}
