// compression/quantization/weight_sharing.cpp — see weight_sharing.h (Deep Compression §3).
#include "compression/quantization/weight_sharing.h"

#include <stdexcept>

#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "layers/module.h"

#if MGF_HAVE_X86
#include <immintrin.h>

#include "engine/kernels/simd.h"
#endif

namespace mgf {

int64_t SharedWeight::nonzeros() const {
  int64_t nz = 0;
  for (uint8_t c : codes) nz += c != 0;
  return nz;
}

Tensor SharedWeight::decode() const {
  Tensor w(shape);
  for (int64_t i = 0; i < numel(); ++i) w[i] = codebook[codes[i]];
  return w;
}

SharedWeight share_weights(const Tensor& w, const Tensor* mask, int bits, KmeansInit init, Rng& rng) {
  if (bits < 1 || bits > 8)
    throw std::invalid_argument("share_weights: expected 1 <= bits <= 8 (uint8 codes), found " + std::to_string(bits));
  if (mask && mask->shape() != w.shape())
    throw std::invalid_argument("share_weights: expected mask " + w.str() + ", found " + mask->str());
  SharedWeight s;
  s.shape = w.shape();
  s.bits = bits;
  const int k_codes = 1 << bits;
  s.codebook.assign(static_cast<size_t>(k_codes), 0.0f);
  s.codes.assign(static_cast<size_t>(w.numel()), 0);
  auto kept = [&](int64_t i) { return mask ? (*mask)[i] != 0.0f : w[i] != 0.0f; };
  std::vector<float> survivors;
  for (int64_t i = 0; i < w.numel(); ++i)
    if (kept(i)) survivors.push_back(w[i]);
  if (survivors.empty()) return s;   // everything pruned: all codes 0
  // Eq. 1 on the surviving weights only: the pruned zeros are code 0, not a cluster.
  Kmeans1d km = kmeans_1d(survivors.data(), static_cast<int64_t>(survivors.size()), k_codes - 1, init, rng);
  for (int j = 0; j < k_codes - 1; ++j) s.codebook[j + 1] = km.centroids[j];
  for (int64_t i = 0, t = 0; i < w.numel(); ++i)
    if (kept(i)) s.codes[i] = static_cast<uint8_t>(1 + km.assignment[t++]);
  return s;
}

void centroid_gradients(const float* dW, const uint8_t* codes, int64_t n, int k_codes, float* dC) {
  // Fig. 3 of the paper: colour the gradient matrix by index, sum each colour.
  for (int k = 0; k < k_codes; ++k) dC[k] = 0.0f;
  for (int64_t i = 0; i < n; ++i) dC[codes[i]] += dW[i];
}

void TrainedQuantization::add(const std::string& name, Parameter& p, int bits, KmeansInit init, Rng& rng) {
  Layer l;
  l.name = name;
  l.param = &p;
  l.shared = share_weights(p.var.value(), p.has_mask() ? &p.mask : nullptr, bits, init, rng);
  l.velocity.assign(l.shared.codebook.size(), 0.0f);
  layers_.push_back(std::move(l));
  write_weights();
}

void TrainedQuantization::write_weights() {
  for (auto& l : layers_) {
    float* w = l.param->var.value().data();
    for (int64_t i = 0; i < l.shared.numel(); ++i) w[i] = l.shared.codebook[l.shared.codes[i]];
  }
}

// The weights' own gradient is read, grouped into dC (eq. 3) and then dropped: the shared
// weights are never updated individually, only through their centroid, so every weight with
// index k moves by the same amount and the layer keeps at most 2^b − 1 distinct nonzero values.
void TrainedQuantization::step(float lr, float momentum) {
  for (auto& l : layers_) {
    Tensor& g = l.param->var.grad();
    if (g.empty()) continue;   // no gradient reached this layer
    const int k_codes = static_cast<int>(l.shared.codebook.size());
    std::vector<float> dC(static_cast<size_t>(k_codes));
    centroid_gradients(g.data(), l.shared.codes.data(), l.shared.numel(), k_codes, dC.data());
    for (int k = 1; k < k_codes; ++k) {   // k = 0 is the pruned zero: never trained
      l.velocity[k] = momentum * l.velocity[k] + dC[k];
      l.shared.codebook[k] -= lr * l.velocity[k];
    }
    l.param->var.zero_grad();
  }
  write_weights();
}

// ---- codebook_matvec: y_o = b_o + Σ_i C[I_oi]·x_i ------------------------------------------
void codebook_matvec_scalar(const uint8_t* codes, const float* codebook, const float* x, const float* bias,
                            float* y, int64_t out, int64_t in) {
  for (int64_t o = 0; o < out; ++o) {
    const uint8_t* row = codes + o * in;   // I[o, :]
    float acc = 0.0f;
    for (int64_t i = 0; i < in; ++i) acc += codebook[row[i]] * x[i];
    y[o] = (bias ? bias[o] : 0.0f) + acc;
  }
}

#if MGF_HAVE_X86

// Two accumulators of 8 lanes: the FMA latency (4 cycles) would otherwise serialise the loop.
// The gather (vpgatherdd) is the cost: about one weight per cycle on fc1 (measured in the
// example), against 8 MACs per FMA instruction for dense floats.
MGF_AVX2 void codebook_matvec_avx2(const uint8_t* codes, const float* codebook, const float* x, const float* bias,
                                   float* y, int64_t out, int64_t in) {
  for (int64_t o = 0; o < out; ++o) {
    const uint8_t* row = codes + o * in;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();   // two chains hide FMA latency
    int64_t i = 0;
    for (; i + 16 <= in; i += 16) {
      // w = C[I[o, i..i+7]]: 8 bytes → 8 int32 lanes → one gather from the codebook
      __m256i i0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i)));
      __m256i i1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i + 8)));
      __m256 w0 = _mm256_i32gather_ps(codebook, i0, 4);
      __m256 w1 = _mm256_i32gather_ps(codebook, i1, 4);
      acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);       // acc += w·x
      acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
    }
    for (; i + 8 <= in; i += 8) {
      __m256i i0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i)));
      acc0 = _mm256_fmadd_ps(_mm256_i32gather_ps(codebook, i0, 4), _mm256_loadu_ps(x + i), acc0);
    }
    float acc = hsum8_avx2(_mm256_add_ps(acc0, acc1));
    for (; i < in; ++i) acc += codebook[row[i]] * x[i];   // the ragged tail, as in the scalar code
    y[o] = (bias ? bias[o] : 0.0f) + acc;
  }
}
#else
void codebook_matvec_avx2(const uint8_t* codes, const float* codebook, const float* x, const float* bias, float* y,
                          int64_t out, int64_t in) {
  codebook_matvec_scalar(codes, codebook, x, bias, y, out, in);
}
#endif

void codebook_matvec(const uint8_t* codes, const float* codebook, const float* x, const float* bias, float* y,
                     int64_t out, int64_t in) {
  if (use_avx2()) return codebook_matvec_avx2(codes, codebook, x, bias, y, out, in);
  codebook_matvec_scalar(codes, codebook, x, bias, y, out, in);
}

// ---- codebook_matvec_binsum: y_o = b_o + Σ_k C_k·(Σ_{i: I_oi = k} x_i) ----------------------
void codebook_matvec_binsum(const uint8_t* codes, const float* codebook, int k, const float* x, const float* bias,
                            float* y, int64_t out, int64_t in) {
  // Four copies of the bins, used round-robin: consecutive inputs that fall in the same bin
  // would otherwise wait on each other's load-add-store through memory.
  float bin[4][256];
  for (int64_t o = 0; o < out; ++o) {
    const uint8_t* row = codes + o * in;
    for (int c = 0; c < 4; ++c)
      for (int j = 0; j < k; ++j) bin[c][j] = 0.0f;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {   // additions only
      bin[0][row[i]] += x[i];
      bin[1][row[i + 1]] += x[i + 1];
      bin[2][row[i + 2]] += x[i + 2];
      bin[3][row[i + 3]] += x[i + 3];
    }
    for (; i < in; ++i) bin[0][row[i]] += x[i];
    float acc = 0.0f;
    for (int j = 1; j < k; ++j)     // k − 1 multiplies (C_0 = 0)
      acc += codebook[j] * (bin[0][j] + bin[1][j] + bin[2][j] + bin[3][j]);
    y[o] = (bias ? bias[o] : 0.0f) + acc;
  }
}

}  // namespace mgf
