// tests/test_xnor.cpp — TEST_SUITE("xnor"): XNOR-Net (Rastegari et al. 2016).
// Bit packing and the popcount GEMM (exact against the float arithmetic of the same signs, in
// every kernel variant), the BWN / XNOR autograd ops (gradients by central differences away
// from the kinks, and the straight-through estimator by name), the packed export and the
// simulation = deployment check. Book: book/23-xnor.md.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
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
    CHECK(bgemm_matches(&bgemm_avx2, 5, 9, 64 * 16 * 4 + 5, 11));  // > 16 slices: the byte counters are flushed
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

  TEST_CASE("im2col on bits equals the signs of im2col, padding counting as +1; beta map is A conv k") {
    for (int64_t C : {1, 3, 13}) {
      ConvGeom g{C, 7, 6, 3, 3, 2, 1, 1, 1};
      CAPTURE(C);
      Tensor x = random_tensor({C, 7, 6}, 40 + static_cast<uint64_t>(C));
      const int64_t K = C * 9, P = g.OH() * g.OW();
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
