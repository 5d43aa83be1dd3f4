// compression/pruning/dns.h — Dynamic Network Surgery: Guo, Yao, Chen 2016, "Dynamic Network
// Surgery for Efficient DNNs", §3 (Eq. 1-3: forward with W ⊙ T, update all of W, mask rule h_k)
// and the authors' Caffe layers (CConvolution / CInnerProduct), whose exact behaviour we follow
// where the paper leaves details open (noted below).
// Book: book/17-dns.md.  Tests: make test SUITE=dns.
//
// Two ideas separate DNS from Han's prune-then-retrain:
//  * pruning ("surgery") and training are interleaved: every iteration, with probability
//    p(iter) = (1 + γ·iter)^(−power), each layer's mask T is recomputed from |W|;
//  * splicing: the gradient of L w.r.t. the masked weight W ⊙ T is applied to ALL of W
//    (straight-through on T), so a pruned weight keeps learning and comes back when |W|
//    grows past b_k.
// Deliberately not here: pruning biases (the Caffe layer masks biases too; we keep them
// dense and count weights only, as Han's tables do), and separate conv/FC phases.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "layers/module.h"

namespace mgf {

// ---- the pieces, as the paper states them ------------------------------------------------
struct DnsThresholds {
  float a = 0.0f, b = 0.0f;  // a_k = 0.9·max(μ + c·σ, 0), b_k = 1.1·max(μ + c·σ, 0)
};

// μ and σ are the mean and std of |w| over the layer's surviving entries (mask·w ≠ 0), as
// the Caffe layer computes them ONCE, at iteration 0; c is the layer's c_rate.
DnsThresholds dns_thresholds(const Tensor& w, const Tensor& mask, float c_rate);

// The mask rule h_k (Eq. 3), with the Caffe layer's comparisons:
//   T = 0            if |w| <= a_k   (a kept weight exactly at a_k is cut)
//   T = 1            if |w| >  b_k   (a pruned weight exactly at b_k stays pruned)
//   T unchanged      otherwise       (the hysteresis band keeps the mask from flapping)
// The paper writes the band as a_k <= |w| < b_k; only the two boundary points differ.
// With splice = false (the ablation) the second line is dropped: pruned weights never return.
// Returns the number of mask entries that changed.
int64_t dns_update_mask(const Tensor& w, Tensor& T, const DnsThresholds& th, bool splice = true);

// Surgery probability: p(iter) = (1 + γ·iter)^(−power). Monotone non-increasing for γ, power >= 0.
double surgery_probability(int64_t iter, double gamma, double power);

// The DNS masked-weight op: forward  W ⊙ T;  backward  dW += dY  (NOT dY ⊙ T).
// T is a constant 0/1 tensor with w's shape. This is the straight-through estimator on the
// mask, Eq. (2) of the paper: ∂L/∂(W⊙T) is used as the update of W.
Var dns_masked(const Var& w, const Tensor& T);

// ---- the training-loop driver --------------------------------------------------------------
struct DnsOptions {
  double gamma = 1e-4;        // surgery probability decay (the README's LeNet-5 ip1 value)
  double power = 1.0;
  int64_t iter_stop = 14000;  // no surgery from this iteration on (the mask is then frozen)
  bool splice = true;         // false: the ablation, pruned weights frozen and never spliced
};

// Drives DNS on the prunable weights of a model (Linear and Conv2d weights) with any layer
// code: the layers keep calling Parameter::effective(), and the straight-through gradient is
// obtained by swapping values around backward:
//   before the forward     var holds W ⊙ T            (the layer computes with the masked W)
//   after_backward()       var ← W (dense), grad kept  (grad = ∂L/∂(W⊙T) for every entry)
//   optimizer step         updates all of W            (splicing)
//   after_step()           maybe recompute T, then var ← W ⊙ T again
// The parameters must carry no Parameter::mask while DNS runs (the optimizer would re-mask
// the dense W). finish() installs T as the Parameter mask so evaluation, further fine-tuning,
// CSR export and deep_compression see an ordinary pruned model.
class DnsPruner {
 public:
  // c_rates: one per prunable parameter (in prunable_parameters order), or one for all.
  DnsPruner(Module& model, std::vector<float> c_rates, DnsOptions o, uint64_t seed);

  void after_backward();      // hook: TrainHooks::after_backward
  void after_step();          // hook: TrainHooks::after_step
  void finish();              // T becomes each parameter's mask; the pruner is done

  int64_t iteration() const { return iter_; }
  int64_t kept() const;       // Σ ones of T
  int64_t total() const;      // Σ numel of the pruned weights
  struct Layer {
    std::string name;
    Parameter* p;
    Tensor W;                 // the dense weights (all of W, pruned entries included)
    Tensor T;                 // the mask
    DnsThresholds th;
    int64_t spliced = 0;      // how many 0 → 1 changes so far (0 when splice = false)
    int64_t cut = 0;          // how many 1 → 0 changes so far
  };
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  void surgery();             // one Bernoulli(p(iter)) draw per layer, as the Caffe layers do
  void apply_masks();         // var ← W ⊙ T
  std::vector<Layer> layers_;
  DnsOptions o_;
  Rng rng_;
  int64_t iter_ = 0;
  bool finished_ = false;
};

}  // namespace mgf
