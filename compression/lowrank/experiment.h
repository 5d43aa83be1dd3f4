// compression/lowrank/experiment.h — the plumbing both low-rank examples share: cut a trained
// LeNet-5 into the layers below the approximated one (run once, their outputs cached as a
// Dataset of feature maps), the approximated layer and the layers above (fine-tuned on the cached
// features, as Denton §4 fine-tunes "the upper layers"); and a side-by-side timing of a dense
// layer against its factored replacement (one thread, interleaved medians, batch 1 and 64).
// Book: book/12-lowrank_svd.md, book/13-lowrank_separable.md.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/data.h"
#include "layers/sequential.h"

namespace mgf {

// A new Sequential holding the named children of m (shared, not copied), with any child whose
// name is a key of `replace` swapped for that module. Throws when a name is not a child of m.
std::shared_ptr<Sequential> sub_sequential(const Sequential& m, const std::vector<std::string>& names,
                                           const std::map<std::string, std::shared_ptr<Module>>& replace = {});

// The dense LeNet-5 both examples start from, and its data: MNIST (a 3 000 / 1 000 slice when
// quick) with the last `val` training images held out; the model from `checkpoint` when it is not
// empty (a read error names the examples' --checkpoint flag), else trained_baseline()
// (layers/models/baseline.h). Returned in eval mode.
std::shared_ptr<Sequential> load_lenet5(const std::string& checkpoint, DataSplits& data, bool quick);

// The layers above fc1's input of a LeNet-5 `model` ("flatten" and "relu" shared with it),
// with fc1 and fc2 given: the head chapter 12 fine-tunes on cached pool2 features.
std::shared_ptr<Sequential> lenet5_head(const Sequential& model, std::shared_ptr<Module> fc1,
                                        std::shared_ptr<Module> fc2);

// The outputs of `prefix` on every image of d (no gradients, batches of 500), as a Dataset
// with d's labels: the input of the layers above.
Dataset cached_features(Module& prefix, const Dataset& d);

// Fine-tuning on cached features: SGD with momentum 0.9, batch 64, a constant learning rate,
// training only `params` (the layers above, or also the factors) of `head`, for a number of
// epochs chosen on validation: `val` is evaluated before the first epoch and after each of up
// to `max_epochs`, and the parameters are left at the state with the lowest validation error
// (ties: fewer epochs), so 0 epochs is a possible choice. The test set never enters: the
// caller evaluates it once, on the state left here.
struct FinetuneChoice {
  int epochs = 0;                    // the chosen number of epochs
  double val_error = 0;              // validation error at that state
  std::vector<double> val_per_epoch; // validation error after 0, 1, ..., max_epochs epochs
};
FinetuneChoice finetune_choose_epochs(Module& head, const std::vector<Parameter*>& params, const Dataset& train,
                                      const Dataset& val, int max_epochs, float lr, uint64_t seed);

struct PairTiming {
  double dense_us = 0, factored_us = 0;   // median wall time per forward call
  double speedup() const { return factored_us > 0 ? dense_us / factored_us : 0; }
};
// dense and factored forward on the same random input [batch, in_shape...], no gradients,
// interleaved samples of ~2 ms, the median of this thread's CPU time per call (run with --threads 1).
PairTiming time_pair(Module& dense, Module& factored, const Shape& in_shape, int64_t batch, int samples);

}  // namespace mgf
