// layers/models/baseline.cpp — see baseline.h.
#include "layers/models/baseline.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "engine/checkpoint.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/table.h"
#include "layers/models/lenet.h"

namespace mgf {

BaselineRecipe baseline_recipe(const std::string& model, bool quick) {
  BaselineRecipe r;
  if (model == "lenet300") {
    r.epochs = 20;
    r.lr = 0.05f;
  } else if (model == "lenet5") {
    // Caffe's LeNet solver rate. No batch-norm here: at 0.05 this net diverged in its
    // second epoch (loss ~1e25) on our first full run; 0.01 is what Caffe's lenet_solver uses.
    r.epochs = 20;
    r.lr = 0.01f;
    r.jitter = 2;
  } else {
    throw std::invalid_argument("unknown model \"" + model + "\", expected lenet300 or lenet5");
  }
  if (quick) {  // a few seconds: a slice of the data, two epochs, no warm-up
    r.epochs = model == "lenet300" ? 3 : 2;
    r.warmup = 0.0;
    r.max_train = model == "lenet300" ? 10000 : 3000;
    r.max_test = 2000;
  }
  return r;
}

std::shared_ptr<Sequential> make_model(const std::string& model) {
  if (model == "lenet300") return make_lenet_300_100();
  if (model == "lenet5") return make_lenet5();
  throw std::invalid_argument("unknown model \"" + model + "\", expected lenet300 or lenet5");
}

std::vector<EpochLog> train_with_recipe(Module& model, const DataSplits& data, const BaselineRecipe& r,
                                        uint64_t seed, const std::function<void(const EpochLog&)>& on_epoch) {
  const Dataset train = r.max_train >= 0 && r.max_train < data.train.size() ? data.train.slice(0, r.max_train) : data.train;
  const Dataset test = r.max_test >= 0 && r.max_test < data.test.size() ? data.test.slice(0, r.max_test) : data.test;
  Rng rng(seed);
  DataLoader loader(train, r.batch, true, rng, r.jitter);
  SGD opt(model.parameters(), {.lr = r.lr, .momentum = r.momentum, .weight_decay = r.weight_decay});
  LrSchedule cosine = cosine_schedule(r.lr, r.epochs);
  cosine.warmup = r.warmup;
  cosine.warmup_start = 0.1f;
  std::vector<EpochLog> logs;
  // The learning rate follows the schedule per batch (fractional epochs), so the warm-up
  // ramps within the first epoch instead of jumping once per epoch.
  BatchSchedule sched(cosine, loader.num_batches());
  TrainHooks hooks;
  hooks.schedule = &sched;
  sched.reset(opt);
  for (int e = 0; e < r.epochs; ++e) {
    EpochLog log;
    log.epoch = e + 1;
    log.lr = opt.lr;  // the rate at the start of the epoch
    log.train = train_epoch(model, opt, loader, hooks,
                            "epoch " + std::to_string(e + 1) + "/" + std::to_string(r.epochs));
    log.test = evaluate(model, test);
    if (data.val.size() > 0) log.val = evaluate(model, data.val);
    logs.push_back(log);
    if (on_epoch) on_epoch(log);
  }
  return logs;
}

void report_val_error(const std::string& what, Module& model, const DataSplits& data) {
  if (data.val.size() == 0) return;
  const EvalResult v = evaluate(model, data.val);
  std::printf("%s: %s validation error (%lld / %lld)\n", what.c_str(), fmt_pct(v.error_rate()).c_str(),
              static_cast<long long>(v.errors), static_cast<long long>(v.count));
  std::fflush(stdout);
}

std::string checkpoint_dir() {
  const char* env = std::getenv("MGF_CHECKPOINTS");
  return env && *env ? env : "checkpoints";
}

std::string baseline_path(const std::string& model, const std::string& set, bool quick, int64_t train_images,
                          int64_t val_images) {
  const std::string tag = (quick ? "-quick-n" + std::to_string(train_images) : "") +
                          (val_images > 0 ? "-val" + std::to_string(val_images) : "");
  return (std::filesystem::path(checkpoint_dir()) / (model + "-" + set + tag + ".mgf")).string();
}

std::shared_ptr<Sequential> trained_baseline(const std::string& model, const DataSplits& data, bool quick) {
  auto m = make_model(model);
  const std::string set = data.name.empty() ? "mnist" : data.name;
  const int64_t nval = data.val.size();
  std::vector<std::string> candidates = {baseline_path(model, set, false, 0, nval)};
  if (quick) {  // named by the images the quick recipe trains on: a slice of data.train
    const int64_t cap = baseline_recipe(model, true).max_train;
    candidates.push_back(
        baseline_path(model, set, true, cap < 0 ? data.train.size() : std::min(cap, data.train.size()), nval));
  }
  for (const auto& path : candidates)
    if (std::filesystem::exists(path)) {
      load_checkpoint(path, *m);
      if (training_output()) std::fprintf(stderr, "trained_baseline: loaded %s\n", path.c_str());
      return m;
    }
  const std::string path = candidates.back();
  if (training_output())
    std::fprintf(stderr, "trained_baseline: %s not found; training %s (%s recipe)\n", path.c_str(), model.c_str(),
               quick ? "quick" : "full");
  train_with_recipe(*m, data, baseline_recipe(model, quick), 1);
  save_checkpoint(path, *m);
  if (training_output()) std::fprintf(stderr, "trained_baseline: saved %s\n", path.c_str());
  return m;
}

}  // namespace mgf
