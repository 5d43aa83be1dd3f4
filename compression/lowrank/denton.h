// compression/lowrank/denton.h — Denton, Zaremba, Bruna, LeCun, Fergus 2014, "Exploiting Linear
// Structure Within Convolutional Networks for Efficient Evaluation", §3:
//   fully connected layers  W ≈ U_K S_K V_Kᵀ (truncated SVD), run as two Linear layers
//                           in → K → out: (in + out)·K weights instead of in·out;
//   the data-covariance norm ‖W‖_data = ‖W Σ^{1/2}‖_F (Σ the covariance of the layer's inputs):
//                           the error that matters is on the outputs the data produces, so
//                           directions the inputs never visit may be approximated badly;
//   hidden convolutions     biclustering: input channels into G groups, output channels into H
//                           groups (k-means on the filters), a rank-K SVD of each of the G·H
//                           sub-tensors' matricisation N_h × (C_g·d·d); runs as a grouped d×d conv
//                           (G groups, H·K outputs each), a channel shuffle, a grouped 1×1 conv
//                           (H groups, G·K inputs each);
//   the K-term alternative  alternating least squares for A ≈ X Yᵀ (also Jaderberg's filter
//                           reconstruction, book/13-lowrank_separable.md).
// Everything here runs factored; the dense product of the factors exists only in tests.
// Book: book/12-lowrank_svd.md. Deliberately not here: the monochromatic first-layer
// approximation (needs colour input; an exercise in the book), the tensor (CP) K-term form.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "compression/lowrank/svd.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/module.h"

namespace mgf {

// Two Linear layers, "first" in → K without bias (= S_K V_Kᵀ, or its data-weighted form) and
// "second" K → out with the original bias (= U_K).
class FactoredLinear : public Module {
 public:
  FactoredLinear(int64_t in, int64_t out, int64_t k);
  Var forward(const Var& x) override;   // x [N, in] → [N, out]
  std::string type_name() const override { return "FactoredLinear"; }
  const int64_t in_features, out_features, rank;
  std::shared_ptr<Linear> first, second;
};

// Plain Frobenius: the best rank-K W̃ in ‖W − W̃‖_F (Eckart–Young). Throws unless 1 <= k <= min(in, out).
std::shared_ptr<FactoredLinear> factor_linear_svd(const Linear& layer, int64_t k);

// ‖·‖_data: minimises ‖(W − W̃) Σ^{1/2}‖_F with Σ = XᵀX / n the (uncentred) second moment of the
// layer's inputs x [n, in]. With Σ = Q Λ Qᵀ (sym_eig), the optimum is W̃ = (W Σ^{1/2})_K Σ^{-1/2};
// eigenvalues below ridge·λ_max are raised to it so Σ^{-1/2} exists (dead inputs, e.g. a ReLU
// that never fires). Throws on a wrong shape of x.
std::shared_ptr<FactoredLinear> factor_linear_data(const Linear& layer, int64_t k, const Tensor& x,
                                                   double ridge = 1e-6);
// The same in two steps, so a K sweep pays for Σ's eigen-decomposition and the SVD once.
struct LinearDataSvd {
  Svd b;                          // SVD of W Σ^{1/2}
  std::vector<double> inv_half;   // Σ^{-1/2}, in × in
};
LinearDataSvd prepare_linear_data(const Linear& layer, const Tensor& x, double ridge = 1e-6);
std::shared_ptr<FactoredLinear> factor_linear_data(const Linear& layer, int64_t k, const LinearDataSvd& prep);

// ‖W − first·second‖ on the outputs: the relative error ‖(W − W̃) xᵀ‖_F / ‖W xᵀ‖_F over x [n, in].
double linear_output_error(const Linear& dense, FactoredLinear& f, const Tensor& x);

// Alternating least squares for A [m × n] ≈ X Yᵀ with X [m × k], Y [n × k]: fix Y, solve the
// normal equations for X (X = A Y (YᵀY)⁻¹), then fix X and solve for Y; each half-step is an
// exact minimiser, so the loss ‖A − X Yᵀ‖_F² never increases. Starts from a seeded random Y.
struct AlsResult {
  std::vector<double> x, y;     // m × k, n × k, row-major
  std::vector<double> loss;     // ‖A − X Yᵀ‖_F² after each full iteration
};
AlsResult als_lowrank(const double* a, int64_t m, int64_t n, int64_t k, int iterations, uint64_t seed);

// k-means on row vectors with equal cluster sizes (n divisible by groups): Lloyd's iterations
// whose assignment step fills clusters greedily by distance up to capacity n / groups, so the
// groups can run as a grouped convolution. Returns the cluster of each row.
std::vector<int64_t> balanced_kmeans(const float* rows, int64_t n, int64_t dim, int64_t groups, uint64_t seed,
                                     int iterations = 30);

// A biclustered, rank-K-per-block convolution (Denton §3.2 "Biclustering approximation").
class BiclusteredConv : public Module {
 public:
  // Built from a dense conv (stride 1, no padding, groups 1); the original bias stays dense.
  BiclusteredConv(const Conv2d& dense, int64_t g, int64_t h, int64_t k, uint64_t seed);
  Var forward(const Var& x) override;   // [N, C, H, W] → [N, N_out, OH, OW]
  std::string type_name() const override { return "BiclusteredConv"; }
  const int64_t C, N, d, G, H, K;
  std::vector<int64_t> in_perm, out_perm;   // input channel order by group; out_perm[j] = new position of j
  std::vector<double> block_error;           // relative Frobenius error of each (g, h) sub-tensor
  std::shared_ptr<Conv2d> spatial;          // G groups, C/G → H·K each, d×d
  std::shared_ptr<Conv2d> combine;          // H groups, G·K → N/H each, 1×1, with the bias
  std::vector<int64_t> inverse_out;          // gather index restoring the original output order
  // Deployment: move both permutations into the neighbouring layers, so forward() runs only the
  // grouped d×d conv, the shuffle and the grouped 1×1. `producer` (the conv whose output feeds
  // this layer, through channel-wise layers only) gets its filters and bias reordered by in_perm;
  // `consumer` (a Linear reading this layer's output flattened, `per_channel` inputs per channel,
  // through channel-wise layers only) gets its input columns reordered to the clustered order.
  // Both are modified in place: pass copies. Throws on mismatched shapes.
  void fold_permutations(Conv2d& producer, Linear& consumer, int64_t per_channel);
  bool folded = false;
  // Weight count and multiply–adds per output pixel of the factored form (dense: C·N·d², same MACs).
  int64_t factored_macs_per_pixel() const { return d * d * C * H * K + G * K * N; }
};

// Reorders channels: y[:, i] = x[:, index[i]].
Var gather_channels(const Var& x, const std::vector<int64_t>& index);

}  // namespace mgf
