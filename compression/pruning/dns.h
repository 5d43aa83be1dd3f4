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
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/data.h"
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

// ---- a whole DNS run: surgery for a while, then the masks frozen ------------------------------
// The paper's procedure (§3, Algorithm 1) as one call: SGD (momentum 0.9) on the training set
// with a DnsPruner in the loop for `surgery_epochs` epochs (iter_stop = surgery_epochs × batches
// per epoch), then `epochs − surgery_epochs` more epochs with the masks frozen, then finish().
// The learning rate follows, per batch (engine/schedule.h):
//   run          one cosine from lr to 0 over all epochs;
//   rewind       the same cosine during surgery (so surgery ends with the same masks), then the
//                frozen-mask phase rewinds to finetune_lr and anneals to 0 again (the rewind that
//                helped magnitude pruning's retraining, book/14);
//   two_cosines  a cosine from lr to 0 over the surgery phase alone, then one from finetune_lr.
// Weight decay is `weight_decay` during surgery and `finetune_weight_decay` once the masks are
// frozen (only the kept weights matter then). The frozen-mask phase shifts the training images
// by up to `finetune_jitter` pixels; only when that differs from `jitter` does it get a loader
// of its own (its own random stream), so a run with equal jitters draws one stream throughout.
enum class DnsSchedule { run, rewind, two_cosines };

struct DnsTrainOptions {
  std::vector<float> c_rate{1.0f};   // one per prunable weight, or one for all (DnsPruner)
  DnsOptions surgery;                // γ, power, splice; iter_stop is set from surgery_epochs
  int epochs = 1, surgery_epochs = 1;
  float lr = 0.01f, finetune_lr = 0.01f;
  DnsSchedule schedule = DnsSchedule::run;
  float weight_decay = 1e-3f, finetune_weight_decay = 1e-3f;
  int jitter = 0, finetune_jitter = 0;
  int64_t batch = 64;
  uint64_t seed = 1;                 // batch order (seed), frozen-phase loader (+29), surgery draws (+17)
  std::string label = "dns";         // names the epochs in the progress output
};

// One point of the training curve: the state after `epoch` epochs (0: after the first surgery,
// before any step), its error on the evaluation set, and whether surgery was still on.
struct DnsCurvePoint {
  int epoch = 0;
  int64_t kept = 0, total = 0;
  double error = 0.0;                // fraction, on `eval`
  bool surgery_on = true;
  double compression() const { return static_cast<double>(total) / static_cast<double>(kept > 0 ? kept : 1); }
};

struct DnsLayerResult {
  std::string name;
  int64_t weights = 0, kept = 0;
  int64_t spliced = 0, cut = 0;      // mask changes 0 → 1 and 1 → 0 over the run
};

struct DnsTrainResult {
  double error = 0.0;                // on `eval`, after finish()
  int64_t errors = 0, kept = 0, total = 0;
  int64_t iter_stop = 0;
  std::vector<DnsLayerResult> layers;  // in prunable_parameters order
  std::vector<DnsCurvePoint> curve;    // epochs 0 .. epochs: one point per epoch plus the start
  double seconds = 0.0;
};

// Trains `net` (a trained dense model, no Parameter masks) with DNS on `train`, measuring the
// curve and the final error on `eval`; `on_point` (optional) sees each curve point as it is
// measured, for progress output. Afterwards `net` is an ordinary pruned model (Parameter masks
// = T). Throws std::invalid_argument on epochs < 1 or surgery_epochs < 0 (more surgery epochs than
// epochs is allowed: surgery then never stops), or on DnsPruner's own checks.
DnsTrainResult dns_train(Module& net, const Dataset& train, const Dataset& eval, const DnsTrainOptions& o,
                         const std::function<void(const DnsCurvePoint&)>& on_point = {});

}  // namespace mgf
