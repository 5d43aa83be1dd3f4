// compression/pruning/retrain.h — what every prune → retrain chapter needs around its own
// saliency: a regulariser for the retraining phase, the retraining phase itself, and a snapshot
// of a model's weights and masks to start several variants from the same point.
// Han, Pool, Tran, Dally 2015 §3 (prune, then retrain the remaining connections) and §3.1
// (L1 vs L2 regularisation, Fig. 5). OBD, OBS and channel pruning change only how they pick
// what to prune; they retrain the same way. Book: book/14-magnitude_pruning.md.
// Tests: make test SUITE=magnitude_pruning.
// Deliberately not here: the saliencies (magnitude.h, and each chapter's own), the schedule's
// formula (engine/schedule.h), the data (the caller owns the loader).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compression/pruning/magnitude.h"
#include "engine/data.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/tensor.h"
#include "layers/module.h"
#include "layers/sequential.h"

namespace mgf {

// ---- retraining with a regulariser (Han §3.1) ----------------------------------------------------
// L2 is the optimizer's weight decay, set when the SGD is built; L1 adds λ·sign(w) to every
// gradient after backward (add_l1_grad()). Either acts on the same parameters (all of them).
struct Regulariser {
  Regularization kind = Regularization::l2;
  float strength = 0.0f;  // L2: the weight decay λ (of λ/2·Σw²);  L1: λ of λ·Σ|w|
  std::string name() const;  // "L2 0.0005"
};

// The retraining optimizer: SGD, momentum 0.9, weight decay = the L2 strength (0 with L1).
SGD retrain_sgd(Module& model, float lr, const Regulariser& reg);

// One retraining phase of `epochs` epochs. The rate starts at lr and, with `cosine`, anneals to
// 0 batch by batch over the phase (a BatchSchedule). With L1, add_l1_grad() runs between
// backward and step; a pruned weight is 0 (sign 0) and its gradient is masked, and the optimizer
// re-applies the mask after the step, so pruned weights stay exactly zero under either
// regulariser. `label` names the phase in the progress output ("label.1", "label.2", ...).
void retrain_phase(Module& model, SGD& opt, DataLoader& loader, float lr, bool cosine, int epochs,
                   const Regulariser& reg, const std::string& label);

// ---- snapshot / restore ------------------------------------------------------------------------
// Every parameter's value and mask (an empty Tensor: no mask), in model.parameters() order.
// restore() copies them back in place into the same model (or one of the same architecture);
// it throws std::invalid_argument if the parameter count or a shape differs.
struct Snapshot {
  std::vector<Tensor> values, masks;
};
Snapshot snapshot(Module& m);
void restore(Module& m, const Snapshot& s);

// ---- iterative prune -> retrain (Han §3, Tables 1-2) --------------------------------------------
// `steps` rounds of: prune every layer in `layers`, then retrain the survivors for
// epochs_per_step epochs (retrain_phase(), rate lr, cosine or flat, regulariser reg); then, if
// final_epochs > 0, one more retraining phase without pruning. Step s of S prunes layer l
//   target-sparsity mode (quality empty): to iterative_keep_fraction(final_keep[l], s, S);
//   quality mode: below the threshold quality[l] * std(dense layer l) * s / S, rising linearly.
// Each row: the kept / total weights after the step and test_error() after pruning and after
// retraining. quality_used[l] gets the last threshold in force / std of the dense layer.
struct IterativePruning {
  std::vector<double> final_keep, quality;  // one per layer; quality empty = target-sparsity mode
  int steps = 5, epochs_per_step = 2, final_epochs = 0;
  float lr = 0.01f;
  bool cosine = true;
  Regulariser reg;
  // Target-sparsity mode with another saliency (OBD, book/10-obd.md): given each layer's keep
  // fraction for this step, returns each layer's mask. Empty: magnitude (sparsity_mask of |w|).
  std::function<std::vector<Tensor>(const std::vector<double>& keep)> masks;
};
struct PruneStepRow {
  bool pruned = true;  // false: the final retraining phase
  int64_t kept = 0, total = 0;
  double error_pruned = 0.0, error_retrained = 0.0;
};
std::vector<PruneStepRow> iterative_prune_retrain(Module& model, const std::vector<NamedParameter>& layers,
                                                  DataLoader& loader, const IterativePruning& cfg,
                                                  const std::function<double()>& test_error,
                                                  std::vector<double>& quality_used);

// ---- Han Fig. 5: L1 vs L2, with and without retraining ----------------------------------------
// On a LeNet: error against the fraction of weights kept, for
//   (a) L1 or L2: fine-tune with the regulariser, prune once, no retraining;
//   (b) L1 or L2: the same pruning, then retrain with that regulariser;
//   (c) L2: iterative prune → retrain, down the same keep fractions in turn;
//   (d) L1 to prune, then L2 to retrain (Han: "did not beat" L2 in both phases).
// Every layer keeps the same fraction (target-sparsity mode, sparsity_mask()). The fine-tuning
// and each retraining phase last `epochs` epochs at rate lr (cosine or flat). Each seed draws its
// own batch order (batch 64, image shift `jitter`). Returns errors[variant][keep index][seed] on
// selection_set(data): data.val when the run holds one out, else data.test; index 0 of keeps is 1.0 (fine-tuned, unpruned). The model is restored at the end.
enum RegVariant { kL1Pruned, kL2Pruned, kL1Retrained, kL2Retrained, kL2Iterative, kL1ThenL2, kRegVariants };
std::vector<std::vector<std::vector<double>>> reg_compare(Sequential& model, const DataSplits& data, int jitter,
                                                          const std::vector<double>& keeps,
                                                          const std::vector<uint64_t>& seeds, float lr, bool cosine,
                                                          int epochs, const Regulariser& l1, const Regulariser& l2);

}  // namespace mgf
