// tests/test_vq.cpp — TEST_SUITE("vq"): Gong, Liu, Yang, Bourdev 2014, vector quantization of
// the dense layers. The quantizers on tiny cases with known answers, reconstruction error falling
// with k and with the residual stages t, the lookup-table kernels (scalar = AVX2 exactly; both =
// the decoded dense matrix, on ragged shapes), the .mgfvq file (round trip, every malformed file
// refused with a named error) and simulation = deployment for a small net run from its file.
// Book: book/22-vq.md.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "compression/quantization/vq.h"
#include "compression/quantization/vq_file.h"
#include "compression/quantization/vq_lut.h"
#include "engine/io/crc32.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/rng.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::expect_all_close;
using mgf::testing::kDecode;
using mgf::testing::kExact;

namespace {

std::vector<float> gaussian(int64_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.normal(0.0f, 0.1f);
  return v;
}

// y = Ŵ x by the dense decoded matrix, in double (the reference of the kernel tests).
std::vector<float> dense_reference(const VqMatrix& q, const float* x, const float* bias) {
  Tensor W = q.decode();
  std::vector<float> y(static_cast<size_t>(q.rows));
  for (int64_t o = 0; o < q.rows; ++o) {
    double s = bias ? bias[o] : 0.0;
    for (int64_t j = 0; j < q.cols; ++j) s += static_cast<double>(W[o * q.cols + j]) * x[j];
    y[o] = static_cast<float>(s);
  }
  return y;
}

std::vector<KernelMode> modes() {
  std::vector<KernelMode> m = {KernelMode::scalar};
  if (cpu_has_avx2()) m.push_back(KernelMode::avx2);
  return m;
}

}  // namespace

TEST_SUITE("vq") {

TEST_CASE("binarization is alpha*sign(W) with alpha = mean |W|") {
  const std::vector<float> W = {0.5f, -1.0f, 0.0f, 2.5f, -0.5f, 1.5f};   // mean |W| = 1
  VqMatrix q = vq_binarize(W.data(), 2, 3);
  CHECK(q.bits == 1);
  CHECK(q.shared);
  Tensor w = q.decode();
  const std::vector<float> want = {1, -1, 1, 1, -1, 1};   // sign(0) = +1
  expect_all_close(w.to_vector(), want, kExact, "alpha*sign(W)");
  // 6 codes of 1 bit = 1 byte, codebook 2 floats = 8 bytes
  CHECK(q.payload_bytes() == 1 + 8);
}

TEST_CASE("vector k-means finds well-separated clusters exactly") {
  // Three tight 2-D clusters, 4 points each; k = 3 must recover their means.
  std::vector<float> pts;
  const float centres[3][2] = {{0, 0}, {10, 0}, {0, 10}};
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 4; ++p) pts.insert(pts.end(), {centres[c][0] + (p % 2 ? 0.1f : -0.1f), centres[c][1] + (p < 2 ? 0.1f : -0.1f)});
  Rng rng(1);
  KmeansVectors km = kmeans_vectors(pts.data(), 12, 2, 2, 3, rng);
  CHECK(km.sse == doctest::Approx(12 * 0.02).epsilon(1e-4));
  for (int c = 0; c < 3; ++c)
    for (int p = 1; p < 4; ++p) CHECK(km.assignment[c * 4 + p] == km.assignment[c * 4]);
  CHECK(km.assignment[0] != km.assignment[4]);
  CHECK(km.assignment[4] != km.assignment[8]);
  // N <= k: every point its own centroid, zero error
  KmeansVectors all = kmeans_vectors(pts.data(), 3, 2, 2, 8, rng);
  CHECK(all.sse == 0.0);
}

TEST_CASE("product quantization with k >= m rows is lossless, and its storage is the paper's count") {
  // m = 4 rows, k = 4 centroids per segment: every sub-row is a centroid.
  const std::vector<float> W = gaussian(4 * 10, 2);
  Rng rng(3);
  VqMatrix q = vq_product(W.data(), 4, 10, 2, 3, rng);   // d = 3: segments of 3, 3, 3, 1 (ragged)
  CHECK(q.segments() == 4);
  CHECK(vq_sse(W.data(), q) == doctest::Approx(0.0).epsilon(1e-12));
  // codes 4 rows x 4 segments x 2 bits = 32 bits = 4 bytes; codebooks n·k = 40 floats
  CHECK(q.payload_bytes() == 4 + 160);
}

TEST_CASE("reconstruction error falls as k grows (scalar k-means and PQ) and as residual stages are added") {
  const int64_t m = 64, n = 48;
  const std::vector<float> W = gaussian(m * n, 5);
  double prev_scalar = 1e30, prev_pq = 1e30;
  for (int bits = 1; bits <= 5; ++bits) {
    Rng r1(7), r2(7);
    const double es = vq_sse(W.data(), vq_scalar(W.data(), m, n, bits, r1));
    const double ep = vq_sse(W.data(), vq_product(W.data(), m, n, bits, 4, r2));
    CHECK_MESSAGE(es < prev_scalar, "scalar k-means, bits " << bits << ": " << es << " after " << prev_scalar);
    CHECK_MESSAGE(ep < prev_pq, "PQ d = 4, bits " << bits << ": " << ep << " after " << prev_pq);
    prev_scalar = es, prev_pq = ep;
  }
  // Residual stages: each one clusters the residual, so it can only lower the error (a partition
  // into clusters with their means never has more squared error than the residual itself).
  double prev = 0;
  for (int64_t d : {int64_t{4}, n}) {
    prev = 1e30;
    for (int t = 1; t <= 4; ++t) {
      Rng r(11);
      const double e = vq_sse(W.data(), vq_residual(W.data(), m, n, 3, d, t, r));
      CHECK_MESSAGE(e < prev, "RQ d = " << d << ", t = " << t << ": " << e << " after " << prev);
      prev = e;
    }
  }
  // and binarization sits above 1-bit scalar k-means, which is free to place its two centroids
  Rng r(1);
  CHECK(vq_sse(W.data(), vq_binarize(W.data(), m, n)) >= vq_sse(W.data(), vq_scalar(W.data(), m, n, 1, r)) - 1e-9);
}

TEST_CASE("lookup-table kernel = decoded dense matrix, scalar = AVX2 exactly, on ragged shapes") {
  struct Case { int64_t m, n, d; int bits; int stages; bool scalar; };
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 1, false},  {7, 9, 2, 2, 1, false},  {8, 16, 4, 3, 1, false}, {9, 31, 4, 4, 1, false},
      {33, 50, 8, 4, 2, false}, {17, 20, 3, 5, 1, false}, {31, 33, 33, 6, 3, false}, {40, 27, 5, 8, 1, false},
      {13, 29, 1, 4, 1, true},  {65, 7, 1, 1, 1, true}};
  for (const Case& c : cases) {
    const std::vector<float> W = gaussian(c.m * c.n, 100 + c.m);
    Rng rng(9);
    VqMatrix q = c.scalar ? (c.bits == 1 ? vq_binarize(W.data(), c.m, c.n) : vq_scalar(W.data(), c.m, c.n, c.bits, rng))
                          : vq_residual(W.data(), c.m, c.n, c.bits, c.d, c.stages, rng);
    const std::vector<float> x = uniform_floats(c.n, 3), bias = uniform_floats(c.m, 4);
    const std::vector<float> ref = dense_reference(q, x.data(), bias.data());
    std::vector<std::vector<float>> outs;
    for (KernelMode mode : modes()) {
      KernelModeGuard g(mode);
      std::vector<float> T(static_cast<size_t>(vq_lut_scratch_floats(q))), y(static_cast<size_t>(c.m));
      vq_linear_forward(q, bias.data(), x.data(), 1, y.data(), T.data());
      const std::string what = std::string(kernel_mode_name(mode)) + " m " + std::to_string(c.m) + " n " + std::to_string(c.n) +
                               " d " + std::to_string(c.d) + " bits " + std::to_string(c.bits) + " t " + std::to_string(c.stages);
      expect_all_close(y, ref, kDecode, what + " vs decoded matrix");
      outs.push_back(y);
    }
    if (outs.size() == 2) expect_all_close(outs[1], outs[0], kExact, "AVX2 vs scalar, m " + std::to_string(c.m));
  }
}

TEST_CASE("the table and accumulate kernels agree exactly between scalar and AVX2 on their own") {
  if (!cpu_has_avx2()) return;
  for (int64_t k : {2, 4, 8, 16, 32, 256}) {
    const int64_t n = 37, d = 5, s = (n + d - 1) / d, m = 41;
    const std::vector<float> cb = uniform_floats(n * k, 20 + k), x = uniform_floats(n, 21);
    std::vector<float> t1(static_cast<size_t>(s * vq_table_stride(k))), t2(t1.size());
    vq_lut_table_scalar(cb.data(), k, x.data(), n, d, k, t1.data());
    vq_lut_table_avx2(cb.data(), k, x.data(), n, d, k, t2.data());
    expect_all_close(t2, t1, kExact, "table k " + std::to_string(k));
    std::vector<uint8_t> codes(static_cast<size_t>(s * m));
    Rng r(k);
    for (auto& c : codes) c = static_cast<uint8_t>(r.randint(k));
    std::vector<float> y1 = uniform_floats(m, 22), y2 = y1;
    vq_lut_accumulate_scalar(t1.data(), s, k, codes.data(), m, m, y1.data());
    vq_lut_accumulate_avx2(t1.data(), s, k, codes.data(), m, m, y2.data());
    expect_all_close(y2, y1, kExact, "accumulate k " + std::to_string(k));
  }
}

TEST_CASE("batch forward of VqLinear = row by row") {
  const std::vector<float> W = gaussian(30 * 20, 8);
  Rng rng(2);
  VqLinear layer(vq_product(W.data(), 30, 20, 4, 4, rng), uniform_floats(30, 1));
  Tensor X({5, 20}, uniform_floats(100, 6));
  Tensor Y = layer.forward(Var(X)).value();
  for (int64_t b = 0; b < 5; ++b) {
    const std::vector<float> ref = dense_reference(layer.matrix(), X.data() + b * 20, uniform_floats(30, 1).data());
    expect_all_close(Y.data() + b * 30, ref.data(), 30, kDecode, "sample " + std::to_string(b));
  }
  CHECK_THROWS_WITH_AS(layer.forward(Var(Tensor({2, 21}))), doctest::Contains("expected x [N, 20]"), std::invalid_argument);
}

namespace {
std::shared_ptr<Sequential> tiny_net() {
  auto s = std::make_shared<Sequential>();
  s->add("fc1", std::make_shared<Linear>(23, 17));
  s->add("relu", std::make_shared<ReLU>());
  s->add("fc2", std::make_shared<Linear>(17, 5));
  return s;
}
VqModel tiny_model(std::shared_ptr<Sequential> net, VqMethod method) {
  Linear& fc1 = dynamic_cast<Linear&>(*net->children()[0].second);
  const float* w = fc1.weight.var.value().data();
  Rng rng(4);
  VqMatrix q = method == VqMethod::binary   ? vq_binarize(w, 17, 23)
               : method == VqMethod::scalar ? vq_scalar(w, 17, 23, 3, rng)
               : method == VqMethod::product ? vq_product(w, 17, 23, 3, 4, rng)
                                              : vq_residual(w, 17, 23, 2, 5, 2, rng);
  return make_vq_model(*net, {{"fc1.weight", q}}, "tiny");
}
}  // namespace

TEST_CASE("file round trip: every method, bytes identical, codes and codebooks equal") {
  for (VqMethod method : {VqMethod::binary, VqMethod::scalar, VqMethod::product, VqMethod::residual}) {
    manual_seed(3);
    VqModel vm = tiny_model(tiny_net(), method);
    VqFileLayout layout;
    const std::string bytes = serialize_vq(vm, &layout);
    CHECK(layout.file_bytes == static_cast<int64_t>(bytes.size()));
    VqFileLayout back_layout;
    VqModel back = parse_vq(bytes, "tiny.mgfvq", &back_layout);
    REQUIRE(back.tensors.size() == vm.tensors.size());
    const VqTensor* a = vm.find("fc1.weight");
    const VqTensor* b = back.find("fc1.weight");
    REQUIRE(b);
    CHECK(b->quantized);
    CHECK(b->q.method == method);
    CHECK(b->q.stages.size() == a->q.stages.size());
    for (size_t t = 0; t < a->q.stages.size(); ++t) {
      CHECK(b->q.stages[t].codes == a->q.stages[t].codes);
      CHECK(b->q.stages[t].codebook == a->q.stages[t].codebook);
    }
    // the file's bytes for the layer = the paper's count + its record header
    int64_t fc1_bytes = 0;
    for (auto& t : back_layout.tensors)
      if (t.name == "fc1.weight") fc1_bytes = t.codebook_bytes + t.code_bytes;
    CHECK(fc1_bytes == a->q.payload_bytes());
    CHECK(serialize_vq(back) == bytes);
  }
}

TEST_CASE("simulation = deployment: the net run from its file equals the net with decoded weights") {
  for (KernelMode mode : modes()) {
    KernelModeGuard g(mode);
    manual_seed(5);
    auto net = tiny_net();
    VqModel vm = tiny_model(net, VqMethod::product);
    VqRunner runner(parse_vq(serialize_vq(vm), "tiny.mgfvq"), tiny_net());
    CHECK(runner.vq_layers() == 1);
    // the simulation: fc1's weight replaced by Ŵ
    Linear& fc1 = dynamic_cast<Linear&>(*net->children()[0].second);
    Tensor w = vm.find("fc1.weight")->decode();
    std::copy(w.data(), w.data() + w.numel(), fc1.weight.var.value().data());
    Tensor X({9, 23}, uniform_floats(9 * 23, 7));
    NoGradGuard ng;
    Tensor ys = net->forward(Var(X)).value(), yd = runner.forward(Var(X)).value();
    expect_all_close(yd, ys, kDecode, std::string("deployed vs simulated, ") + kernel_mode_name(mode));
  }
}

TEST_CASE("malformed files are refused with named errors") {
  manual_seed(6);
  const std::string good = serialize_vq(tiny_model(tiny_net(), VqMethod::residual));
  auto refused = [](std::string b, const char* needle) {
    CHECK_THROWS_WITH_AS(parse_vq(b, "bad.mgfvq", nullptr), doctest::Contains(needle), std::runtime_error);
  };
  // Rewrites the header's length and checksum so the reader gets past them to the field.
  auto fix = [](std::string b) {
    const uint64_t len = b.size() - 24;
    for (int i = 0; i < 8; ++i) b[12 + i] = static_cast<char>(len >> (8 * i));
    const uint32_t c = crc32(b.data() + 24, b.size() - 24);
    for (int i = 0; i < 4; ++i) b[20 + i] = static_cast<char>(c >> (8 * i));
    return b;
  };
  refused("", "field 'magic'");
  refused("MGFDC\r\n\x1a" + good.substr(8), "a vector-quantized model");
  { std::string b = good; b[8] = 2; refused(b, "field 'version'"); }
  refused(good.substr(0, good.size() - 3), "(truncated)");
  refused(good + "x", "(trailing bytes)");
  { std::string b = good; b[good.size() - 1] ^= 0x40; refused(b, "the file is corrupt"); }
  // Field offsets of fc1.weight (the first tensor): header 24, arch "tiny" 5, count 4 → 33;
  // name "fc1.weight" 11 → 44, ndim 45, dims 8 → 53, kind 53, method 54, bits 55, shared 56,
  // d 57..60, stages 61, codebook from 62.
  REQUIRE(good.substr(34, 10) == "fc1.weight");
  { std::string b = good; b[53] = 7; refused(fix(b), "field 'tensor 'fc1.weight' kind'"); }
  { std::string b = good; b[54] = 9; refused(fix(b), "'tensor 'fc1.weight' method'"); }
  { std::string b = good; b[55] = 0; refused(fix(b), "'tensor 'fc1.weight' bits'"); }
  { std::string b = good; b[56] = 1; refused(fix(b), "'tensor 'fc1.weight' segment width'"); }   // shared needs d = 1
  { std::string b = good; b[57] = 99; refused(fix(b), "expected 1..23, found 99"); }
  { std::string b = good; b[61] = 0; refused(fix(b), "'tensor 'fc1.weight' stages'"); }
  { std::string b = good; b[61] = 1; refused(fix(b), "bad.mgfvq: field"); }   // stage 2's bytes then read as the next tensor
  { std::string b = good; b[54] = 2; refused(fix(b), "method pq does not fit"); }   // pq with 2 stages
  { std::string b = good; b[62] = b[63] = 0; b[64] = static_cast<char>(0x80); b[65] = 0x7f; refused(fix(b), "expected finite floats"); }
  // ndim 3 with kind 1
  { std::string b = good; b[45] = 3; refused(fix(b), "expected"); }
  // cut inside the codes, with a consistent header
  refused(fix(good.substr(0, 100)), "(truncated or corrupt)");
  // VqRunner refuses a file that does not fit the skeleton
  auto other = std::make_shared<Sequential>();
  other->add("fc1", std::make_shared<Linear>(23, 16));
  CHECK_THROWS_WITH_AS(VqRunner(parse_vq(good, "good.mgfvq"), other), doctest::Contains("'fc1.weight': expected"), std::invalid_argument);
}

}  // TEST_SUITE
