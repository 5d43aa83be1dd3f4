// compression/pruning/obs.h — Optimal Brain Surgeon: Hassibi & Stork 1993, "Second order
// derivatives for network pruning: Optimal Brain Surgeon" (NIPS 5). Book: book/11-obs.md.
// Tests: make test SUITE=obs.
//
// At a minimum the error grows as δE = ½ δwᵀ H δw. Deleting weight q is the constraint
// e_qᵀ δw + w_q = 0; the Lagrangian gives:
//   δw  = −(w_q / [H⁻¹]_qq) H⁻¹ e_q          — ALL weights move, to compensate
//   L_q = ½ w_q² / [H⁻¹]_qq                   — the increase of E, the saliency
// Each step deletes q* = argmin L_q. H is the outer-product (Gauss–Newton) approximation
//   H = (1/P) Σ_k X_k X_kᵀ,   X_k = ∂F(w, x_k)/∂w  (one X per output and sample),
// exact for the squared error at a zero-residual minimum; its inverse comes from the
// Sherman–Morrison recursion
//   H⁻¹_{m+1} = H⁻¹_m − H⁻¹_m X X ᵀ H⁻¹_m / (P + Xᵀ H⁻¹_m X),   H⁻¹_0 = α⁻¹ I,
// which ends at (αI + (1/P) Σ X Xᵀ)⁻¹. After deleting q the inverse of the Hessian restricted to
// the remaining weights is the downdate H⁻¹ ← H⁻¹ − H⁻¹e_q e_qᵀH⁻¹ / [H⁻¹]_qq (a Schur
// complement; row and column q become 0), so the next step needs no new inverse.
// Special cases: a diagonal H gives OBD's saliency h_qq w_q²/2 and moves only w_q; an isotropic H
// ranks by |w_q|, magnitude pruning.
//
// Layer-wise OBS (obs_prune_rows): for a linear layer the reconstruction error ‖WX − ŴX‖² has
// the Hessian 2XXᵀ — the same for every output row, and only in×in (784² for LeNet-300-100's
// fc1, where the full 266 200² Hessian cannot be held). Each row is pruned by OBS on that block,
// with one inverse per layer and a downdate per deleted weight. This is the idea later developed
// as "Optimal Brain Compression" (Frantar & Alistarh 2022).
// Deliberately not here: NETtalk; the paper's "iterate while L_q < threshold" on a full net
// with millions of weights (the inverse would not fit).
#pragma once
#include <cstdint>
#include <vector>

#include "compression/pruning/obd.h"

namespace mgf {

// X_k for one sample: ∂F_o/∂w for every output o, rows of the flat parameter order (obd.h):
// [out × num_params].
std::vector<double> dense_output_jacobian(const DenseNet& net, const double* sample);

// The Sherman–Morrison recursion over the m rows of X [m × n]: returns (αI + (1/P) Σ X Xᵀ)⁻¹
// [n × n]. P is the number of samples (several outputs per sample give several rows).
// Throws std::invalid_argument when alpha <= 0, P <= 0 or X's size is not m·n.
std::vector<double> sherman_morrison_inverse(const std::vector<double>& X, int64_t m, int64_t n, double P, double alpha);

// The same matrix built directly and inverted (Cholesky), to check the recursion against.
std::vector<double> outer_product_hessian(const std::vector<double>& X, int64_t m, int64_t n, double P, double alpha);
// Inverse of a symmetric positive-definite n×n matrix by Cholesky; throws std::runtime_error
// naming the pivot when A is not positive definite.
std::vector<double> spd_inverse(const std::vector<double>& A, int64_t n);

// H⁻¹ of the net's outputs over the samples, with the parameters whose mask is 0 left out of
// the Hessian (their rows and columns of H⁻¹ are 0): the recursion over every sample's
// Jacobian rows, restricted to the live parameters.
std::vector<double> obs_inverse_hessian(const DenseNet& net, const DenseData& data, const std::vector<uint8_t>& mask,
                                        double alpha);

// L_q = ½ w_q² / [H⁻¹]_qq for each live q (mask 1; empty mask: all); +infinity elsewhere.
std::vector<double> obs_saliency(const std::vector<double>& w, const std::vector<double>& Hinv, const std::vector<uint8_t>& mask);

// One OBS step on q: w += δw (all weights; w_q becomes exactly 0), H⁻¹ downdated. Returns L_q.
// Throws std::invalid_argument when [H⁻¹]_qq <= 0 (q already deleted).
double obs_delete(std::vector<double>& w, std::vector<double>& Hinv, int64_t q);

// ---- pruning a small net one weight at a time (the paper's MONK's and XOR procedure) -------
// Each step ranks the live parameters with `method` and deletes the lowest:
//   magnitude  |u_q| (zeroed);  obd  s_q = h_qq u_q²/2, LM form (zeroed);
//   obs        L_q with H⁻¹ recomputed at the current weights, δw applied to all weights.
// After a deletion the training accuracy must stay >= min_accuracy; when it does not, the live
// weights are retrained (dense_train with `retrain`, the mask held) and checked again; when
// that fails too, the last good state is restored and pruning stops. Returns what was kept.
enum class SaliencyMethod { magnitude, obd, obs };
const char* saliency_method_name(SaliencyMethod m);
struct SmallNetPruning {
  SaliencyMethod method = SaliencyMethod::obs;
  double alpha = 1e-4;          // H₀ = αI of the recursion (Hassibi & Stork: 1e-8 .. 1e-4)
  double min_accuracy = 1.0;    // on the training set
  DenseTrainOptions retrain;    // retraining after a deletion that broke the accuracy
};
struct SmallNetPruneResult {
  int64_t kept = 0, total = 0;
  int64_t retrains = 0;               // retraining phases that rescued a deletion
  std::vector<int64_t> deleted;       // flat indices, in order
  std::vector<double> train_accuracy; // after each kept deletion (index 0: before pruning)
  std::vector<double> train_loss;     // dense_loss on the training set, likewise
};
SmallNetPruneResult prune_small_net(DenseNet& net, const DenseData& train, std::vector<uint8_t>& mask,
                                    const SmallNetPruning& o);

// The index the method would delete next among the live parameters (for the XOR experiment),
// without deleting it.
int64_t choose_deletion(const DenseNet& net, const DenseData& train, const std::vector<uint8_t>& mask,
                        SaliencyMethod method, double alpha);

// ---- layer-wise OBS -------------------------------------------------------------------------
// The damped layer Hessian H = 2XXᵀ/N + λI, λ = damp · mean(diag(2XXᵀ/N)), from the layer's
// inputs x [N × in]; returns its inverse (in × in).
std::vector<double> layer_inverse_hessian(const std::vector<float>& x, int64_t N, int64_t in, double damp);

// Prunes every row of W [out × in] greedily by OBS with the layer inverse Hinv, each row down to
// keep[t] weights for every target t (keep sorted descending), compensating the remaining
// weights of the row; returns one pruned W per target (zeros where deleted).
std::vector<std::vector<float>> obs_prune_rows(const std::vector<float>& W, int64_t out, int64_t in,
                                               const std::vector<double>& Hinv, const std::vector<int64_t>& keep);

}  // namespace mgf
