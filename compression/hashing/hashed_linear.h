// compression/hashing/hashed_linear.h — HashedNets (Chen, Wilson, Tyree, Weinberger, Chen 2015,
// "Compressing Neural Networks with the Hashing Trick", §4): a fully connected layer whose
// n_out × n_in virtual weights share K real ones, picked by a hash of the position.
//
//   V_ij = ξ(i,j) · w_h(i,j)            (§4.1: h(i,j) ∈ {0..K−1}, ξ(i,j) ∈ {−1,+1})
//   z_i  = Σ_j ξ(i,j) · w_h(i,j) · a_j  (forward, eq. 4)
//   ∂L/∂w_k = Σ_{(i,j): h(i,j)=k} ξ(i,j) · a_j · δ_i     (backward, §4.3: summed over bucket k)
//   ∂L/∂a_j = Σ_i ξ(i,j) · w_h(i,j) · δ_i
// Compression factor K / (n_in · n_out). Book: book/16-hashednets.md. Tests: make test SUITE=hashednets.
//
// The hash (the paper used xxHash; ours is written here, see the book for why): the position
// (i, j) becomes the 32-bit key i·n_in + j, and
//   mix(key, s) = fmix32(key · 0x9E3779B1 + s)        fmix32 = MurmurHash3's 32-bit finaliser
//   h(i,j) = ⌊mix(key, s_h) · K / 2³²⌋                 (Lemire's multiply-shift range reduction)
//   ξ(i,j) = −1 if the top bit of mix(key, s_ξ) is set, else +1
// with s_h, s_ξ two seeds drawn from the layer's seed (hashed_geom), so the two hashes are
// independent and each layer has its own. Every step is a 32-bit multiply, shift or xor, so
// AVX2 hashes 8 column indices at once (vpmulld, vpsrld, vpxor; vpmuludq for the reduction)
// and gathers the 8 weights with vgatherdps.
//
// The kernels hash on the fly: no index is stored and the whole virtual matrix is never built.
// Batch 1 (hashed_matvec) hashes, gathers and multiplies in one pass. A batch of N > 1
// (hashed_forward / hashed_backward) hashes a tile of kHashedTileRows rows of V into scratch and
// runs sgemm on the tile, so the hashing is paid once per batch, not once per image; the
// scratch (hashed_scratch_floats) is two tiles, ~0.4 MB for n_in = 784, against 3.1 MB for
// the dense 784 × 1000 matrix.
// Deliberately not here: the paper's hashing of convolutions (it has none), the DK variant
// (that is the distillation chapter's loss applied to this layer), a threaded kernel.
#pragma once
#include <cstdint>

#include "engine/autograd.h"
#include "layers/module.h"

namespace mgf {

// MurmurHash3's 32-bit finaliser (Appleby): a bijection of uint32 in which every input bit
// flips every output bit with probability about 1/2.
inline uint32_t hash_fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x;
}

// One hashed layer's shape and hash seeds. n_in · n_out must fit the 32-bit key.
struct HashedGeom {
  int64_t n_in = 0, n_out = 0;  // V is [n_out × n_in], like Linear's weight
  int64_t K = 0;                // real weights (buckets)
  uint32_t seed_h = 0;          // of the bucket hash h
  uint32_t seed_xi = 0;         // of the sign hash ξ
  int64_t virtual_count() const { return n_in * n_out; }
};

// Validates (n_in, n_out, K >= 1, n_in · n_out < 2³²) and draws the two seeds from
// layer_seed; throws std::invalid_argument naming the value that does not fit.
HashedGeom hashed_geom(int64_t n_in, int64_t n_out, int64_t K, uint64_t layer_seed);
// K for a compression factor c ∈ (0, 1]: round(c · n_in · n_out), at least 1.
int64_t hashed_buckets_for(int64_t n_in, int64_t n_out, double c);

inline uint32_t hashed_mix(uint32_t key, uint32_t seed) { return hash_fmix32(key * 0x9E3779B1u + seed); }
inline uint32_t hashed_bucket(const HashedGeom& g, int64_t i, int64_t j) {
  const uint32_t key = static_cast<uint32_t>(i * g.n_in + j);
  return static_cast<uint32_t>((static_cast<uint64_t>(hashed_mix(key, g.seed_h)) * static_cast<uint64_t>(g.K)) >> 32);
}
// The sign as the bit pattern the kernels xor into a float (0 or 0x80000000), and as ±1.
inline uint32_t hashed_sign_bit(const HashedGeom& g, int64_t i, int64_t j) {
  return hashed_mix(static_cast<uint32_t>(i * g.n_in + j), g.seed_xi) & 0x80000000u;
}
inline float hashed_sign(const HashedGeom& g, int64_t i, int64_t j) { return hashed_sign_bit(g, i, j) ? -1.0f : 1.0f; }

// ---- kernels (raw pointers; w has g.K floats) ------------------------------------------
// Rows i0 .. i0+R−1 of V into vrows [R × n_in]: vrows[r][j] = ξ(i0+r, j) · w[h(i0+r, j)].
// Exact: both sides give the same bits (the sign is an xor, the rest a copy).
void hashed_rows(const HashedGeom& g, const float* w, int64_t i0, int64_t R, float* vrows);
void hashed_rows_scalar(const HashedGeom& g, const float* w, int64_t i0, int64_t R, float* vrows);
void hashed_rows_avx2(const HashedGeom& g, const float* w, int64_t i0, int64_t R, float* vrows);

// Bucket sums of a gradient tile G [R × n_in] (G[r][j] = ∂L/∂V_{i0+r, j}):
//   dw[h(i,j)] += ξ(i,j) · G[r][j]
// AVX2 hashes 8 columns at once; the adds stay scalar and in the scalar order (AVX2 has no
// scatter, and two lanes may hit one bucket), so both sides give the same bits.
void hashed_scatter(const HashedGeom& g, const float* G, int64_t i0, int64_t R, float* dw);
void hashed_scatter_scalar(const HashedGeom& g, const float* G, int64_t i0, int64_t R, float* dw);
void hashed_scatter_avx2(const HashedGeom& g, const float* G, int64_t i0, int64_t R, float* dw);

// Batch 1, nothing stored: z[i] = Σ_j ξ(i,j) · w[h(i,j)] · a[j], a [n_in], z [n_out] (written).
// AVX2: 8 columns hashed, 8 weights gathered, signs xored, one FMA; 8 partial sums per row.
void hashed_matvec(const HashedGeom& g, const float* w, const float* a, float* z);
void hashed_matvec_scalar(const HashedGeom& g, const float* w, const float* a, float* z);
void hashed_matvec_avx2(const HashedGeom& g, const float* w, const float* a, float* z);

// Rows of V per tile in the batched kernels, and the scratch floats they need.
constexpr int64_t kHashedTileRows = 64;
int64_t hashed_scratch_floats(const HashedGeom& g);

// Z [N × n_out] = A [N × n_in] · Vᵀ (written). N = 1 runs hashed_matvec; N > 1 hashes a tile of
// rows into scratch (hashed_rows) and runs sgemm on it.
void hashed_forward(const HashedGeom& g, const float* w, const float* A, int64_t N, float* Z, float* scratch);
// Given dZ [N × n_out]: dA [N × n_in] += dZ · V (skipped when dA is null) and dw [K] += the bucket
// sums of dZᵀ · A (skipped when dw is null), tile by tile.
void hashed_backward(const HashedGeom& g, const float* w, const float* A, const float* dZ, int64_t N, float* dA,
                     float* dw, float* scratch);

// The whole V [n_out × n_in] — for tests (on the fly = materialised) and the dense timing.
void hashed_materialize(const HashedGeom& g, const float* w, float* V);

// ---- the op and the layer ---------------------------------------------------------------
// y = x · Vᵀ + b, x [N, n_in], w [K], b [n_out] or undefined; backward as in the header.
Var hashed_linear(const Var& x, const Var& w, const Var& bias, const HashedGeom& g);

// A Linear whose weight is hashed: parameter "weight" [K] (the real weights) and "bias"
// [n_out] (not hashed; the paper hashes the weight matrices). Init: w ~ U(±1/√n_in), like
// Linear's default, so every virtual weight has the variance a dense layer would start with.
class HashedLinear : public Module {
 public:
  HashedLinear(int64_t in, int64_t out, int64_t K, uint64_t layer_seed, bool bias = true);
  Var forward(const Var& x) override;   // x [N, in] → [N, out]
  std::string type_name() const override { return "HashedLinear"; }
  Tensor virtual_weight() const;        // V [out, in], materialised (tests, inspection)

  const HashedGeom geom;
  Parameter& weight;   // [K]
  Parameter* bias;     // [out], or nullptr
};

}  // namespace mgf
