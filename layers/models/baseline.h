// layers/models/baseline.h — trained LeNet baselines, cached as checkpoints, so every
// compression chapter starts from the same trained network instead of retraining it.
//
// trained_baseline("lenet300" | "lenet5", data, quick):
//   1. loads checkpoints/<model>-<set>.mgf when it exists (written by a full run of
//      examples/training.cpp, or by an earlier call here);
//   2. else, when quick, loads checkpoints/<model>-<set>-quick-n<N>.mgf (N = the training
//      images the quick recipe sees, so examples that slice the data differently never load
//      each other's quick model), or trains the short recipe on that slice (seconds) and saves
//      it there — a quick model never takes the full model's name, so it cannot be mistaken
//      for the baseline;
//   3. else trains the full recipe (minutes) and saves checkpoints/<model>-<set>.mgf.
// The directory is `checkpoints/` under the working directory (the repository root when you
// run from there; git-ignored), or $MGF_CHECKPOINTS when set.
// The recipes (baseline_recipe) are the ones book/03-training.md reports: SGD with momentum
// 0.9, weight decay 5e-4, cosine decay after one warm-up epoch, batch 64, 20 epochs;
// η0 = 0.05 for LeNet-300-100, 0.01 for LeNet-5, which also trains on images jittered by up
// to 2 pixels.
// Book: book/03-training.md.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/data.h"
#include "engine/train.h"
#include "layers/sequential.h"

namespace mgf {

struct BaselineRecipe {
  int epochs = 20;
  int64_t batch = 64;
  float lr = 0.05f, momentum = 0.9f, weight_decay = 5e-4f;
  double warmup = 1.0;      // epochs of linear warm-up before the cosine decay
  int jitter = 0;           // pixels of random translation (0 = none)
  int64_t max_train = -1;   // train on the first N images only (quick runs); -1 = all
  int64_t max_test = -1;
};

BaselineRecipe baseline_recipe(const std::string& model, bool quick);

// "lenet300" → make_lenet_300_100(), "lenet5" → make_lenet5(); throws std::invalid_argument.
std::shared_ptr<Sequential> make_model(const std::string& model);

struct EpochLog {
  int epoch;          // 1-based
  float lr;
  EpochStats train;
  EvalResult test;
  EvalResult val;     // on data.val after each epoch; count 0 when the run holds out none
};

// Trains `model` with the recipe (seeded by `seed`) on data.train; calls on_epoch after each
// epoch's test evaluation (and validation, when data.val is not empty). Returns one log per epoch.
std::vector<EpochLog> train_with_recipe(Module& model, const DataSplits& data, const BaselineRecipe& r,
                                        uint64_t seed, const std::function<void(const EpochLog&)>& on_epoch = {});

std::string checkpoint_dir();   // $MGF_CHECKPOINTS or "checkpoints"
// <dir>/<model>-<set>.mgf, or for a quick model <dir>/<model>-<set>-quick-n<train_images>.mgf;
// with val_images > 0 (--val) "-val<N>" is appended before .mgf, so a baseline that never saw
// the held-out images is never confused with one trained on all of them.
std::string baseline_path(const std::string& model, const std::string& set, bool quick, int64_t train_images = 0,
                          int64_t val_images = 0);

// Prints "<what>: X % validation error (e / n)" when data.val holds images (--val); prints
// nothing otherwise, so a run without --val prints what it printed before the split existed.
void report_val_error(const std::string& what, Module& model, const DataSplits& data);

std::shared_ptr<Sequential> trained_baseline(const std::string& model, const DataSplits& data, bool quick);

}  // namespace mgf
