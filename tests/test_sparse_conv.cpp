// tests/test_sparse_conv.cpp — TEST_SUITE("magnitude_pruning"), continued: the pruned
// convolution run from CSR (compression/coding/sparse_conv.h: im2col + spmm, direct scalar and
// both AVX2 forms) against the masked float conv, on ragged shapes, strides, padding and
// groups; and the deployed sparse model (compression/pruning/sparse_model.h) against the masked
// float LeNets. Book: book/14-magnitude_pruning.md ("Running the pruned net from CSR").
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "compression/coding/sparse_conv.h"
#include "compression/pruning/magnitude.h"
#include "compression/pruning/sparse_model.h"
#include "engine/kernels/cpu.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "layers/models/lenet.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::expect_all_close;
using mgf::testing::kDecode;
using mgf::testing::kKernelParity;
using mgf::testing::random_tensor;

namespace {

// A conv weight with about `density` of its entries kept (the rest exact zeros), deterministic.
Tensor random_sparse_weight(Shape s, double density, uint64_t seed) {
  Tensor w = random_tensor(std::move(s), seed);
  Rng r(seed + 17);
  for (int64_t i = 0; i < w.numel(); ++i)
    if (r.uniform() >= density) w[i] = 0.0f;
  return w;
}

// The reference: the dense conv op on the masked weight (engine/ops_conv.cpp, im2col + sgemm).
Tensor dense_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  NoGradGuard ng;
  return conv2d(Var(x), Var(w), b.empty() ? Var() : Var(b), o).value();
}

std::vector<KernelMode> modes() {
  std::vector<KernelMode> m{KernelMode::scalar};
  if (cpu_has_avx2()) m.push_back(KernelMode::avx2);
  return m;
}

struct ConvCase {
  int64_t C, OC, H, W, K, stride, pad;
};
// Channels and widths that are not multiples of 8; OW from 1 (no vector) through 7, 8, 9 (one
// vector and an overlapping one) to 28; strides 1 and 2; padding 0, 1, 2; LeNet-5's two layers.
const ConvCase kCases[] = {{1, 20, 28, 28, 5, 1, 0}, {20, 50, 12, 12, 5, 1, 0}, {3, 7, 9, 13, 3, 1, 1},
                           {5, 9, 11, 10, 3, 1, 0},  {1, 1, 5, 5, 5, 1, 0},    {2, 3, 7, 7, 1, 1, 0},
                           {9, 5, 17, 15, 3, 2, 1},  {3, 11, 16, 9, 5, 1, 2},  {4, 6, 10, 12, 3, 2, 0},
                           {7, 3, 6, 31, 3, 1, 1}};

}  // namespace

TEST_SUITE("magnitude_pruning") {
  TEST_CASE("sparse conv kernels: direct scalar = AVX2 tiled = AVX2 scatter = im2col + spmm, on ragged shapes") {
    for (const ConvCase& c : kCases) {
      CAPTURE(c.C);
      CAPTURE(c.OC);
      CAPTURE(c.H);
      CAPTURE(c.W);
      CAPTURE(c.K);
      CAPTURE(c.stride);
      CAPTURE(c.pad);
      const ConvGeom g{c.C, c.H, c.W, c.K, c.K, c.stride, c.stride, c.pad, c.pad};
      const int64_t P = g.OH() * g.OW();
      const Tensor w = random_sparse_weight({c.OC, c.C, c.K, c.K}, 0.3, static_cast<uint64_t>(c.C * 31 + c.W));
      const Tensor x = random_tensor({c.C, c.H, c.W}, static_cast<uint64_t>(c.H + 5));
      const CsrMatrix W32 = csr_from_tensor(w);
      const CsrMatrix16 W16 = csr_narrow(W32);
      std::vector<float> scratch(static_cast<size_t>(std::max(sparse_conv_scratch_floats(g, SparseConvAlgo::im2col),
                                                              sparse_conv_scratch_floats(g, SparseConvAlgo::direct))));
      std::vector<float> ys(c.OC * P, -7.0f), yt(c.OC * P, -7.0f), yc(c.OC * P, -7.0f), yi(c.OC * P, -7.0f),
          y32(c.OC * P, -7.0f);  // garbage: every output must be written
      const std::vector<int32_t> off = sparse_conv_tap_offsets(W16, g);
      REQUIRE(sparse_conv_tap_offsets(W32, g) == off);
      sparse_conv_direct_scalar(W16, off.data(), g, x.data(), scratch.data(), ys.data());
      sparse_conv_direct_avx2(W16, off.data(), g, x.data(), scratch.data(), yt.data());
      sparse_conv_direct_avx2_scatter(W16, off.data(), g, x.data(), scratch.data(), yc.data());
      sparse_conv_im2col(W16, g, x.data(), scratch.data(), yi.data());
      sparse_conv_direct_scalar(W32, off.data(), g, x.data(), scratch.data(), y32.data());
      const Tensor ref = dense_conv(x.reshape({1, c.C, c.H, c.W}), w, Tensor(), Conv2dOptions{c.stride, c.stride, c.pad, c.pad, 1});
      REQUIRE(ref.numel() == c.OC * P);
      expect_all_close(ys.data(), ref.data(), ref.numel(), kDecode, "direct scalar vs the dense masked conv");
      expect_all_close(y32.data(), ys.data(), ref.numel(), mgf::testing::kExact, "int32 columns vs 16-bit");
      expect_all_close(yt.data(), ys.data(), ref.numel(), kKernelParity, "direct AVX2 tiled vs scalar");
      expect_all_close(yc.data(), ys.data(), ref.numel(), kKernelParity, "direct AVX2 scatter vs scalar");
      expect_all_close(yi.data(), ys.data(), ref.numel(), kKernelParity, "im2col + spmm vs direct scalar");
    }
  }

  TEST_CASE("SparseConv2d gives the masked float conv's outputs: both algorithms, both kernel modes, bias, groups") {
    struct Layer {
      ConvCase c;
      int64_t groups;
    };
    const Layer layers[] = {{{1, 20, 28, 28, 5, 1, 0}, 1}, {{20, 50, 12, 12, 5, 1, 0}, 1}, {{6, 9, 9, 11, 3, 1, 1}, 3},
                            {{4, 4, 10, 13, 3, 2, 1}, 4},  {{3, 7, 8, 9, 5, 1, 2}, 1}};
    for (KernelMode mode : modes()) {
      KernelModeGuard guard(mode);
      for (const Layer& L : layers) {
        const ConvCase& c = L.c;
        CAPTURE(kernel_mode_name(mode));
        CAPTURE(c.C);
        CAPTURE(c.W);
        CAPTURE(L.groups);
        const Conv2dOptions o{c.stride, c.stride, c.pad, c.pad, L.groups};
        const Tensor w = random_sparse_weight({c.OC, c.C / L.groups, c.K, c.K}, 0.12, static_cast<uint64_t>(c.OC + 3));
        const Tensor b = random_tensor({c.OC}, 8);
        const Tensor x = random_tensor({3, c.C, c.H, c.W}, 9);
        const Tensor ref = dense_conv(x, w, b, o);
        for (SparseConvAlgo algo : {SparseConvAlgo::im2col, SparseConvAlgo::direct, SparseConvAlgo::scatter}) {
          CAPTURE(sparse_conv_algo_name(algo));
          const SparseConv2d sc(w, b, o, algo);
          CHECK(sc.narrow());
          CHECK(sc.nnz() == count_nonzero(w));
          const Tensor y = sc.forward(x);
          REQUIRE(y.shape() == ref.shape());
          expect_all_close(y, ref, kDecode, "SparseConv2d vs dense conv2d");
        }
      }
    }
  }

  TEST_CASE("SparseConv2d: an all-pruned filter gives its bias; CSR bytes are 4 (row_ptr) + 6 per nonzero") {
    Tensor w = random_sparse_weight({4, 2, 3, 3}, 0.5, 11);
    for (int64_t i = 0; i < 18; ++i) w[18 + i] = 0.0f;  // output channel 1: every weight pruned
    const Tensor b = random_tensor({4}, 12);
    const SparseConv2d sc(w, b, Conv2dOptions{});
    CHECK(sc.storage_bytes() == 4 * (4 + 1) + 6 * count_nonzero(w));
    const Tensor y = sc.forward(random_tensor({2, 2, 6, 6}, 13));
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t p = 0; p < 16; ++p) REQUIRE(y[(n * 4 + 1) * 16 + p] == b[1]);
  }

  TEST_CASE("SparseConv2d rejects bad weights, bias, options and inputs, naming expected and found") {
    CHECK_THROWS_WITH_AS(SparseConv2d(Tensor({3, 4}), Tensor(), Conv2dOptions{}), doctest::Contains("[3, 4]"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(SparseConv2d(Tensor({4, 1, 3, 3}), Tensor({3}), Conv2dOptions{}), doctest::Contains("[4]"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(SparseConv2d(Tensor({4, 1, 3, 3}), Tensor(), Conv2dOptions{1, 1, 0, 0, 3}),
                         doctest::Contains("groups 3"), std::invalid_argument);
    CHECK_THROWS_AS(SparseConv2d(Tensor({4, 1, 3, 3}), Tensor(), Conv2dOptions{0, 1, 0, 0, 1}), std::invalid_argument);
    const SparseConv2d sc(random_tensor({4, 2, 3, 3}, 1), Tensor(), Conv2dOptions{});
    CHECK_THROWS_WITH_AS(sc.forward(Tensor({1, 3, 5, 5})), doctest::Contains("[1, 3, 5, 5]"), std::invalid_argument);
    CHECK_THROWS_AS(sc.forward(Tensor({1, 2, 2, 5})), std::invalid_argument);  // kernel taller than the input
    // tap offsets for a geometry whose C·KH·KW is not the CSR's width
    const CsrMatrix16 w16 = csr_narrow(csr_from_tensor(random_tensor({4, 2, 3, 3}, 2)));
    CHECK_THROWS_WITH_AS(sparse_conv_tap_offsets(w16, ConvGeom{3, 5, 5, 3, 3, 1, 1, 0, 0}), doctest::Contains("27"),
                         std::invalid_argument);
  }

  TEST_CASE("the deployed sparse model's logits equal the masked float model's (LeNet-300-100, LeNet-5)") {
    manual_seed(5);
    const std::vector<std::shared_ptr<Sequential>> nets{make_lenet_300_100(), make_lenet5()};
    for (const auto& net : nets) {
      CAPTURE(net->type_name());
      int64_t total = 0, kept = 0;
      for (auto& np : prunable_parameters(*net)) {  // each layer to its own kept fraction
        prune_parameter(*np.param, sparsity_mask(np.param->var.value(), 0.05 + 0.1 * static_cast<double>(total % 3)));
        total += np.param->var.value().numel();
        kept += count_nonzero(np.param->mask);
      }
      net->eval();
      const Tensor x = random_tensor({3, 1, 28, 28}, 42, 0.0f, 1.0f);
      Tensor ref;
      {
        NoGradGuard ng;
        ref = (*net)(Var(x)).value();
      }
      for (KernelMode mode : modes()) {
        KernelModeGuard guard(mode);
        for (SparseConvAlgo algo : {SparseConvAlgo::im2col, SparseConvAlgo::direct, SparseConvAlgo::scatter}) {
          CAPTURE(kernel_mode_name(mode));
          CAPTURE(sparse_conv_algo_name(algo));
          const SparseModel sm(*net, algo);
          CHECK(sm.kept() == kept);
          CHECK(sm.total() == total);
          CHECK(sm.csr_bytes() < sm.dense_bytes());
          const Tensor y = sm.logits(x);
          REQUIRE(y.shape() == ref.shape());
          expect_all_close(y, ref, kDecode, "sparse model vs masked float model");
        }
      }
      // Every Linear and Conv2d runs from CSR, the rest as it is.
      const SparseModel sm(*net);
      for (const SparseModelLayer& L : sm.layers()) {
        CAPTURE(L.name);
        const std::string type = net->at(L.name).type_name();
        CHECK((L.linear != nullptr) == (type == "Linear"));
        CHECK((L.conv != nullptr) == (type == "Conv2d"));
        CHECK((L.other != nullptr) == (type != "Linear" && type != "Conv2d"));
      }
    }
  }
}
