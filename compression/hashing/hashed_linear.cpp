// compression/hashing/hashed_linear.cpp — see hashed_linear.h. The hash, the three kernels
// (rows of V, bucket sums, batch-1 matvec), each scalar beside AVX2, then the batched forward
// and backward on tiles, the autograd op and the layer.
#include "compression/hashing/hashed_linear.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/kernels/cpu.h"
#include "engine/kernels/elementwise.h"
#include "engine/kernels/gemm.h"
#include "layers/init.h"
#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

HashedGeom hashed_geom(int64_t n_in, int64_t n_out, int64_t K, uint64_t layer_seed) {
  if (n_in < 1 || n_out < 1)
    throw std::invalid_argument("hashed_geom: expected n_in >= 1 and n_out >= 1, found n_in = " +
                                std::to_string(n_in) + ", n_out = " + std::to_string(n_out));
  // The key i·n_in + j is a uint32, and the AVX2 gather takes signed 32-bit indices.
  if (n_in * n_out > 0x7FFFFFFFLL)
    throw std::invalid_argument("hashed_geom: expected n_in * n_out < 2^31 (32-bit hash keys), found " +
                                std::to_string(n_in) + " * " + std::to_string(n_out));
  if (K < 1 || K > n_in * n_out)
    throw std::invalid_argument("hashed_geom: expected 1 <= K <= n_in * n_out = " + std::to_string(n_in * n_out) +
                                " real weights, found K = " + std::to_string(K));
  HashedGeom g;
  g.n_in = n_in, g.n_out = n_out, g.K = K;
  // Two seeds from one: both halves of the 64-bit seed reach both, through different
  // constants (digits of π), so h and ξ are different functions of the same key.
  const uint32_t lo = static_cast<uint32_t>(layer_seed), hi = static_cast<uint32_t>(layer_seed >> 32);
  g.seed_h = hash_fmix32(lo ^ hash_fmix32(hi ^ 0x243F6A88u));
  g.seed_xi = hash_fmix32(lo ^ hash_fmix32(hi ^ 0x13198A2Eu) ^ 0xA4093822u);
  return g;
}

int64_t hashed_buckets_for(int64_t n_in, int64_t n_out, double c) {
  if (!(c > 0.0 && c <= 1.0))
    throw std::invalid_argument("hashed_buckets_for: expected a compression factor in (0, 1], found " + std::to_string(c));
  return std::max<int64_t>(1, std::llround(c * static_cast<double>(n_in * n_out)));
}

// ---- rows of V -------------------------------------------------------------------------
void hashed_rows_scalar(const HashedGeom& g, const float* w, int64_t i0, int64_t R, float* vrows) {
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < g.n_in; ++j)
      vrows[r * g.n_in + j] = hashed_sign(g, i0 + r, j) * w[hashed_bucket(g, i0 + r, j)];
}

void hashed_scatter_scalar(const HashedGeom& g, const float* G, int64_t i0, int64_t R, float* dw) {
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < g.n_in; ++j) dw[hashed_bucket(g, i0 + r, j)] += hashed_sign(g, i0 + r, j) * G[r * g.n_in + j];
}

void hashed_matvec_scalar(const HashedGeom& g, const float* w, const float* a, float* z) {
  for (int64_t i = 0; i < g.n_out; ++i) {
    float s = 0.0f;
    for (int64_t j = 0; j < g.n_in; ++j) s += hashed_sign(g, i, j) * w[hashed_bucket(g, i, j)] * a[j];
    z[i] = s;
  }
}

#if MGF_HAVE_X86
namespace {

// mix(key, s) for 8 keys: the scalar hashed_mix, one lane each.
MGF_AVX2 inline __m256i mix8(__m256i key, __m256i seed) {
  __m256i x = _mm256_add_epi32(_mm256_mullo_epi32(key, _mm256_set1_epi32(static_cast<int>(0x9E3779B1u))), seed);
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));                                // x ^= x >> 16
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0x85EBCA6Bu)));       // x *= 0x85EBCA6B
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 13));                                // x ^= x >> 13
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0xC2B2AE35u)));       // x *= 0xC2B2AE35
  return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));                             // x ^= x >> 16
}

// ⌊x · K / 2³²⌋ for 8 lanes. vpmuludq multiplies the even 32-bit lanes into 64-bit products;
// the odd lanes are shifted down, multiplied the same way, and the two halves blended.
MGF_AVX2 inline __m256i range8(__m256i x, __m256i K) {
  const __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(x, K), 32);  // lanes 0,2,4,6: high word moved down
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), K);   // lanes 1,3,5,7: high word already there
  return _mm256_blend_epi32(even, odd, 0xAA);
}

// The 8 buckets and sign bits of columns j..j+7 of the row whose first key is `base`.
struct Hash8 {
  __m256i lanes, seed_h, seed_xi, K, top;
  MGF_AVX2 explicit Hash8(const HashedGeom& g)
      : lanes(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
        seed_h(_mm256_set1_epi32(static_cast<int>(g.seed_h))),
        seed_xi(_mm256_set1_epi32(static_cast<int>(g.seed_xi))),
        K(_mm256_set1_epi32(static_cast<int>(g.K))),
        top(_mm256_set1_epi32(static_cast<int>(0x80000000u))) {}
  MGF_AVX2 inline void at(uint32_t key0, __m256i& bucket, __m256i& sign) const {
    const __m256i key = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(key0)), lanes);
    bucket = range8(mix8(key, seed_h), K);
    sign = _mm256_and_si256(mix8(key, seed_xi), top);
  }
  // ξ · w[h] for the 8 columns: a gather, and the sign bit xored into each float.
  MGF_AVX2 inline __m256 virtual8(const float* w, uint32_t key0) const {
    __m256i b, s;
    at(key0, b, s);
    return _mm256_xor_ps(_mm256_i32gather_ps(w, b, 4), _mm256_castsi256_ps(s));
  }
};

}  // namespace

MGF_AVX2 void hashed_rows_avx2(const HashedGeom& g, const float* w, int64_t i0, int64_t R, float* vrows) {
  const Hash8 h(g);
  for (int64_t r = 0; r < R; ++r) {
    const int64_t i = i0 + r;
    const uint32_t base = static_cast<uint32_t>(i * g.n_in);
    float* v = vrows + r * g.n_in;
    int64_t j = 0;
    for (; j + 8 <= g.n_in; j += 8) _mm256_storeu_ps(v + j, h.virtual8(w, base + static_cast<uint32_t>(j)));
    for (; j < g.n_in; ++j) v[j] = hashed_sign(g, i, j) * w[hashed_bucket(g, i, j)];  // the scalar line
  }
}

MGF_AVX2 void hashed_scatter_avx2(const HashedGeom& g, const float* G, int64_t i0, int64_t R, float* dw) {
  const Hash8 h(g);
  alignas(32) uint32_t bucket[8], sign[8];
  for (int64_t r = 0; r < R; ++r) {
    const int64_t i = i0 + r;
    const uint32_t base = static_cast<uint32_t>(i * g.n_in);
    const float* gr = G + r * g.n_in;
    int64_t j = 0;
    for (; j + 8 <= g.n_in; j += 8) {
      __m256i b, s;
      h.at(base + static_cast<uint32_t>(j), b, s);
      _mm256_store_si256(reinterpret_cast<__m256i*>(bucket), b);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sign), s);
      // The adds in the scalar's order: lanes may share a bucket, so no vector store here.
      for (int l = 0; l < 8; ++l) dw[bucket[l]] += (sign[l] ? -1.0f : 1.0f) * gr[j + l];
    }
    for (; j < g.n_in; ++j) dw[hashed_bucket(g, i, j)] += hashed_sign(g, i, j) * gr[j];
  }
}

MGF_AVX2 void hashed_matvec_avx2(const HashedGeom& g, const float* w, const float* a, float* z) {
  const Hash8 h(g);
  for (int64_t i = 0; i < g.n_out; ++i) {
    const uint32_t base = static_cast<uint32_t>(i * g.n_in);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= g.n_in; j += 8)  // s += ξ·w[h]·a[j], 8 columns per FMA
      acc = _mm256_fmadd_ps(h.virtual8(w, base + static_cast<uint32_t>(j)), _mm256_loadu_ps(a + j), acc);
    float s = hsum8_avx2(acc);
    for (; j < g.n_in; ++j) s += hashed_sign(g, i, j) * w[hashed_bucket(g, i, j)] * a[j];
    z[i] = s;
  }
}
#else
void hashed_rows_avx2(const HashedGeom& g, const float* w, int64_t i0, int64_t R, float* vrows) {
  hashed_rows_scalar(g, w, i0, R, vrows);
}
void hashed_scatter_avx2(const HashedGeom& g, const float* G, int64_t i0, int64_t R, float* dw) {
  hashed_scatter_scalar(g, G, i0, R, dw);
}
void hashed_matvec_avx2(const HashedGeom& g, const float* w, const float* a, float* z) {
  hashed_matvec_scalar(g, w, a, z);
}
#endif

void hashed_rows(const HashedGeom& g, const float* w, int64_t i0, int64_t R, float* vrows) {
  if (use_avx2()) return hashed_rows_avx2(g, w, i0, R, vrows);
  hashed_rows_scalar(g, w, i0, R, vrows);
}
void hashed_scatter(const HashedGeom& g, const float* G, int64_t i0, int64_t R, float* dw) {
  if (use_avx2()) return hashed_scatter_avx2(g, G, i0, R, dw);
  hashed_scatter_scalar(g, G, i0, R, dw);
}
void hashed_matvec(const HashedGeom& g, const float* w, const float* a, float* z) {
  if (use_avx2()) return hashed_matvec_avx2(g, w, a, z);
  hashed_matvec_scalar(g, w, a, z);
}

// ---- batched, by tiles of rows -----------------------------------------------------------
int64_t hashed_scratch_floats(const HashedGeom& g) { return 2 * std::min(kHashedTileRows, g.n_out) * g.n_in; }

void hashed_forward(const HashedGeom& g, const float* w, const float* A, int64_t N, float* Z, float* scratch) {
  if (N == 1) return hashed_matvec(g, w, A, Z);
  for (int64_t i0 = 0; i0 < g.n_out; i0 += kHashedTileRows) {
    const int64_t R = std::min(kHashedTileRows, g.n_out - i0);
    hashed_rows(g, w, i0, R, scratch);  // V[i0 .. i0+R) [R × n_in], hashed once for the whole batch
    // Z[:, i0 .. i0+R) = A · V_tileᵀ      [N × R] = [N × n_in] · [n_in × R]
    sgemm(Trans::N, Trans::T, N, R, g.n_in, 1.0f, A, g.n_in, scratch, g.n_in, 0.0f, Z + i0, g.n_out);
  }
}

void hashed_backward(const HashedGeom& g, const float* w, const float* A, const float* dZ, int64_t N, float* dA,
                     float* dw, float* scratch) {
  float* Vt = scratch;
  float* Gt = scratch + std::min(kHashedTileRows, g.n_out) * g.n_in;
  for (int64_t i0 = 0; i0 < g.n_out; i0 += kHashedTileRows) {
    const int64_t R = std::min(kHashedTileRows, g.n_out - i0);
    if (dA) {  // ∂L/∂a_j = Σ_i V_ij δ_i:  dA += dZ[:, tile] · V_tile     [N × n_in]
      hashed_rows(g, w, i0, R, Vt);
      sgemm(Trans::N, Trans::N, N, g.n_in, R, 1.0f, dZ + i0, g.n_out, Vt, g.n_in, 1.0f, dA, g.n_in);
    }
    if (dw) {  // ∂L/∂V_ij = Σ_n δ_ni a_nj (G_tile = dZ[:, tile]ᵀ · A), then summed into bucket h(i,j) with ξ
      sgemm(Trans::T, Trans::N, R, g.n_in, N, 1.0f, dZ + i0, g.n_out, A, g.n_in, 0.0f, Gt, g.n_in);
      hashed_scatter(g, Gt, i0, R, dw);
    }
  }
}

void hashed_materialize(const HashedGeom& g, const float* w, float* V) { hashed_rows(g, w, 0, g.n_out, V); }

// ---- the op ------------------------------------------------------------------------------
Var hashed_linear(const Var& x, const Var& w, const Var& bias, const HashedGeom& g) {
  const Tensor& X = x.value();
  if (X.ndim() != 2 || X.dim(1) != g.n_in) shape_error("hashed_linear", "x [N, " + std::to_string(g.n_in) + "]", X.shape());
  if (w.value().ndim() != 1 || w.value().dim(0) != g.K)
    shape_error("hashed_linear", "w [" + std::to_string(g.K) + "]", w.value().shape());
  if (bias.defined() && (bias.value().ndim() != 1 || bias.value().dim(0) != g.n_out))
    shape_error("hashed_linear", "bias [" + std::to_string(g.n_out) + "]", bias.value().shape());
  const int64_t N = X.dim(0);
  Tensor Y = Tensor::uninit({N, g.n_out});
  if (N > 0) {
    std::vector<float> scratch(static_cast<size_t>(hashed_scratch_floats(g)));
    hashed_forward(g, w.value().data(), X.data(), N, Y.data(), scratch.data());
    if (bias.defined())
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < g.n_out; ++i) Y[n * g.n_out + i] += bias.value()[i];
  }
  std::vector<Var> parents{x, w};
  if (bias.defined()) parents.push_back(bias);
  return make_result("hashed_linear", std::move(Y), std::move(parents),
                     [xn = x.node(), wn = w.node(), bn = bias.defined() ? bias.node() : nullptr, g, N](Node& self) {
                       if (N == 0) return;
                       std::vector<float> scratch(static_cast<size_t>(hashed_scratch_floats(g)));
                       const float* dY = self.grad.data();
                       float* dX = xn->requires_grad ? grad_buffer(*xn).data() : nullptr;
                       float* dw = wn->requires_grad ? grad_buffer(*wn).data() : nullptr;
                       hashed_backward(g, wn->value.data(), xn->value.data(), dY, N, dX, dw, scratch.data());
                       if (bn && bn->requires_grad) sum_cols(dY, N, g.n_out, grad_buffer(*bn).data());
                     });
}

// ---- the layer ---------------------------------------------------------------------------
HashedLinear::HashedLinear(int64_t in, int64_t out, int64_t K, uint64_t layer_seed, bool has_bias)
    : geom(hashed_geom(in, out, K, layer_seed)),
      weight(register_parameter("weight", Tensor({K}))),
      bias(has_bias ? &register_parameter("bias", Tensor({out})) : nullptr) {
  const float b = 1.0f / std::sqrt(static_cast<float>(in));  // Linear's default_init bound
  uniform_init(weight.var.value(), -b, b);
  if (bias) uniform_init(bias->var.value(), -b, b);
}

Var HashedLinear::forward(const Var& x) {
  return hashed_linear(x, weight.effective(), bias ? bias->effective() : Var(), geom);
}

Tensor HashedLinear::virtual_weight() const {
  Tensor V({geom.n_out, geom.n_in});
  hashed_materialize(geom, weight.var.value().data(), V.data());
  return V;
}

}  // namespace mgf
