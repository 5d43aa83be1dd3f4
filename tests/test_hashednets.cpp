// tests/test_hashednets.cpp — TEST_SUITE("hashednets"): HashedNets (Chen et al. 2015), the hash
// and the hashed layer of compression/hashing/hashed_linear.h. The hash: determinism, bucket
// balance (chi-square within its own spread, from both sides), sign balance and independence;
// the kernels: scalar = AVX2 on ragged shapes, on the fly = the materialised matrix; the
// gradients by central differences; bad shapes refused with named errors.
// Book: book/16-hashednets.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "compression/hashing/hashed_linear.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/ops.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::expect_all_close;
using mgf::testing::kAccumulate;
using mgf::testing::kExact;
using mgf::testing::kKernelParity;
using mgf::testing::random_tensor;

namespace {

std::vector<KernelMode> modes() {
  std::vector<KernelMode> m{KernelMode::scalar};
  if (cpu_has_avx2()) m.push_back(KernelMode::avx2);
  return m;
}

// Pearson's statistic of bucket counts against the uniform expectation. For a random hash it is
// about chi-square with K−1 degrees of freedom: mean K−1, standard deviation √(2(K−1)).
double chi_square(const std::vector<int64_t>& counts, double expected) {
  double s = 0;
  for (int64_t c : counts) s += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  return s;
}

struct Shape2 {
  int64_t n_in, n_out, K;
};
// Widths that hit the 8-lane body, its tail, and no body at all (n_in < 8).
const Shape2 kRagged[] = {{1, 3, 2}, {7, 5, 4}, {8, 8, 8}, {9, 4, 5}, {31, 6, 11}, {33, 9, 40}, {100, 13, 97}, {784, 3, 50}};

}  // namespace

TEST_SUITE("hashednets") {

TEST_CASE("fmix32 is MurmurHash3's finaliser (known values) and a bijection on a sample") {
  CHECK(hash_fmix32(0u) == 0u);
  CHECK(hash_fmix32(1u) == 0x514E28B7u);
  // No two of 2^16 consecutive keys collide (it is a bijection of uint32).
  std::vector<uint32_t> out;
  for (uint32_t k = 0; k < 65536; ++k) out.push_back(hash_fmix32(k * 0x9E3779B1u + 12345u));
  std::sort(out.begin(), out.end());
  CHECK(std::adjacent_find(out.begin(), out.end()) == out.end());
}

TEST_CASE("the hash is deterministic per layer seed and differs between layer seeds") {
  const HashedGeom a = hashed_geom(50, 40, 97, 7), b = hashed_geom(50, 40, 97, 7), c = hashed_geom(50, 40, 97, 8);
  CHECK(a.seed_h == b.seed_h);
  CHECK(a.seed_xi == b.seed_xi);
  CHECK(a.seed_h != a.seed_xi);
  int64_t same_bucket = 0;
  for (int64_t i = 0; i < 40; ++i)
    for (int64_t j = 0; j < 50; ++j) {
      REQUIRE(hashed_bucket(a, i, j) == hashed_bucket(b, i, j));
      REQUIRE(hashed_sign(a, i, j) == hashed_sign(b, i, j));
      REQUIRE(hashed_bucket(a, i, j) < 97u);
      same_bucket += hashed_bucket(a, i, j) == hashed_bucket(c, i, j);
    }
  // Another layer seed is another hash: agreement about 1/K of the time (2000/97 ≈ 21), far from all.
  CHECK(same_bucket < 80);
}

TEST_CASE("buckets are balanced: chi-square within 5 standard deviations of K-1, from both sides") {
  for (Shape2 s : {Shape2{784, 1000, 12250}, Shape2{784, 1000, 98000}, Shape2{1000, 10, 156}, Shape2{300, 100, 1000}}) {
    CAPTURE(s.K);
    const HashedGeom g = hashed_geom(s.n_in, s.n_out, s.K, 3);
    std::vector<int64_t> counts(static_cast<size_t>(s.K), 0);
    for (int64_t i = 0; i < s.n_out; ++i)
      for (int64_t j = 0; j < s.n_in; ++j) ++counts[hashed_bucket(g, i, j)];
    const double df = static_cast<double>(s.K - 1), spread = 5.0 * std::sqrt(2.0 * df);
    const double x2 = chi_square(counts, static_cast<double>(s.n_in * s.n_out) / static_cast<double>(s.K));
    CHECK(x2 < df + spread);   // not lumpy
    CHECK(x2 > df - spread);   // not suspiciously regular either (see the next case)
  }
}

TEST_CASE("the chi-square bound catches a non-hash: position mod K is too regular") {
  // key mod K fills every bucket evenly, which a random hash almost never does: x2 = 0 fails the
  // lower bound the previous case asserts for ours.
  const int64_t n_in = 784, n_out = 1000, K = 12250;
  std::vector<int64_t> counts(static_cast<size_t>(K), 0);
  for (int64_t key = 0; key < n_in * n_out; ++key) ++counts[static_cast<size_t>(key % K)];
  const double df = static_cast<double>(K - 1);
  CHECK(chi_square(counts, static_cast<double>(n_in * n_out) / K) < df - 5.0 * std::sqrt(2.0 * df));
}

TEST_CASE("signs are balanced and independent of the bucket") {
  const HashedGeom g = hashed_geom(784, 1000, 156, 5);
  const int64_t M = 784 * 1000;
  int64_t plus = 0;
  std::vector<int64_t> cell(2 * 156, 0);  // bucket × sign
  for (int64_t i = 0; i < 1000; ++i)
    for (int64_t j = 0; j < 784; ++j) {
      const bool p = hashed_sign(g, i, j) > 0;
      plus += p;
      ++cell[hashed_bucket(g, i, j) * 2 + (p ? 1 : 0)];
    }
  // Binomial(M, 1/2): sd = √M / 2 ≈ 443; allow 5 sd.
  CHECK(std::fabs(static_cast<double>(plus) - M / 2.0) < 5.0 * std::sqrt(static_cast<double>(M)) / 2.0);
  // Independence: within each bucket the signs split evenly; chi-square over the 2K cells with
  // each bucket's own half as expectation has about K degrees of freedom.
  std::vector<int64_t> counts(156, 0);
  for (int64_t k = 0; k < 156; ++k) counts[static_cast<size_t>(k)] = cell[k * 2] + cell[k * 2 + 1];
  double x2 = 0;
  for (int64_t k = 0; k < 156; ++k) {
    const double e = counts[static_cast<size_t>(k)] / 2.0;
    for (int s = 0; s < 2; ++s) x2 += (cell[k * 2 + s] - e) * (cell[k * 2 + s] - e) / e;
  }
  CHECK(x2 < 156 + 5.0 * std::sqrt(2.0 * 156));
}

TEST_CASE("hashed_buckets_for rounds c * n_in * n_out, at least 1, and refuses c outside (0, 1]") {
  CHECK(hashed_buckets_for(784, 1000, 1.0 / 64) == 12250);
  CHECK(hashed_buckets_for(1000, 10, 1.0 / 64) == 156);
  CHECK(hashed_buckets_for(3, 3, 1e-6) == 1);
  CHECK_THROWS_WITH_AS(hashed_buckets_for(3, 3, 0.0), doctest::Contains("compression factor in (0, 1]"),
                       std::invalid_argument);
}

TEST_CASE("hashed_rows = xi(i,j) * w[h(i,j)], scalar and AVX2 bit for bit, ragged widths") {
  for (Shape2 s : kRagged) {
    CAPTURE(s.n_in);
    const HashedGeom g = hashed_geom(s.n_in, s.n_out, s.K, 21);
    const Tensor w = random_tensor({s.K}, 4);
    Tensor spec({s.n_out, s.n_in});
    for (int64_t i = 0; i < s.n_out; ++i)
      for (int64_t j = 0; j < s.n_in; ++j) spec[i * s.n_in + j] = hashed_sign(g, i, j) * w[hashed_bucket(g, i, j)];
    for (KernelMode m : modes()) {
      KernelModeGuard guard(m);
      Tensor V({s.n_out, s.n_in});
      hashed_rows(g, w.data(), 0, s.n_out, V.data());
      expect_all_close(V, spec, kExact, std::string("hashed_rows ") + kernel_mode_name(m));
      // A tile that starts mid-matrix: rows 1 .. n_out−1.
      if (s.n_out > 1) {
        std::vector<float> tile(static_cast<size_t>((s.n_out - 1) * s.n_in));
        hashed_rows(g, w.data(), 1, s.n_out - 1, tile.data());
        expect_all_close(tile.data(), spec.data() + s.n_in, (s.n_out - 1) * s.n_in, kExact, "hashed_rows from row 1");
      }
    }
  }
}

TEST_CASE("hashed_scatter sums a gradient tile into its buckets, scalar and AVX2 bit for bit") {
  for (Shape2 s : kRagged) {
    CAPTURE(s.n_in);
    const HashedGeom g = hashed_geom(s.n_in, s.n_out, s.K, 22);
    const Tensor G = random_tensor({s.n_out, s.n_in}, 6);
    // Reference in double, by the definition dw_k = Σ_{h(i,j)=k} ξ(i,j) G_ij.
    std::vector<double> ref(static_cast<size_t>(s.K), 0.0);
    for (int64_t i = 0; i < s.n_out; ++i)
      for (int64_t j = 0; j < s.n_in; ++j) ref[hashed_bucket(g, i, j)] += hashed_sign(g, i, j) * G[i * s.n_in + j];
    std::vector<float> reff(ref.begin(), ref.end()), scalar_out;
    for (KernelMode m : modes()) {
      KernelModeGuard guard(m);
      std::vector<float> dw(static_cast<size_t>(s.K), 0.5f);  // += into what is there
      hashed_scatter(g, G.data(), 0, s.n_out, dw.data());
      for (auto& v : dw) v -= 0.5f;
      expect_all_close(dw, reff, kAccumulate, std::string("hashed_scatter vs double ") + kernel_mode_name(m));
      if (scalar_out.empty()) scalar_out = dw;
      else expect_all_close(dw, scalar_out, kExact, "hashed_scatter AVX2 vs scalar");
    }
  }
}

TEST_CASE("on the fly = materialised matrix: hashed_forward at batch 1, 3 and 70, both kernel modes") {
  for (Shape2 s : kRagged) {
    for (int64_t n_out : {s.n_out, int64_t{67}, int64_t{130}}) {  // 67, 130: a ragged last tile of rows
      CAPTURE(s.n_in);
      CAPTURE(n_out);
      const HashedGeom g = hashed_geom(s.n_in, n_out, std::min(s.K, s.n_in * n_out), 23);
      const Tensor w = random_tensor({g.K}, 8);
      Tensor V({n_out, s.n_in});
      hashed_materialize(g, w.data(), V.data());
      for (int64_t N : {int64_t{1}, int64_t{3}, int64_t{70}}) {
        const Tensor A = random_tensor({N, s.n_in}, 9);
        Tensor ref({N, n_out});  // the dense layer: A · Vᵀ, plain loops in double
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < n_out; ++i) {
            double z = 0;
            for (int64_t j = 0; j < s.n_in; ++j) z += static_cast<double>(V[i * s.n_in + j]) * A[n * s.n_in + j];
            ref[n * n_out + i] = static_cast<float>(z);
          }
        for (KernelMode m : modes()) {
          KernelModeGuard guard(m);
          Tensor Z({N, n_out});
          std::vector<float> scratch(static_cast<size_t>(hashed_scratch_floats(g)));
          hashed_forward(g, w.data(), A.data(), N, Z.data(), scratch.data());
          expect_all_close(Z, ref, kAccumulate, "hashed_forward N = " + std::to_string(N) + " " + kernel_mode_name(m));
        }
      }
    }
  }
}

TEST_CASE("hashed_matvec: scalar = AVX2 within the dot-product budget") {
  if (!cpu_has_avx2()) return;
  for (Shape2 s : kRagged) {
    CAPTURE(s.n_in);
    const HashedGeom g = hashed_geom(s.n_in, s.n_out, s.K, 24);
    const Tensor w = random_tensor({s.K}, 10), a = random_tensor({s.n_in}, 11);
    std::vector<float> zs(static_cast<size_t>(s.n_out)), zv(static_cast<size_t>(s.n_out));
    hashed_matvec_scalar(g, w.data(), a.data(), zs.data());
    hashed_matvec_avx2(g, w.data(), a.data(), zv.data());
    expect_all_close(zv, zs, kKernelParity, "hashed_matvec AVX2 vs scalar");
  }
}

TEST_CASE("hashed_backward = the dense layer's gradients, dV summed over each bucket with its sign") {
  const int64_t n_in = 37, n_out = 70, K = 50, N = 6;  // two tiles of rows, the second ragged
  const HashedGeom g = hashed_geom(n_in, n_out, K, 25);
  const Tensor w = random_tensor({K}, 12), A = random_tensor({N, n_in}, 13), dZ = random_tensor({N, n_out}, 14);
  Tensor V({n_out, n_in});
  hashed_materialize(g, w.data(), V.data());
  Tensor dA_ref({N, n_in}, 0.25f), dV({n_out, n_in});
  sgemm(Trans::N, Trans::N, N, n_in, n_out, 1.0f, dZ.data(), n_out, V.data(), n_in, 1.0f, dA_ref.data(), n_in);
  sgemm(Trans::T, Trans::N, n_out, n_in, N, 1.0f, dZ.data(), n_out, A.data(), n_in, 0.0f, dV.data(), n_in);
  Tensor dw_ref({K}, 0.0f);
  for (int64_t i = 0; i < n_out; ++i)
    for (int64_t j = 0; j < n_in; ++j) dw_ref[hashed_bucket(g, i, j)] += hashed_sign(g, i, j) * dV[i * n_in + j];
  for (KernelMode m : modes()) {
    KernelModeGuard guard(m);
    Tensor dA({N, n_in}, 0.25f), dw({K}, 0.0f);
    std::vector<float> scratch(static_cast<size_t>(hashed_scratch_floats(g)));
    hashed_backward(g, w.data(), A.data(), dZ.data(), N, dA.data(), dw.data(), scratch.data());
    expect_all_close(dA, dA_ref, kAccumulate, std::string("dA ") + kernel_mode_name(m));
    expect_all_close(dw, dw_ref, kAccumulate, std::string("dw ") + kernel_mode_name(m));
  }
}

TEST_CASE("gradcheck: hashed_linear with respect to x, w and the bias, both kernel modes") {
  for (KernelMode m : modes()) {
    KernelModeGuard guard(m);
    for (Shape2 s : {Shape2{9, 5, 7}, Shape2{17, 3, 1}, Shape2{8, 70, 40}}) {  // K = 1: every weight shared
      CAPTURE(s.n_in);
      const HashedGeom g = hashed_geom(s.n_in, s.n_out, s.K, 26);
      for (int64_t N : {int64_t{1}, int64_t{3}}) {
        Var x(random_tensor({N, s.n_in}, 15), true), w(random_tensor({s.K}, 16), true),
            b(random_tensor({s.n_out}, 17), true);
        CHECK(mgf::testing::check_gradients(
            [&](const std::vector<Var>& v) { return hashed_linear(v[0], v[1], v[2], g); }, {x, w, b}));
      }
    }
  }
}

TEST_CASE("a broken bucket sum is caught by the gradcheck (the check can fail)") {
  // The op with the sign hash dropped from the backward only: dw would be Σ G_ij, not Σ ξ G_ij.
  const HashedGeom g = hashed_geom(6, 4, 5, 27);
  Var x(random_tensor({2, 6}, 18), false), w(random_tensor({5}, 19), true);
  const auto broken = [&](const std::vector<Var>& v) {
    Tensor Y({2, 4});
    std::vector<float> scratch(static_cast<size_t>(hashed_scratch_floats(g)));
    hashed_forward(g, v[1].value().data(), v[0].value().data(), 2, Y.data(), scratch.data());
    return make_result("broken_hashed", std::move(Y), {v[0], v[1]}, [xn = v[0].node(), wn = v[1].node(), g](Node& self) {
      float* dw = grad_buffer(*wn).data();
      for (int64_t n = 0; n < 2; ++n)
        for (int64_t i = 0; i < 4; ++i)
          for (int64_t j = 0; j < 6; ++j)
            dw[hashed_bucket(g, i, j)] += self.grad[n * 4 + i] * xn->value[n * 6 + j];  // ξ missing
    });
  };
  mgf::testing::GradCheckOptions o;
  o.report = false;
  CHECK_FALSE(mgf::testing::check_gradients(broken, {x, w}, o));
}

TEST_CASE("HashedLinear: K real weights, virtual weights of the dense init's range, forward = x V^T + b") {
  HashedLinear layer(20, 30, 60, 99);
  CHECK(layer.num_parameters() == 60 + 30);
  CHECK(layer.weight.var.value().shape() == Shape{60});
  const Tensor V = layer.virtual_weight();
  const float bound = 1.0f / std::sqrt(20.0f);
  for (int64_t k = 0; k < V.numel(); ++k) REQUIRE(std::fabs(V[k]) <= bound);
  const Tensor X = random_tensor({4, 20}, 20);
  Tensor ref({4, 30});
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t i = 0; i < 30; ++i) {
      double z = layer.bias->var.value()[i];
      for (int64_t j = 0; j < 20; ++j) z += static_cast<double>(V[i * 20 + j]) * X[n * 20 + j];
      ref[n * 30 + i] = static_cast<float>(z);
    }
  NoGradGuard ng;
  expect_all_close(layer.forward(Var(X)).value(), ref, kAccumulate, "HashedLinear forward");
}

TEST_CASE("bad shapes and sizes are refused with what was expected and what was found") {
  CHECK_THROWS_WITH_AS(hashed_geom(10, 10, 0, 1), doctest::Contains("found K = 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(hashed_geom(10, 10, 101, 1), doctest::Contains("K <= n_in * n_out = 100"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(hashed_geom(0, 10, 1, 1), doctest::Contains("found n_in = 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(hashed_geom(100000, 100000, 10, 1), doctest::Contains("n_in * n_out < 2^31"),
                       std::invalid_argument);
  HashedLinear layer(8, 4, 6, 1);
  CHECK_THROWS_WITH_AS(layer.forward(Var(Tensor({2, 9}))), doctest::Contains("x [N, 8]"), std::invalid_argument);
  const HashedGeom g = hashed_geom(8, 4, 6, 1);
  CHECK_THROWS_WITH_AS(hashed_linear(Var(Tensor({2, 8})), Var(Tensor({5})), Var(), g), doctest::Contains("w [6]"),
                       std::invalid_argument);
}

}  // TEST_SUITE
