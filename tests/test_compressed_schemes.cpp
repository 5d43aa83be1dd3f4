// tests/test_compressed_schemes.cpp — TEST_SUITE("compressed_schemes"): every compressed weight
// format the chapters run on, walked from one table, each reporting the same three numbers
// against named budgets (STYLE.md rule 12; ggml's test-quantize-fns is the model):
//   round trip      encode → decode against what was encoded (0 for lossless formats; for a
//                   codebook, the quantization error, bounded by the bit width)
//   scalar vs AVX2  the two implementations of the format's kernel (exactly 0 on integer paths)
//   downstream      the next layer's output when this layer runs from the format, against the
//                   same network run in float on the decoded weights (simulation = deployment)
// The layer: y = relu(W·x + b), W [37 × 300] (ragged against 8- and 64-wide bodies) with about
// 10 % kept; the next layer z = V·y, V [10 × 37] dense. Adding a format is one row of kSchemes.
// Formats: CSR (int32 and 16-bit columns, book 14), relative index + codebook (book 15),
// codebook indices (book 15), packed sign bits (book 23). Planned: int8, PQ, hashed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "compression/coding/csr.h"
#include "compression/coding/relative_index.h"
#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/bitpack.h"
#include "compression/quantization/kmeans.h"
#include "compression/quantization/weight_sharing.h"
#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"
#include "tests/support/compare.h"

using namespace mgf;
using mgf::testing::expect_all_close;
using mgf::testing::kDecode;
using mgf::testing::kExact;
using mgf::testing::kKernelParity;
using mgf::testing::Tol;

namespace {

constexpr int64_t R = 37, K = 300, Z = 10;  // W [R × K], V [Z × R]

// 4-bit k-means over weights in [-1, 1]: 15 centroids, so no weight is farther than about half
// the widest gap between neighbouring centroids from its own. 0.15 leaves room for k-means
// placing centroids unevenly; a broken assignment (a weight on a far centroid) is ~1.
constexpr Tol kCodebook4Bit{0.15f, 0.0f};

// What one scheme measured: the largest |difference| of each of the three comparisons, and
// whether each passed its budget (expect_all_close reports the first bad index on failure).
struct SchemeReport {
  double round_trip = 0, parity = 0, downstream = 0;
  bool ok = true;
};

struct Layer {
  Tensor W;                     // [R, K], about 10 % nonzero
  std::vector<float> b, x, V;  // bias [R], input [K], next layer [Z × R]
};

Layer make_layer() {
  Layer L;
  L.W = mgf::testing::random_tensor({R, K}, 2024);
  Rng r(77);
  for (int64_t i = 0; i < L.W.numel(); ++i)
    if (r.uniform() > 0.1f) L.W[i] = 0.0f;
  for (int64_t i = 0; i < R; ++i) L.b.push_back(r.uniform(-0.1f, 0.1f));
  for (int64_t i = 0; i < K; ++i) L.x.push_back(r.uniform(-1.0f, 1.0f));
  for (int64_t i = 0; i < Z * R; ++i) L.V.push_back(r.uniform(-1.0f, 1.0f));
  return L;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

// z = V · relu(y): the downstream layer, in float, the same for every scheme.
std::vector<float> next_layer(const Layer& L, std::vector<float> y) {
  for (float& v : y) v = std::max(v, 0.0f);
  std::vector<float> z(static_cast<size_t>(Z), 0.0f);
  for (int64_t o = 0; o < Z; ++o)
    for (int64_t i = 0; i < R; ++i) z[static_cast<size_t>(o)] += L.V[static_cast<size_t>(o * R + i)] * y[static_cast<size_t>(i)];
  return z;
}

// y = W·x + b in plain float loops: the simulation every scheme's kernel is compared with.
std::vector<float> dense_layer(const float* W, const Layer& L) {
  std::vector<float> y(L.b);
  for (int64_t o = 0; o < R; ++o)
    for (int64_t i = 0; i < K; ++i) y[static_cast<size_t>(o)] += W[o * K + i] * L.x[static_cast<size_t>(i)];
  return y;
}

// Compares a and b against tol, records the largest difference in `slot`.
void measure(SchemeReport& rep, double& slot, const std::vector<float>& a, const std::vector<float>& b, Tol tol,
             const std::string& what) {
  slot = max_abs_diff(a, b);
  rep.ok = expect_all_close(a, b, tol, what) && rep.ok;
}

// ---- the schemes ---------------------------------------------------------------------------

template <class Csr>
SchemeReport csr_scheme(const Layer& L, const Csr& W, const char* name) {
  SchemeReport rep;
  measure(rep, rep.round_trip, to_dense(W).to_vector(), L.W.to_vector(), kExact, std::string(name) + " round trip");
  std::vector<float> ys(static_cast<size_t>(R)), yv(static_cast<size_t>(R));
  csr_matvec_scalar(W, L.x.data(), ys.data());  // y = W·x (written, not accumulated)
  if (cpu_has_avx2()) {
    csr_matvec_avx2(W, L.x.data(), yv.data());
    measure(rep, rep.parity, yv, ys, kKernelParity, std::string(name) + " avx2 vs scalar");
  }
  for (int64_t o = 0; o < R; ++o) ys[static_cast<size_t>(o)] += L.b[static_cast<size_t>(o)];
  measure(rep, rep.downstream, next_layer(L, ys), next_layer(L, dense_layer(L.W.data(), L)), kDecode,
          std::string(name) + " downstream");
  return rep;
}

SchemeReport scheme_csr(const Layer& L) { return csr_scheme(L, csr_from_tensor(L.W), "CSR"); }
SchemeReport scheme_csr16(const Layer& L) { return csr_scheme(L, csr_narrow(csr_from_tensor(L.W)), "CSR16"); }

SharedWeight shared_4bit(const Layer& L) {
  Rng rng(5);
  return share_weights(L.W, nullptr, 4, KmeansInit::linear, rng);
}

SchemeReport scheme_codebook(const Layer& L) {
  SchemeReport rep;
  const SharedWeight s = shared_4bit(L);
  const Tensor decoded = s.decode();
  measure(rep, rep.round_trip, decoded.to_vector(), L.W.to_vector(), kCodebook4Bit, "codebook round trip");
  std::vector<float> ys(static_cast<size_t>(R)), yv(static_cast<size_t>(R));
  codebook_matvec_scalar(s.codes.data(), s.codebook.data(), L.x.data(), L.b.data(), ys.data(), R, K);
  if (cpu_has_avx2()) {
    codebook_matvec_avx2(s.codes.data(), s.codebook.data(), L.x.data(), L.b.data(), yv.data(), R, K);
    measure(rep, rep.parity, yv, ys, kKernelParity, "codebook avx2 vs scalar");
  }
  measure(rep, rep.downstream, next_layer(L, ys), next_layer(L, dense_layer(decoded.data(), L)), kDecode,
          "codebook downstream");
  return rep;
}

SchemeReport scheme_relative_index(const Layer& L) {
  SchemeReport rep;
  const SharedWeight s = shared_4bit(L);
  const RelativeIndex ri = relative_index_encode(s.codes.data(), s.numel(), 3);  // 3-bit gaps: fillers at 10 % density
  CHECK(ri.fillers() > 0);  // the test reaches the filler path
  std::vector<float> back, codes;
  for (uint8_t c : relative_index_decode(ri)) back.push_back(c);
  for (uint8_t c : s.codes) codes.push_back(c);
  measure(rep, rep.round_trip, back, codes, kExact, "relative index round trip (codes)");
  std::vector<float> ys(L.b), yv(L.b);
  relative_index_matvec_scalar(ri.gaps.data(), ri.codes.data(), ri.entries(), s.codebook.data(), L.x.data(), ys.data(), R, K);
  if (cpu_has_avx2()) {
    relative_index_matvec_avx2(ri.gaps.data(), ri.codes.data(), ri.entries(), s.codebook.data(), L.x.data(), yv.data(), R, K);
    measure(rep, rep.parity, yv, ys, kKernelParity, "relative index avx2 vs scalar");
  }
  measure(rep, rep.downstream, next_layer(L, ys), next_layer(L, dense_layer(s.decode().data(), L)), kDecode,
          "relative index downstream");
  return rep;
}

// Packed bits (XNOR-Net): the layer is binary in both operands, y = α_o·(sign(W)·sign(x)), with
// the ±1 dot product counted by xnor + popcount. Every step is an integer: all three are exact.
SchemeReport scheme_packed_bits(const Layer& L) {
  SchemeReport rep;
  std::vector<float> sw(static_cast<size_t>(R * K)), sx(static_cast<size_t>(K)), alpha(static_cast<size_t>(R), 0.0f);
  for (int64_t i = 0; i < R * K; ++i) sw[static_cast<size_t>(i)] = L.W[i] >= 0.0f ? 1.0f : -1.0f;  // sign(0) = +1
  for (int64_t i = 0; i < K; ++i) sx[static_cast<size_t>(i)] = L.x[static_cast<size_t>(i)] >= 0.0f ? 1.0f : -1.0f;
  for (int64_t o = 0; o < R; ++o) {
    for (int64_t i = 0; i < K; ++i) alpha[static_cast<size_t>(o)] += std::fabs(L.W[o * K + i]);
    alpha[static_cast<size_t>(o)] /= static_cast<float>(K);
  }
  const PackedSigns pw = PackedSigns::from_rows(L.W.data(), R, K);
  const PackedSigns px = PackedSigns::from_rows(L.x.data(), 1, K);
  std::vector<float> back(static_cast<size_t>(R * K));
  for (int64_t o = 0; o < R; ++o) unpack_signs_row(pw.row(o), K, back.data() + o * K);
  measure(rep, rep.round_trip, back, sw, kExact, "packed bits round trip (signs)");
  std::vector<int32_t> zs(static_cast<size_t>(R)), zv(static_cast<size_t>(R));
  bgemm_scalar(R, 1, K, pw.bits.data(), px.bits.data(), zs.data(), 1);
  bgemm_avx2(R, 1, K, pw.bits.data(), px.bits.data(), zv.data(), 1);  // = scalar on a build without x86
  measure(rep, rep.parity, std::vector<float>(zv.begin(), zv.end()), std::vector<float>(zs.begin(), zs.end()), kExact,
          "packed bits bgemm avx2 vs scalar");
  // Simulation: the same binary layer as ±1 floats in a float dot product (exact: |sum| <= 300).
  std::vector<float> y_sim(static_cast<size_t>(R), 0.0f), y_run(static_cast<size_t>(R));
  for (int64_t o = 0; o < R; ++o) {
    float d = 0.0f;
    for (int64_t i = 0; i < K; ++i) d += sw[static_cast<size_t>(o * K + i)] * sx[static_cast<size_t>(i)];
    y_sim[static_cast<size_t>(o)] = alpha[static_cast<size_t>(o)] * d;
    y_run[static_cast<size_t>(o)] = alpha[static_cast<size_t>(o)] * static_cast<float>(zs[static_cast<size_t>(o)]);
  }
  measure(rep, rep.downstream, next_layer(L, y_run), next_layer(L, y_sim), kExact, "packed bits downstream");
  return rep;
}

// ---- the table ------------------------------------------------------------------------------
enum SchemeId { kCsr, kCsr16, kRelativeIndex, kCodebook, kPackedBits, kSchemeCount };

struct Scheme {
  SchemeId id;
  const char* name;
  SchemeReport (*run)(const Layer&);
};

constexpr Scheme kSchemes[] = {
    {kCsr, "CSR (int32 columns)", scheme_csr},
    {kCsr16, "CSR16 (16-bit columns)", scheme_csr16},
    {kRelativeIndex, "relative index + 4-bit codebook", scheme_relative_index},
    {kCodebook, "codebook indices (4 bits)", scheme_codebook},
    {kPackedBits, "packed sign bits (XNOR)", scheme_packed_bits},
};
static_assert(std::size(kSchemes) == kSchemeCount, "one row per SchemeId");

}  // namespace

TEST_SUITE("compressed_schemes") {
  TEST_CASE("every compressed scheme: round trip, scalar vs AVX2 and downstream error within its budgets") {
    const Layer L = make_layer();
    for (size_t i = 0; i < std::size(kSchemes); ++i) {
      const Scheme& s = kSchemes[i];
      REQUIRE(s.id == static_cast<SchemeId>(i));  // the table is in enum order
      const std::string name = s.name;
      INFO("scheme: " << name);
      const SchemeReport rep = s.run(L);
      MESSAGE(name << ": round trip " << rep.round_trip << ", scalar vs AVX2 " << rep.parity << ", downstream "
                     << rep.downstream);
      CHECK(rep.ok);
    }
  }

  TEST_CASE("the lossless formats and the integer path are exact, the codebook is not (the budgets can fail)") {
    const Layer L = make_layer();
    CHECK(scheme_csr(L).round_trip == 0.0);
    CHECK(scheme_csr16(L).round_trip == 0.0);
    const SchemeReport bits = scheme_packed_bits(L);
    CHECK(bits.parity == 0.0);
    CHECK(bits.downstream == 0.0);
    // 4 bits lose information: a zero round-trip error here would mean the test compared a
    // decode with itself.
    CHECK(scheme_codebook(L).round_trip > 0.0);
  }
}
