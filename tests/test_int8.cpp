// tests/test_int8.cpp — TEST_SUITE("int8"): 8-bit fixed-point inference (Vanhoucke et al. 2011).
// The u8 × s8 GEMM rungs exactly equal on ragged shapes and at the vpmaddubsw saturation edge,
// the quantise/dequantise round-trip bounds, the fixed-point requantisation against double
// precision, the LUT sigmoid's error bound, the quantised net (integer = fake-quant float on a
// small model, lazy = full on the wanted logits) and the .mgfq8 file: round trip, and
// malformed files refused with named errors. Book: book/21-int8.md.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "compression/quantization/gemm_int8.h"
#include "compression/quantization/int8.h"
#include "engine/io/crc32.h"
#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/models/lenet.h"
#include "layers/pool.h"
#include "layers/shape.h"

using namespace mgf;

namespace {

std::vector<uint8_t> random_u7(int64_t n, Rng& r) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<uint8_t>(r.uniform() * 128.0f) & 127;
  return v;
}
std::vector<int8_t> random_s8(int64_t n, Rng& r) {
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int8_t>(static_cast<int>(r.uniform() * 256.0f) - 128);
  return v;
}

// Every rung the build and CPU have, on the same operands; all must equal the spec.
void check_rungs(int64_t M, int64_t N, int64_t K, const std::vector<uint8_t>& A, const std::vector<int8_t>& W) {
  const PackedS8 p = pack_s8(W.data(), N, K);
  std::vector<int32_t> ref(static_cast<size_t>(M * N), -1);
  gemm_u8s8_scalar(M, A.data(), K, p, ref.data(), N);
  // The spec itself against the plain triple loop.
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int64_t s = 0;
      for (int64_t k = 0; k < K; ++k) s += int64_t{A[m * K + k]} * W[n * K + k];
      REQUIRE(ref[m * N + n] == s);
    }
  if (cpu_has_avx2()) {
    std::vector<int32_t> c(static_cast<size_t>(M * N), -7);
    gemm_u8s8_avx2(M, A.data(), K, p, c.data(), N);
    CHECK(c == ref);
  }
  if (cpu_has_avx512()) {
    std::vector<int32_t> c(static_cast<size_t>(M * N), -7);
    gemm_u8s8_avx512vnni(M, A.data(), K, p, c.data(), N);
    CHECK(c == ref);
  }
  std::vector<int32_t> c(static_cast<size_t>(M * N), -7);
  gemm_u8s8(M, A.data(), K, p, c.data(), N);   // whichever rung the mode picks
  CHECK(c == ref);
}

}  // namespace

TEST_SUITE("int8") {

TEST_CASE("gemm_u8s8: every rung equals the spec on ragged shapes") {
  Rng r(11);
  for (int64_t M : {1, 2, 3, 4, 5, 8, 9})
    for (int64_t N : {1, 7, 15, 16, 17, 33, 48})
      for (int64_t K : {1, 3, 4, 5, 31, 64, 67}) {
        CAPTURE(M);
        CAPTURE(N);
        CAPTURE(K);
        check_rungs(M, N, K, random_u7(M * K, r), random_s8(N * K, r));
      }
}

TEST_CASE("gemm_u8s8: the vpmaddubsw saturation edge (7-bit activations) is exact") {
  // 127·127 + 127·127 = 32 258 and 127·(−128)·2 = −32 512: the largest pair sums the 7-bit
  // contract allows, both inside int16. K = 1000 makes the int32 sums large too.
  const int64_t M = 3, N = 20, K = 1000;
  std::vector<uint8_t> A(M * K, 127);
  std::vector<int8_t> W(N * K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) W[n * K + k] = n % 2 ? int8_t{127} : int8_t{-128};
  check_rungs(M, N, K, A, W);
  const PackedS8 p = pack_s8(W.data(), N, K);
  std::vector<int32_t> c(M * N);
  gemm_u8s8(M, A.data(), K, p, c.data(), N);
  CHECK(c[0] == -128 * 127 * K);
  CHECK(c[1] == 127 * 127 * K);
}

TEST_CASE("gemm_u8s8: why 7 bits — a full-range byte would saturate vpmaddubsw's int16") {
  // The arithmetic the design avoids: 255·127·2 = 64 770 > 32 767.
  CHECK(255 * 127 * 2 > 32767);
  CHECK(127 * 127 * 2 <= 32767);
  CHECK(127 * -128 * 2 >= -32768);
}

TEST_CASE("pack_s8: padding is zero and row sums are exact; bad shapes refused") {
  const std::vector<int8_t> W = {1, -2, 3, 4, 5, -6, 7, 8, 9, 10};   // N = 2, K = 5
  const PackedS8 p = pack_s8(W.data(), 2, 5);
  CHECK(p.Kp == 8);
  CHECK(p.panels == 1);
  CHECK(p.row_sums[0] == 11);
  CHECK(p.row_sums[1] == 28);
  int nonzero = 0;
  for (int8_t v : p.packed) nonzero += v != 0;
  CHECK(nonzero == 10);
  CHECK_THROWS_AS(pack_s8(W.data(), 0, 5), std::invalid_argument);
}

TEST_CASE("gemm_u8s8_avx512vnni refuses a CPU without VNNI instead of falling back") {
  if (cpu_has_avx512()) return;
  const std::vector<int8_t> W = {1};
  const std::vector<uint8_t> A = {1};
  int32_t c = 0;
  CHECK_THROWS_AS(gemm_u8s8_avx512vnni(1, A.data(), 1, pack_s8(W.data(), 1, 1), &c, 1), std::runtime_error);
}

TEST_CASE("quantise / dequantise: round trip within half a step, zero exact, clamped outside the range") {
  const ActQuant a = act_quant_from_range(-0.42f, 2.82f);
  CHECK(a.scale == doctest::Approx((2.82f + 0.42f) / 127.0f));
  CHECK(dequantize_act(quantize_act(0.0f, a), a) == 0.0f);   // zero is a code
  for (float x = -0.42f; x <= 2.82f; x += 0.001f) {
    const float e = std::fabs(dequantize_act(quantize_act(x, a), a) - x);
    REQUIRE(e <= 0.5f * a.scale + 1e-6f);
  }
  CHECK(quantize_act(100.0f, a) == 127);
  CHECK(quantize_act(-100.0f, a) == 0);
  const ActQuant relu = act_quant_from_range(0.0f, 6.0f);
  CHECK(relu.zero_point == 0);
  CHECK_THROWS_AS(act_quant_from_range(1.0f, 0.0f), std::invalid_argument);

  Rng r(3);
  std::vector<float> W(7 * 13);
  for (auto& w : W) w = r.normal() * 0.1f;
  W[5] = 0.9f;   // one large weight in row 0
  for (bool per_row : {true, false}) {
    const QuantWeights q = quantize_weights(W.data(), 7, 13, per_row);
    for (int64_t n = 0; n < 7; ++n)
      for (int64_t k = 0; k < 13; ++k) {
        REQUIRE(std::fabs(q.scale[n] * q.q[n * 13 + k] - W[n * 13 + k]) <= 0.5f * q.scale[n] + 1e-7f);
        REQUIRE(q.q[n * 13 + k] >= -127);
      }
    if (!per_row) CHECK(q.scale[3] == q.scale[0]);
    else CHECK(q.scale[3] < q.scale[0]);   // per-row: the other rows keep a finer grid
  }
}

TEST_CASE("requantisation: fixed-point multiplier + shift against double precision") {
  Rng r(5);
  for (int t = 0; t < 2000; ++t) {
    const double real = std::ldexp(0.5 + 0.5 * r.uniform(), -static_cast<int>(r.uniform() * 20.0f));
    const Requant q = make_requant(real);
    REQUIRE(q.multiplier >= (1 << 30));
    REQUIRE(std::fabs(q.real() - real) <= real * std::ldexp(1.0, -31));   // the multiplier's own error
    for (int s = 0; s < 20; ++s) {
      const int32_t acc = static_cast<int32_t>((r.uniform() - 0.5f) * 4.0e6f);
      // Exact: round half up of acc·m/2^(31+shift), in long double (64-bit mantissa holds it).
      const long double exact = static_cast<long double>(acc) * q.multiplier / std::ldexp(1.0L, 31 + q.shift);
      REQUIRE(requantize(acc, q) == static_cast<int32_t>(std::floor(exact + 0.5L)));
      // Against the real (double) multiplier the result is off by at most 1, only near a tie.
      const double want = std::floor(acc * real + 0.5);
      REQUIRE(std::fabs(requantize(acc, q) - want) <= 1.0);
    }
  }
  // Ties round up (toward +inf), also for negative values.
  const Requant half = make_requant(0.5);
  CHECK(requantize(3, half) == 2);
  CHECK(requantize(-3, half) == -1);
  CHECK(requantize(-4, half) == -2);
  CHECK_THROWS_AS(make_requant(0.0), std::invalid_argument);
  CHECK_THROWS_AS(make_requant(std::ldexp(1.0, 31)), std::invalid_argument);
}

TEST_CASE("SigmoidLut: within its stated error bound of the exact sigmoid, everywhere") {
  const float s = 0.003f;   // the pre-activation scale
  const SigmoidLut lut(s);
  const double bound = 1.0 / 254.0 + 1.0 / 512.0;
  double worst = 0.0;
  for (int32_t acc = -4000; acc <= 4000; ++acc) {
    const double x = acc * static_cast<double>(s);
    const double e = std::fabs(lut(acc) / 127.0 - 1.0 / (1.0 + std::exp(-x)));
    worst = std::max(worst, e);
  }
  CHECK(worst <= bound);
  CHECK(worst > 1.0 / 254.0 - 1e-3);   // the bound is not vacuous: rounding alone nearly reaches it
  CHECK(lut(1 << 30) == 127);
  CHECK(lut(-(1 << 30)) == 0);
}

namespace {

std::shared_ptr<Sequential> tiny_lenet5() {
  auto m = std::make_shared<Sequential>();
  m->add("conv1", std::make_shared<Conv2d>(1, 4, 3));
  m->add("pool1", std::make_shared<MaxPool2d>(2, 2));
  m->add("flatten", std::make_shared<Flatten>());
  m->add("fc1", std::make_shared<Linear>(4 * 4 * 4, 9));
  m->add("relu", std::make_shared<ReLU>());
  m->add("fc2", std::make_shared<Linear>(9, 3));
  return m;
}

Tensor random_images(int64_t n, int64_t h, uint64_t seed) {
  Rng r(seed);
  Tensor t(Shape{n, 1, h, h});
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = r.uniform(-0.5f, 2.5f);
  return t;
}

}  // namespace

TEST_CASE("Int8Net: integer path = fake-quant float path; close to the float model; lazy = full") {
  for (int variant = 0; variant < 2; ++variant) {
    std::shared_ptr<Sequential> model;
    Tensor calib, x;
    if (variant == 0) {
      model = make_lenet_300_100();
      calib = random_images(64, 28, 1);
      x = random_images(20, 28, 2);
    } else {
      model = tiny_lenet5();
      calib = random_images(64, 10, 1);
      x = random_images(20, 10, 2);
    }
    const Int8Net net = quantize_model(*model, "t", calib, variant == 0);
    std::vector<std::vector<uint8_t>> ci, cf;
    const Tensor li = net.forward(x, Int8Path::integer, &ci);
    const Tensor lf = net.forward(x, Int8Path::fake_quant, &cf);
    int64_t code_diff = 0, n_codes = 0;
    for (size_t l = 0; l < ci.size(); ++l)
      for (size_t i = 0; i < ci[l].size(); ++i) {
        code_diff += std::abs(int(ci[l][i]) - int(cf[l][i])) > 0;
        REQUIRE(std::abs(int(ci[l][i]) - int(cf[l][i])) <= 1);   // only float-vs-fixed rounding at ties
        ++n_codes;
      }
    CHECK(code_diff * 1000 <= n_codes);
    for (int64_t i = 0; i < li.numel(); ++i) CHECK(li.data()[i] == doctest::Approx(lf.data()[i]).epsilon(0.02));
    // Against the float model: the logits agree to a few quantisation steps.
    Var y = model->forward(Var(x));
    float max_logit = 0.0f, max_err = 0.0f;
    for (int64_t i = 0; i < li.numel(); ++i) {
      max_logit = std::max(max_logit, std::fabs(y.value().data()[i]));
      max_err = std::max(max_err, std::fabs(y.value().data()[i] - li.data()[i]));
    }
    CHECK(max_err <= 0.1f * max_logit + 0.05f);
    const Tensor lz = net.forward_lazy(x, {0, 2});
    for (int64_t n = 0; n < x.shape()[0]; ++n) {
      CHECK(lz.data()[n * net.num_classes() + 0] == li.data()[n * net.num_classes() + 0]);
      CHECK(lz.data()[n * net.num_classes() + 2] == li.data()[n * net.num_classes() + 2]);
    }
    // The file: the round trip is bit-exact on the logits.
    const std::string bytes = serialize_int8(net);
    const Int8Net back = parse_int8(bytes, "mem");
    const Tensor lb = back.forward(x);
    for (int64_t i = 0; i < li.numel(); ++i) REQUIRE(lb.data()[i] == li.data()[i]);
    CHECK(static_cast<int64_t>(bytes.size()) < net.weight_bytes() + 200);
  }
}

TEST_CASE("Int8Net: every kernel mode gives identical logits") {
  auto model = tiny_lenet5();
  const Int8Net net = quantize_model(*model, "t", random_images(32, 10, 4));
  const Tensor x = random_images(7, 10, 5);
  Tensor ref;
  {
    KernelModeGuard g(KernelMode::scalar);
    ref = net.forward(x);
  }
  std::vector<KernelMode> modes;
  if (cpu_has_avx2()) modes.push_back(KernelMode::avx2);
  if (cpu_has_avx512()) modes.push_back(KernelMode::avx512);
  for (KernelMode m : modes) {
    KernelModeGuard g(m);
    const Tensor l = net.forward(x);
    for (int64_t i = 0; i < l.numel(); ++i) REQUIRE(l.data()[i] == ref.data()[i]);
  }
}

TEST_CASE("parse_int8: malformed files refused with named errors") {
  auto model = tiny_lenet5();
  const std::string good = serialize_int8(quantize_model(*model, "t", random_images(16, 10, 6)));
  auto fails_with = [&](std::string b, const std::string& needle) {
    try {
      parse_int8(b, "bad.mgfq8");
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      CAPTURE(msg);
      CHECK(msg.find(needle) != std::string::npos);
      CHECK(msg.find("bad.mgfq8") != std::string::npos);
      return;
    }
    FAIL("accepted a malformed file, expected an error naming " << needle);
  };
  fails_with("", "magic");
  std::string b = good;
  b[0] = 'X';
  fails_with(b, "magic");
  b = good;
  b[8] = 9;
  fails_with(b, "version");
  fails_with(good.substr(0, good.size() - 3), "truncated");
  fails_with(good + "x", "trailing");
  b = good;
  b[good.size() - 1] ^= 1;
  fails_with(b, "checksum");
  // A field the CRC cannot protect (the CRC is recomputed): a zero-point above 127.
  auto with_crc = [](std::string s) {
    const uint32_t c = crc32(s.data() + 24, s.size() - 24);
    std::memcpy(&s[20], &c, 4);   // little-endian host (x86, Arm)
    return s;
  };
  // payload: str_u8 "t" (2 bytes), in_c/in_h/in_w (12), input scale (4), input zero point (1)
  b = good;
  b[24 + 2 + 12 + 4] = static_cast<char>(200);
  fails_with(with_crc(b), "input zero point");
  b = good;
  std::memset(&b[24 + 2], 0, 4);   // in_c = 0
  fails_with(with_crc(b), "input channels");
  b = good;
  b[24 + 2 + 12 + 4 + 1 + 4] = 7;   // layer 0's op
  fails_with(with_crc(b), "layer 0 op");
  CHECK_NOTHROW(parse_int8(good, "good"));
}

}  // TEST_SUITE
