// compression/pruning/obd.h — Optimal Brain Damage: LeCun, Denker, Solla 1989, "Optimal Brain
// Damage" (NIPS 2). Book: book/10-obd.md.  Tests: make test SUITE=obd.
//
// OBD ranks parameters by the change of the training error their deletion would cause, from a
// second-order Taylor expansion at a minimum (gradient 0) with the off-diagonal Hessian terms
// dropped:   δE ≈ ½ Σ_k h_kk δu_k²,   so deleting u_k (δu_k = −u_k) costs the saliency
//   s_k = h_kk u_k² / 2.
// The diagonal h_kk comes from second-order backpropagation (the paper's formulas as ../shared/papers.md §7 restates them; equation numbers not verified), written
// here explicitly for the chapter's nets — a chain of fully connected layers, each a = W x + b,
// x' = f(a) with a smooth f — and their loss (DESIGN.md: no generic double-backward):
//   ∂²E/∂w_ij² = ∂²E/∂a_i² · x_j²                                  (a_i is linear in w_ij)
//   ∂²E/∂a_i²  = f′(a_i)² Σ_l w_li² ∂²E/∂a_l²  +  f″(a_i) ∂E/∂x_i    (cross terms dropped)
// Three forms are computed (HessianForm):
//   levenberg_marquardt  the f″ terms dropped: every h_kk >= 0 (the paper's choice);
//   diagonal             the recursion above, f″ terms kept (still drops the cross terms
//                        ∂²E/∂a_l∂a_m of the layer above);
//   exact                the true diagonal of the Hessian: the full matrix ∂²E/∂a∂aᵀ is carried
//                        down layer by layer, G = D Wᵀ G' W D + diag(f″ ⊙ ∂E/∂x) — cheap for
//                        the small nets, and what the finite-difference test checks.
// Everything here is in double: the nets are tiny (XOR, MONK's), the tests compare against
// central differences at 1e-3, and LeNet-300-100 converts its float layers in and out
// (dense_net_from(), dense_net_to()).
// Deliberately not here: the recursion through convolutional layers (obd_conv_hessian() is the
// shared-weight sum for one layer, given ∂²E/∂a²; the chapter's nets are fully connected), the
// mask on the float model (magnitude.h), retraining LeNet (retrain.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "layers/sequential.h"

namespace mgf {

// ---- the chapter's nets, in double -------------------------------------------------------------
enum class DenseActivation { identity, sigmoid, tanh, relu };
// squared_error: E = ½ Σ_o (x_o − d_o)² per sample (the paper's E up to its factor 2);
// softmax_cross_entropy: E = −Σ_o d_o log softmax(a)_o (the last layer's activation is identity).
enum class DenseLoss { squared_error, softmax_cross_entropy };

struct DenseLayer {
  int64_t in = 0, out = 0;
  std::vector<double> W;   // [out × in], row-major
  std::vector<double> b;   // [out]
  DenseActivation act = DenseActivation::identity;
};

// The parameters in one flat vector, layer by layer: W row-major, then b. Every function here
// that takes or returns "flat" vectors (h_kk, saliencies, masks, gradients) uses this order.
struct DenseNet {
  std::vector<DenseLayer> layers;
  DenseLoss loss = DenseLoss::squared_error;
  int64_t num_params() const;
  int64_t in() const { return layers.front().in; }
  int64_t out() const { return layers.back().out; }
  std::vector<double> flat() const;
  void set_flat(const std::vector<double>& u);  // throws std::invalid_argument on a size mismatch
  // Flat index of W[i][j] of layer l, and of b[i].
  int64_t weight_index(size_t l, int64_t i, int64_t j) const;
  int64_t bias_index(size_t l, int64_t i) const;
};

// A sizes list {17, 3, 1} → a net with random weights U(±1/√in) (Rng(seed)), `act` after every
// layer (the last too for squared_error; identity before softmax_cross_entropy).
DenseNet make_dense_net(const std::vector<int64_t>& sizes, DenseActivation act, DenseLoss loss, uint64_t seed);

// Samples: x [P × in], targets d [P × out] (one-hot for cross-entropy).
struct DenseData {
  int64_t P = 0;
  std::vector<double> x, d;
};

// Forward on one sample: every layer's input x (x[0] = the sample) and pre-activation a.
struct DenseTrace {
  std::vector<std::vector<double>> x, a;  // x: L+1 vectors, a: L vectors
};
DenseTrace dense_forward(const DenseNet& net, const double* sample);
std::vector<double> dense_output(const DenseNet& net, const double* sample);

// Mean over the samples of the per-sample E; and its gradient (flat).
double dense_loss(const DenseNet& net, const DenseData& data);
std::vector<double> dense_gradient(const DenseNet& net, const DenseData& data);
// Fraction of samples classified right: argmax for several outputs, output > 0.5 for one.
double dense_accuracy(const DenseNet& net, const DenseData& data);

// A Sequential of Linear layers, each followed by at most one ReLU / Sigmoid / Tanh module
// (LeNet-300-100's flatten is inside its forward), read into a DenseNet; dense_net_to writes
// the weights back (same architecture). Throws std::invalid_argument naming the module.
DenseNet dense_net_from(Sequential& model, DenseLoss loss);
void dense_net_to(const DenseNet& net, Sequential& model);

// Full-batch gradient descent with momentum and L2 weight decay (E + λ/2 Σ u²) on the
// parameters whose `mask` entry is 1 (empty mask: all); masked parameters stay exactly 0. Stops
// after `steps` or when dense_loss <= target_loss. Returns the steps taken. The small nets'
// trainer ("backprop with weight decay", Hassibi & Stork's BPWD baseline).
struct DenseTrainOptions {
  int steps = 1000;
  double lr = 0.5, momentum = 0.9, weight_decay = 0.0, target_loss = 0.0;
};
int dense_train(DenseNet& net, const DenseData& data, const std::vector<uint8_t>& mask, const DenseTrainOptions& o);

// ---- OBD -----------------------------------------------------------------------------------
enum class HessianForm { levenberg_marquardt, diagonal, exact };
std::string hessian_form_name(HessianForm f);

// h_kk for every parameter (flat), averaged over the samples: the Hessian of dense_loss.
std::vector<double> obd_diag_hessian(const DenseNet& net, const DenseData& data, HessianForm form);

// Weight sharing: a convolution's weight k is used by every output position, so its h_kk sums
// ∂²E/∂a² · x² over all the connections that use it (the paper's rule for shared weights).
// One sample: x [C × H × W], g [OC × OH × OW] = ∂²E/∂a² at each output position (its diagonal);
// returns h [OC × C × KH × KW] (the caller averages over samples). Zero padding `pad`, `stride`;
// OH = (H + 2·pad − KH)/stride + 1. Throws std::invalid_argument on sizes that do not match.
std::vector<double> obd_conv_hessian(const std::vector<double>& g, const std::vector<double>& x, int64_t C, int64_t H,
                                     int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t stride, int64_t pad);

// s_k = h_kk u_k² / 2 (the single-parameter term of the expansion).
std::vector<double> obd_saliency(const std::vector<double>& h, const std::vector<double>& u);

// Recipe step 5: among the parameters with mask 1 and candidate 1 (empty candidate: all), the
// `count` of lowest saliency get mask 0 (ties: lower index first; the caller zeroes the values,
// as dense_train() does on its first step, or set_flat). Returns
// the deleted flat indices in order of increasing saliency. Throws std::invalid_argument on a
// size mismatch or when fewer than `count` candidates are alive.
std::vector<int64_t> delete_lowest(const std::vector<double>& saliency, std::vector<uint8_t>& mask,
                                   const std::vector<uint8_t>& candidate, int64_t count);

}  // namespace mgf
