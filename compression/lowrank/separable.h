// compression/lowrank/separable.h — Jaderberg, Vedaldi, Zisserman 2014, "Speeding up
// Convolutional Neural Networks with Low Rank Expansions", §3.
//
// Scheme 2: the N filters W_n (C × d × d) of a layer are replaced by K vertical filters
// V_k (C × d × 1) and N horizontal filters H_n (K × 1 × d):
//     W_n^c(y, x) ≈ Σ_k h_n^k(x) · v_k^c(y)
// so the layer runs as a d×1 convolution C → K followed by a 1×d convolution K → N. Per output
// pixel the cost falls from d²CN to dK(C + N): theoretical speed-up dCN / (K(C + N)).
// Scheme 1: every input channel convolved with a basis of M separable d×d filters (each a d×1
// then a 1×d pass), the N outputs linear combinations of the C·M responses: cost
// CM(2d + N) per output pixel, speed-up d²N / (M(2d + N)) — derived in the book, implemented
// here only as its cost formula (an exercise).
// Two ways to fit the factors:
//   filter reconstruction  min Σ_{n,c} ‖W_n^c − Σ_k h_n^k (v_k^c)ᵀ‖²: the matricisation
//                          M[(c, y), (n, x)] = W_n^c(y, x) makes it a rank-K matrix problem,
//                          solved exactly by the truncated SVD or by ALS (denton.h als_lowrank);
//   data reconstruction    min Σ_i ‖W ∗ Z_i − H ∗ (V ∗ Z_i)‖² over the layer's training inputs
//                          Z_i, by a first-order optimiser from the filter solution (the
//                          error that matters is on the outputs, not on the filters).
// Book: book/13-lowrank_separable.md. Not here: Jaderberg's joint fine-tuning of several layers.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "layers/conv.h"
#include "layers/module.h"

namespace mgf {

class SeparableConv : public Module {
 public:
  SeparableConv(int64_t c, int64_t n, int64_t d, int64_t k);
  Var forward(const Var& x) override;   // [B, C, H, W] → [B, N, H − d + 1, W − d + 1]
  std::string type_name() const override { return "SeparableConv"; }
  const int64_t C, N, d, K;
  std::shared_ptr<Conv2d> vertical;     // weight [K, C, d, 1], no bias
  std::shared_ptr<Conv2d> horizontal;   // weight [N, K, 1, d], the original bias
};

enum class SeparableFit { svd, als };

// Filter reconstruction of a square, stride-1, unpadded, ungrouped conv. svd: the exact optimum;
// als: `als_iterations` of alternating least squares from a seeded start. Throws unless
// 1 <= k <= min(C·d, N·d).
std::shared_ptr<SeparableConv> separable_from_filters(const Conv2d& dense, int64_t k,
                                                      SeparableFit fit = SeparableFit::svd, int als_iterations = 50,
                                                      uint64_t seed = 1);

// The relative filter error ‖W − W̃‖_F / ‖W‖_F of a separable layer (W̃ built in a test-only way).
double separable_filter_error(const Conv2d& dense, const SeparableConv& f);

// Data reconstruction: Adam on the mean squared output difference ‖W∗Z − H∗(V∗Z)‖² / numel over
// the inputs z [n, C, H, W] (targets computed once by the dense layer), mini-batches of `batch`,
// `epochs` passes in a seeded order. Returns the mean loss of each epoch.
std::vector<double> separable_data_reconstruction(SeparableConv& f, Conv2d& dense, const Tensor& z, int epochs,
                                                  int64_t batch, float lr, uint64_t seed);

// Multiply–adds per output pixel (Jaderberg §3, ignoring borders).
inline int64_t conv_macs_per_pixel(int64_t c, int64_t n, int64_t d) { return d * d * c * n; }
inline int64_t scheme2_macs_per_pixel(int64_t c, int64_t n, int64_t d, int64_t k) { return d * k * (c + n); }
inline int64_t scheme1_macs_per_pixel(int64_t c, int64_t n, int64_t d, int64_t m) { return c * m * (2 * d + n); }
inline double scheme2_speedup(int64_t c, int64_t n, int64_t d, int64_t k) {
  return static_cast<double>(d * c * n) / static_cast<double>(k * (c + n));
}
inline double scheme1_speedup(int64_t c, int64_t n, int64_t d, int64_t m) {   // C cancels
  (void)c;
  return static_cast<double>(d * d * n) / static_cast<double>(m * (2 * d + n));
}

}  // namespace mgf
