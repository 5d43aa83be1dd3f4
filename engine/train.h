// engine/train.h — the training loop every chapter uses: one epoch of mini-batch SGD on the
// cross-entropy, and an evaluation pass that counts test errors the way the papers do.
//
// train_epoch: for each batch (x, y): zero the gradients, L = cross_entropy(model(x), y),
// L.backward(), hooks.after_backward(), optimizer.step(), hooks.after_step(),
// hooks.schedule->step(optimizer) (the learning rate for the next batch). The hooks are
// where chapters plug in (DNS updates masks after the step, distillation sets hooks.loss). If L becomes NaN or ±Inf the loop stops with a
// std::runtime_error naming the batch and the learning rate — continuing would only
// overwrite the weights with NaN.
// Output: on a terminal (isatty(2)) a progress line rewritten in place — epoch label, batch,
// loss, running accuracy, images/s, time left; otherwise (a log file, CI) one line per epoch.
// evaluate: model.eval() (dropout off, batch-norm running statistics), NoGradGuard (no
// graph), errors counted out of every example — "0.80 %" on MNIST is 80 of 10 000.
// Book: book/03-training.md. Deliberately not here: the schedule's formulas (the caller owns a
// BatchSchedule, engine/schedule.h, and resets it), early stopping, mixed precision.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/data.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/schedule.h"
#include "layers/module.h"

namespace mgf {

struct TrainHooks {
  // If set, replaces cross_entropy(logits, y) as the batch loss. `first` is the index in the
  // loader's order() of the batch's first example, so a distillation loss can look up the
  // teacher's cached logits for exactly these examples (distill/kd.h train_epoch_kd).
  std::function<Var(const Var& logits, const std::vector<int32_t>& y, int64_t first)> loss;
  std::function<void()> after_backward;  // gradients are in the parameters; step not taken yet
  std::function<void()> after_step;      // the weights have just been updated
  BatchSchedule* schedule = nullptr;     // if set, stepped once per batch after after_step
};

struct EpochStats {
  double loss = 0.0;         // mean cross-entropy over the epoch's examples
  int64_t errors = 0;        // training examples misclassified (with the weights of their batch)
  int64_t count = 0;         // examples seen
  int64_t batches = 0;
  double seconds = 0.0;      // wall time of the epoch
  double error_rate() const { return count ? static_cast<double>(errors) / static_cast<double>(count) : 0.0; }
  double images_per_s() const { return seconds > 0 ? static_cast<double>(count) / seconds : 0.0; }
};

struct EvalResult {
  double loss = 0.0;         // mean cross-entropy
  int64_t errors = 0;        // top-1 mistakes
  int64_t count = 0;         // examples evaluated
  double seconds = 0.0;
  double error_rate() const { return count ? static_cast<double>(errors) / static_cast<double>(count) : 0.0; }
};

EpochStats train_epoch(Module& model, Optimizer& opt, DataLoader& loader, const TrainHooks& hooks = {},
                       const std::string& label = "");

EvalResult evaluate(Module& model, const Dataset& data, int64_t batch = 1000);

// Top-1 mistakes of logits [N, C] against N labels (ties go to the lowest class index).
int64_t count_errors(const Tensor& logits, const std::vector<int32_t>& labels);

// Progress output of train_epoch (on by default); tests turn it off.
void set_training_output(bool on);
bool training_output();

}  // namespace mgf
