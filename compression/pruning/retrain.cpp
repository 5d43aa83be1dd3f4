// compression/pruning/retrain.cpp — see retrain.h.
#include "compression/pruning/retrain.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "engine/schedule.h"
#include "engine/train.h"

namespace mgf {

namespace {
// "8 %": the keep fraction in the progress labels.
std::string keep_label(double keep) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f %%", 100.0 * keep);
  return b;
}
}  // namespace

std::string Regulariser::name() const {
  char b[32];
  std::snprintf(b, sizeof b, "%s %g", kind == Regularization::l1 ? "L1" : "L2", static_cast<double>(strength));
  return b;
}

SGD retrain_sgd(Module& model, float lr, const Regulariser& reg) {
  return SGD(model.parameters(), SgdOptions{lr, 0.9f, reg.kind == Regularization::l2 ? reg.strength : 0.0f, false});
}

void retrain_phase(Module& model, SGD& opt, DataLoader& loader, float lr, bool cosine, int epochs,
                   const Regulariser& reg, const std::string& label) {
  BatchSchedule sched(cosine_schedule(lr, std::max(epochs, 1)), loader.num_batches());
  const std::vector<Parameter*> params = model.parameters();
  TrainHooks hooks;
  if (cosine) hooks.schedule = &sched;
  if (reg.kind == Regularization::l1) hooks.after_backward = [&] { add_l1_grad(params, reg.strength); };
  sched.reset(opt);  // η = lr: the cosine starts at its base
  for (int e = 0; e < epochs; ++e) train_epoch(model, opt, loader, hooks, label + "." + std::to_string(e + 1));
}

Snapshot snapshot(Module& m) {
  Snapshot s;
  for (Parameter* p : m.parameters()) {
    s.values.push_back(p->var.value().clone());
    s.masks.push_back(p->has_mask() ? p->mask.clone() : Tensor());
  }
  return s;
}

void restore(Module& m, const Snapshot& s) {
  const std::vector<Parameter*> ps = m.parameters();
  if (ps.size() != s.values.size() || s.masks.size() != s.values.size())
    throw std::invalid_argument("restore: the snapshot has " + std::to_string(s.values.size()) +
                                " parameters, the model " + std::to_string(ps.size()));
  for (size_t i = 0; i < ps.size(); ++i) {
    Tensor& v = ps[i]->var.value();
    if (v.shape() != s.values[i].shape())
      throw std::invalid_argument("restore: parameter " + std::to_string(i) + " has shape " + shape_str(v.shape()) +
                                  ", the snapshot " + shape_str(s.values[i].shape()));
    std::copy(s.values[i].data(), s.values[i].data() + v.numel(), v.data());
    if (s.masks[i].empty())
      ps[i]->clear_mask();
    else
      ps[i]->mask = s.masks[i].clone();
  }
}

std::vector<std::vector<std::vector<double>>> reg_compare(Sequential& model, const DataSplits& data, int jitter,
                                                          const std::vector<double>& keeps,
                                                          const std::vector<uint64_t>& seeds, float lr, bool cosine,
                                                          int epochs, const Regulariser& l1, const Regulariser& l2) {
  std::vector<std::vector<std::vector<double>>> err(kRegVariants, std::vector<std::vector<double>>(keeps.size()));
  const Snapshot base = snapshot(model);
  auto layers = prunable_parameters(model);
  // Errors on the validation split when the run holds one out (a choice between regularisers
  // is a choice), else on the test set (selection_set in engine/data.h).
  const Dataset& eval_images = selection_set(data).images;
  auto test_error = [&] { return evaluate(model, eval_images).error_rate(); };
  auto prune_all_to = [&](double keep) {
    for (auto& l : layers) prune_parameter(*l.param, sparsity_mask(l.param->var.value(), keep));
  };
  for (uint64_t seed : seeds) {
    for (const Regulariser* reg : {&l1, &l2}) {
      const bool is_l1 = reg->kind == Regularization::l1;
      const std::string tag = (is_l1 ? "L1" : "L2") + std::string(" seed ") + std::to_string(seed);
      Rng rng(seed);
      DataLoader loader(data.train, 64, true, rng, jitter);
      // Training with the regulariser (Han trains with it from the start; we fine-tune the
      // L2-trained baseline, so the L2 arm is the baseline trained a little longer).
      restore(model, base);
      SGD ft = retrain_sgd(model, lr, *reg);
      retrain_phase(model, ft, loader, lr, cosine, epochs, *reg, "fine-tune " + tag);
      const Snapshot tuned = snapshot(model);
      const double tuned_err = test_error();
      err[is_l1 ? kL1Pruned : kL2Pruned][0].push_back(tuned_err);
      err[is_l1 ? kL1Retrained : kL2Retrained][0].push_back(tuned_err);
      if (is_l1) err[kL1ThenL2][0].push_back(tuned_err);
      // Prune the fine-tuned weights once to `keep`, retrain with `r`: the errors before and after.
      auto prune_retrain = [&](double keep, const Regulariser& r, const std::string& label) {
        restore(model, tuned);
        prune_all_to(keep);
        const double pruned = test_error();
        SGD opt = retrain_sgd(model, lr, r);
        retrain_phase(model, opt, loader, lr, cosine, epochs, r, label + " keep " + keep_label(keep));
        return std::pair<double, double>{pruned, test_error()};
      };
      for (size_t k = 1; k < keeps.size(); ++k) {
        const auto [pruned, retrained] = prune_retrain(keeps[k], *reg, "retrain " + tag);  // (a), (b)
        err[is_l1 ? kL1Pruned : kL2Pruned][k].push_back(pruned);
        err[is_l1 ? kL1Retrained : kL2Retrained][k].push_back(retrained);
        if (is_l1) err[kL1ThenL2][k].push_back(prune_retrain(keeps[k], l2, "retrain " + tag + " then L2").second);  // (d)
      }
      if (is_l1) continue;
      // (c) iterative, from the same L2 fine-tuned weights: prune a little more, retrain, repeat.
      restore(model, tuned);
      err[kL2Iterative][0].push_back(tuned_err);
      SGD opt = retrain_sgd(model, lr, *reg);
      for (size_t k = 1; k < keeps.size(); ++k) {
        prune_all_to(keeps[k]);
        retrain_phase(model, opt, loader, lr, cosine, epochs, *reg, "iterative " + tag + " keep " + keep_label(keeps[k]));
        err[kL2Iterative][k].push_back(test_error());
      }
    }
  }
  restore(model, base);
  return err;
}

std::vector<PruneStepRow> iterative_prune_retrain(Module& model, const std::vector<NamedParameter>& layers,
                                                  DataLoader& loader, const IterativePruning& cfg,
                                                  const std::function<double()>& test_error,
                                                  std::vector<double>& quality_used) {
  if (cfg.final_keep.size() != layers.size() || (!cfg.quality.empty() && cfg.quality.size() != layers.size()))
    throw std::invalid_argument("iterative_prune_retrain: expected one keep fraction (and quality) per layer, " +
                                std::to_string(layers.size()) + " layers; found " +
                                std::to_string(cfg.final_keep.size()) + " keep fractions, " +
                                std::to_string(cfg.quality.size()) + " qualities");
  std::vector<double> layer_std;  // std of each trained dense layer: the scale of the quality threshold
  for (auto& l : layers) layer_std.push_back(weight_std(l.param->var.value()));
  SGD opt = retrain_sgd(model, cfg.lr, cfg.reg);
  quality_used.assign(layers.size(), 0.0);
  std::vector<PruneStepRow> rows;
  for (int s = 1; s <= cfg.steps + (cfg.final_epochs > 0 ? 1 : 0); ++s) {
    const bool prune_now = s <= cfg.steps;
    if (prune_now && cfg.masks && cfg.quality.empty()) {
      std::vector<double> keep;
      for (size_t l = 0; l < layers.size(); ++l) keep.push_back(iterative_keep_fraction(cfg.final_keep[l], s, cfg.steps));
      const std::vector<Tensor> masks = cfg.masks(keep);
      for (size_t l = 0; l < layers.size(); ++l) {
        prune_parameter(*layers[l].param, masks.at(l));
        quality_used[l] = smallest_kept_magnitude(layers[l].param->var.value()) / layer_std[l];
      }
    } else if (prune_now)
      for (size_t l = 0; l < layers.size(); ++l) {
        Tensor& w = layers[l].param->var.value();
        Tensor mask = cfg.quality.empty()
                          ? sparsity_mask(w, iterative_keep_fraction(cfg.final_keep[l], s, cfg.steps))
                          // quality mode: the threshold rises linearly to q·std(dense W)
                          : magnitude_mask(w, static_cast<float>(cfg.quality[l] * layer_std[l] * s / cfg.steps));
        prune_parameter(*layers[l].param, mask);
        // The threshold in force, in units of the dense layer's std: the quality parameter
        // this step amounts to.
        quality_used[l] = smallest_kept_magnitude(w) / layer_std[l];
      }
    PruneStepRow row;
    row.pruned = prune_now;
    row.error_pruned = test_error();
    // cosine: each step's retraining starts again at lr and anneals to 0, batch by batch
    retrain_phase(model, opt, loader, cfg.lr, cfg.cosine, prune_now ? cfg.epochs_per_step : cfg.final_epochs, cfg.reg,
                  "retrain " + std::to_string(s));
    row.error_retrained = test_error();
    const KeptCount c = count_kept(layers);
    row.kept = c.kept;
    row.total = c.total;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace mgf
