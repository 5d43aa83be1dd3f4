// compression/quantization/weight_sharing.h — Deep Compression stage 2: trained quantization
// by weight sharing (Han, Mao, Dally 2016, §3), and the kernel that runs a layer from it.
//
// Each layer (never across layers) keeps a small codebook C and, per weight, an index I_ij into
// it; the weight is W_ij = C[I_ij]. The codebook comes from 1-D k-means on the weights that
// survived pruning (kmeans.h, eq. 1). Then the centroids are fine-tuned (§3.3, Fig. 3, eq. 3):
//
//   ∂L/∂C_k = Σ_ij ∂L/∂W_ij · 1(I_ij = k)         — gradients grouped by index and summed
//   C_k ← C_k − η·∂L/∂C_k,   then W ← C[I]        — the indices never change
//
// Our codebook layout: code 0 is the exact zero, shared by pruned weights and by the filler
// entries of the relative-index format (relative_index.h); codes 1 .. 2^bits − 1 are the
// trained centroids. So "b bits" means 2^b codes, of which 2^b − 1 are learned; code 0 is never
// trained and pruned weights stay exactly zero.
//
// Inference kernels (scalar + AVX2, dispatcher): a Linear layer run straight from uint8
// indices + codebook, never from a rebuilt float matrix:
//   y_o = b_o + Σ_i C[I_oi]·x_i                          (gather: codebook_matvec)
//   y_o = b_o + Σ_k C_k·(Σ_{i: I_oi = k} x_i)            (bin-sum first: codebook_matvec_binsum)
// The second does k multiplies per row instead of `in` — the trick for hardware where a
// multiply is dear; on a CPU the scattered bin updates cost more than the FMAs they save
// (measured in examples/deep_compression.cpp).
// Book: book/15-deep_compression.md. Deliberately not here: sharing across layers, vector
// quantization (Gong 2014), retraining the indices.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compression/quantization/kmeans.h"
#include "engine/tensor.h"

namespace mgf {

class Rng;
struct Parameter;

struct SharedWeight {
  Shape shape;
  int bits = 0;                  // b: codes are 0 .. 2^b − 1
  std::vector<float> codebook;   // C, 2^b entries; C[0] == 0 (pruned / filler)
  std::vector<uint8_t> codes;    // I, one per weight, row-major like the weight; 0 where pruned

  int64_t numel() const { return static_cast<int64_t>(codes.size()); }
  int64_t nonzeros() const;      // weights with a code != 0
  Tensor decode() const;         // W = C[I] as floats (tests, and the conv layers we re-inflate)
};

// Clusters the surviving weights of w (mask[i] != 0, or w[i] != 0 when mask is null) into
// 2^bits − 1 centroids with kmeans_1d and assigns every weight its code. 1 <= bits <= 8.
SharedWeight share_weights(const Tensor& w, const Tensor* mask, int bits, KmeansInit init, Rng& rng);

// Eq. 3: dC[k] = Σ_{i: codes[i] = k} dW[i], for k in 0..k_codes−1 (dC is overwritten).
void centroid_gradients(const float* dW, const uint8_t* codes, int64_t n, int k_codes, float* dC);

// Trained quantization of a set of parameters: holds their codebooks and indices and
// fine-tunes the centroids. Use: backward as usual, then step() instead of an optimizer step
// for these parameters (biases and other parameters keep their own optimizer).
class TrainedQuantization {
 public:
  struct Layer {
    std::string name;
    Parameter* param;
    SharedWeight shared;
    std::vector<float> velocity;   // momentum buffer of the centroids
  };
  // Clusters p (honouring its mask) and writes W = C[I] into it.
  void add(const std::string& name, Parameter& p, int bits, KmeansInit init, Rng& rng);
  // For each layer: dC from the parameter's gradient (eq. 3), C_k ← C_k − lr·v_k with
  // v ← μv + dC (k >= 1; C_0 stays 0), then W ← C[I] and the weight's gradient is dropped.
  void step(float lr, float momentum = 0.0f);
  void write_weights();            // W ← C[I] for every layer
  std::vector<Layer>& layers() { return layers_; }
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  std::vector<Layer> layers_;
};

// ---- the codebook-index inference kernels ------------------------------------------------
// codes [out, in] row-major (uint8), codebook [k], x [in], bias [out] or nullptr, y [out] (written).
void codebook_matvec_scalar(const uint8_t* codes, const float* codebook, const float* x, const float* bias,
                            float* y, int64_t out, int64_t in);
void codebook_matvec_avx2(const uint8_t* codes, const float* codebook, const float* x, const float* bias,
                          float* y, int64_t out, int64_t in);
void codebook_matvec(const uint8_t* codes, const float* codebook, const float* x, const float* bias, float* y,
                     int64_t out, int64_t in);
// The "sum the inputs per centroid first, then k multiplies" variant (scalar; k <= 256).
void codebook_matvec_binsum(const uint8_t* codes, const float* codebook, int k, const float* x,
                            const float* bias, float* y, int64_t out, int64_t in);

}  // namespace mgf
