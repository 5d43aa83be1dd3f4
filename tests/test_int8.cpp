// tests/test_int8.cpp — TEST_SUITE("int8"): 8-bit fixed-point inference (Vanhoucke et al. 2011).
// The u8 × s8 GEMM rungs exactly equal on ragged shapes and at the vpmaddubsw saturation edge,
// the quantise/dequantise round-trip bounds, the fixed-point requantisation against double
// precision, the LUT sigmoid's error bound, the quantised net (integer = fake-quant float on a
// small model, lazy = full on the wanted logits) and the .mgfq8 file: round trip, and
// malformed files refused with named errors. Book: book/21-int8.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
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

TEST_CASE("gemm_u8s8_rung: VNNI only when asked for and present; the default mode never asks") {
  // The dispatcher's choice on every (mode, CPU) pair, including CPUs this one is not.
  for (bool avx2 : {false, true})
    for (bool vnni : {false, true}) {
      CAPTURE(avx2);
      CAPTURE(vnni);
      CHECK(gemm_u8s8_rung(KernelMode::scalar, avx2, vnni) == U8S8Rung::scalar);
      CHECK(gemm_u8s8_rung(KernelMode::avx2, avx2, vnni) == (avx2 ? U8S8Rung::avx2 : U8S8Rung::scalar));
      CHECK(gemm_u8s8_rung(KernelMode::avx512, avx2, vnni) ==
            (vnni ? U8S8Rung::avx512vnni : avx2 ? U8S8Rung::avx2 : U8S8Rung::scalar));
    }
  // Without MGF_KERNELS=avx512 the mode in force is at most avx2 (cpu.h): no VNNI by default.
  if (const char* env = std::getenv("MGF_KERNELS"); !env || std::string(env) != "avx512")
    CHECK(std::string(gemm_u8s8_variant()) != "avx512vnni");
  CHECK(std::string(gemm_u8s8_rung_name(U8S8Rung::avx512vnni)) == "avx512vnni");
}

namespace {
bool pretend_zen3(const char* f) { return std::string(f).rfind("avx512", 0) != 0; }   // AVX2 + FMA only
bool pretend_no_vnni(const char* f) { return std::string(f) != "avx512vnni"; }        // AVX-512 without VNNI
}  // namespace

TEST_CASE("an explicit request for the VNNI rung on a CPU without it names what the CPU lacks") {
  CHECK(cpu_lacks(KernelMode::avx512, pretend_no_vnni) == "avx512vnni");
  CHECK(cpu_lacks(KernelMode::avx512, pretend_zen3) == "avx512f, avx512bw, avx512vl, avx512vpopcntdq, avx512vnni");
  CHECK(cpu_lacks(KernelMode::avx2, pretend_zen3).empty());
  CHECK(cpu_lacks(KernelMode::scalar, pretend_zen3).empty());
  CHECK(cpu_lacks(KernelMode::avx512).empty() == cpu_has_avx512());   // this CPU, asked for real
  if (!cpu_has_avx512()) {
    // set_kernel_mode (what --kernels avx512 and MGF_KERNELS call) refuses, naming the gap;
    // --kernels turns that into a flag error (exit 2, engine/cli.cpp).
    try {
      set_kernel_mode(KernelMode::avx512);
      FAIL("set_kernel_mode(avx512) accepted a CPU without AVX-512 VNNI");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("lacks") != std::string::npos);
      CHECK(std::string(e.what()).find(cpu_lacks(KernelMode::avx512)) != std::string::npos);
    }
  }
}

TEST_CASE("quantize_u7: the AVX2 body equals the spec on ragged lengths, ties and saturation edges") {
  Rng r(21);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float inv : {1.0f, 0.37f, 1.0f / 0.0157f})
    for (int64_t n : {0, 1, 7, 8, 31, 32, 33, 63, 95, 1027}) {
      CAPTURE(inv);
      CAPTURE(n);
      const float zh = 17.5f;
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        switch (i % 8) {
          case 0: x[i] = (r.uniform() * 200.0f - 40.0f) / inv; break;              // inside and past both ends
          case 1: x[i] = (std::floor(r.uniform() * 140.0f) - 17.0f) / inv; break;  // v on a whole number (a tie of ⌊·+½⌋)
          case 2: x[i] = (127.0f - zh) / inv; break;                                // v = 127 (or one ulp off)
          case 3: x[i] = -zh / inv; break;                                          // v = 0
          case 4: x[i] = i % 16 == 4 ? nan : -0.0f; break;
          case 5: x[i] = i % 16 == 5 ? inf : -inf; break;
          case 6: x[i] = i % 16 == 6 ? 3.0e38f : -3.0e38f; break;                  // saturation far outside
          default: x[i] = std::nextafter((126.5f - zh) / inv, 1e9f); break;
        }
      }
      std::vector<uint8_t> ref(static_cast<size_t>(n), 200), got(static_cast<size_t>(n), 201);
      quantize_u7_scalar(n, x.data(), inv, zh, ref.data());
      for (int64_t i = 0; i < n; ++i) REQUIRE(ref[i] <= 127);
      if (cpu_has_avx2()) {
        quantize_u7_avx2(n, x.data(), inv, zh, got.data());
        for (int64_t i = 0; i < n; ++i) {
          CAPTURE(i);
          CAPTURE(x[i]);
          REQUIRE(got[i] == ref[i]);
        }
      }
      quantize_u7(n, x.data(), inv, zh, got.data());
      CHECK(got == ref);
    }
  // The spec on its edges, through quantize_act (the same expression).
  ActQuant a;
  a.scale = 1.0f;
  a.zero_point = 10;
  CHECK(quantize_act(2.5f, a) == 13);   // ⌊12.5 + ½⌋ = 13: ties round up
  CHECK(quantize_act(-10.5f, a) == 0);
  CHECK(quantize_act(116.9f, a) == 127);
  CHECK(quantize_act(std::numeric_limits<float>::quiet_NaN(), a) == 0);
  CHECK(quantize_act(inf, a) == 127);
}

TEST_CASE("requantize_rows: the AVX2 body equals the spec, which equals exact rational rounding") {
  Rng r(23);
  for (int64_t n : {1, 7, 8, 9, 16, 17, 33, 100})
    for (int variant = 0; variant < 4; ++variant) {
      CAPTURE(n);
      CAPTURE(variant);
      std::vector<int32_t> bias(static_cast<size_t>(n));
      std::vector<Requant> rq(static_cast<size_t>(n));
      for (int64_t c = 0; c < n; ++c) {
        bias[c] = static_cast<int32_t>((r.uniform() - 0.5f) * 2.0e6f);
        double real = std::ldexp(0.5 + 0.5 * r.uniform(), -static_cast<int>(r.uniform() * 24.0f));
        if (variant == 1) real = 0.5;                                // acc·m/2^31 = acc/2: every odd value is a tie
        if (variant == 3 && c == n / 2) real = 3.0;                  // a factor above 1: the spec handles the layer
        rq[c] = make_requant(real);
      }
      const int32_t z = variant == 2 ? 127 : static_cast<int32_t>(r.uniform() * 128.0f) & 127;
      const bool relu = variant % 2 == 0;
      const RequantTable t = make_requant_table(bias, rq, z, relu);
      CHECK(t.vector_ok == (variant != 3));
      const int64_t M = 3, lda = n + 5, ldo = n + 3;
      std::vector<int32_t> acc(static_cast<size_t>(M * lda));
      for (size_t i = 0; i < acc.size(); ++i) {
        const float u = r.uniform();
        acc[i] = i % 5 == 0   ? (i % 2 ? (1 << 30) : -(1 << 30))     // saturation far above and below
                 : i % 5 == 1 ? static_cast<int32_t>((u - 0.5f) * 64.0f)   // near zero: ties and the ReLU edge
                              : static_cast<int32_t>((u - 0.5f) * 4.0e7f);
      }
      std::vector<uint8_t> ref(static_cast<size_t>(M * ldo), 250), got(static_cast<size_t>(M * ldo), 250);
      requantize_rows_scalar(M, acc.data(), lda, t, ref.data(), ldo);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t c = 0; c < n; ++c) {
          // round half up of (acc + bias)·m / 2^(31+shift), exactly, in long double (64-bit mantissa).
          const long double exact = static_cast<long double>(acc[m * lda + c] + bias[c]) * rq[c].multiplier /
                                    std::ldexp(1.0L, 31 + rq[c].shift);
          const long double v = std::floor(exact + 0.5L) + z;
          const int want = static_cast<int>(std::clamp<long double>(v, relu ? z : 0, 127));
          REQUIRE(ref[m * ldo + c] == want);
        }
      if (cpu_has_avx2()) {
        requantize_rows_avx2(M, acc.data(), lda, t, got.data(), ldo);
        for (size_t i = 0; i < got.size(); ++i) {
          CAPTURE(i);
          REQUIRE(got[i] == ref[i]);   // columns past n (the row padding) untouched by both
        }
      }
      std::vector<uint8_t> disp(static_cast<size_t>(M * ldo), 250);
      requantize_rows(M, acc.data(), lda, t, disp.data(), ldo);
      CHECK(disp == ref);
    }
}

TEST_CASE("round_half_up saturates at +-2^30 (fuzz_int8: a tiny output scale made v/scale 1.4e10)") {
  CHECK(round_half_up(2.5) == 3);
  CHECK(round_half_up(-2.5) == -2);
  CHECK(round_half_up(1.4e10) == (1 << 30));
  CHECK(round_half_up(-1.4e10) == -(1 << 30));
  CHECK(round_half_up(std::ldexp(1.0, 31)) == (1 << 30));   // one past int32: no out-of-range cast
  CHECK(round_half_up(std::numeric_limits<double>::quiet_NaN()) == -(1 << 30));
  CHECK(round_half_up(1073741823.0) == 1073741823);
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
  // A bias too large for the int32 accumulator (fuzz_int8 found 2^31 − 373): refused by name.
  // Layer 0 (conv, 4 outputs): op at 47, then out/in_c/in_h/in_w/k (20), relu, is_last (2),
  // out scale (4), out zero point (1), 4 weight scales (16): its biases start at byte 91.
  b = good;
  const uint32_t huge = 2147483648u - 373u;
  std::memcpy(&b[91], &huge, 4);
  fails_with(with_crc(b), "layer 0 biases");
  b = good;
  const int32_t fits = 1000;
  std::memcpy(&b[91], &fits, 4);
  CHECK_NOTHROW(parse_int8(with_crc(b), "fits"));
}

}  // TEST_SUITE
