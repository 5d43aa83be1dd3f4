// compression/pruning/magnitude.h — magnitude pruning: Han, Pool, Tran, Dally 2015,
// "Learning both Weights and Connections for Efficient Neural Networks", §3 (three-step
// train → prune → retrain, iterated), §3.1 (regularisation), §3.2 (dropout adjustment).
// Book: book/14-magnitude_pruning.md.  Tests: make test SUITE=magnitude_pruning.
//
// A mask is a Tensor of 0/1 with the weight's shape (1 = connection kept). Setting it on a
// Parameter (prune_parameter) zeroes the pruned weights; layers use Parameter::effective() =
// w ⊙ mask, so a pruned weight is zero in forward AND receives zero gradient, and the
// optimizers multiply by the mask after each step, so it stays exactly zero while retraining.
// Deliberately not here: the sparse storage (compression/coding/csr.h), the sensitivity scan
// (compression/pruning/sensitivity.h), quantization and coding (deep_compression).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "layers/module.h"

namespace mgf {

// Population standard deviation of the entries of w (pruned entries are zeros and count).
double weight_std(const Tensor& w);

// Han §3: "the threshold is a quality parameter multiplied by the standard deviation of a
// layer's weights":  threshold = quality · std(w).
float std_threshold(const Tensor& w, float quality);

// mask_i = 1 where |w_i| > threshold, else 0 (a weight exactly at the threshold is pruned).
Tensor magnitude_mask(const Tensor& w, float threshold);

// Target-sparsity mode: keeps the round(keep_fraction · numel) entries of largest |w| (ties
// broken by lower index, so the count is exact). keep_fraction must be in [0, 1].
Tensor sparsity_mask(const Tensor& w, double keep_fraction);

// Sets p's mask (Parameter::set_mask zeroes the pruned weights). When p already has a mask
// the new one must not revive a pruned connection: pruning only removes (Han §3: a pruned
// connection is gone for good; DNS, compression/pruning/dns.h, is the method that splices).
void prune_parameter(Parameter& p, const Tensor& mask);

// Fraction of p's entries that are kept: ones of the mask, or nonzeros when there is no mask.
double density(const Parameter& p);
int64_t count_nonzero(const Tensor& t);

// The parameters a pruning method acts on: the weights of Linear and Conv2d layers (every
// parameter named "...weight" with 2 or 4 dims). Biases are left dense, as in Han's tables,
// which count weights.
std::vector<NamedParameter> prunable_parameters(Module& m);

// Han §3.2, Eq. (1)-(2): C_i = N_i · N_{i−1} connections of layer i; after pruning, the
// dropout rate of that layer should be  D_r = D_o · sqrt(C_ir / C_io)  (r = retrain,
// o = original), because fewer connections mean less co-adaptation to break. LeNet-300-100
// and LeNet-5 have no dropout layer, so our examples have nothing to adjust; this function
// and its test are here for models that do.
double adjusted_dropout_rate(double D_o, double C_io, double C_ir);

// Han §3.1: L1 regularisation (λ·Σ|w|) pushes weights to zero and gives better accuracy right
// after pruning, L2 (λ/2·Σw², the optimizers' weight_decay) gives better accuracy after
// retraining; we retrain with L2. This adds the L1 gradient λ·sign(w) to each parameter's
// gradient (call it after backward; pruned weights are zero and get nothing).
void add_l1_grad(const std::vector<Parameter*>& params, float lambda);

// The two choices of §3.1, by the names the example's --regularization flag takes:
// "l2" (the optimizer's weight decay) and "l1" (add_l1_grad after each backward).
// Throws std::invalid_argument naming what was expected and what was found.
enum class Regularization { l2, l1 };
Regularization parse_regularization(const std::string& name);

// One step of an iterative prune → retrain schedule in target-sparsity mode: the keep fraction
// of a layer after step s of S, going geometrically from 1 to `final_keep` (each step removes
// the same fraction of what is left: Han's iterative pruning, Fig. 5 right).
double iterative_keep_fraction(double final_keep, int step, int steps);

// The smallest |w| among the nonzero entries of w (0 when all are zero): right after pruning,
// the threshold in force. Divided by the dense layer's std it is Han's quality parameter.
float smallest_kept_magnitude(const Tensor& w);

// Nonzero weights and all weights, summed over `layers` (the numbers of Han's Tables 1-2).
struct KeptCount {
  int64_t kept = 0, total = 0;
};
KeptCount count_kept(const std::vector<NamedParameter>& layers);

}  // namespace mgf
