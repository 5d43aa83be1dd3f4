// compression/lowrank/experiment.cpp — see experiment.h.
#include "compression/lowrank/experiment.h"

#include <algorithm>
#include <stdexcept>

#include "engine/checkpoint.h"
#include "engine/kernels/timing.h"
#include "engine/loader.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "layers/models/baseline.h"
#include "layers/models/lenet.h"

namespace mgf {

std::shared_ptr<Sequential> sub_sequential(const Sequential& m, const std::vector<std::string>& names,
                                           const std::map<std::string, std::shared_ptr<Module>>& replace) {
  auto out = std::make_shared<Sequential>();
  for (const std::string& n : names) {
    auto it = replace.find(n);
    if (it != replace.end()) {
      out->add(n, it->second);
      continue;
    }
    std::shared_ptr<Module> found;
    for (const auto& [name, child] : m.children())
      if (name == n) found = child;
    if (!found) throw std::invalid_argument("sub_sequential: no child named '" + n + "' in the model");
    out->add(n, found);
  }
  return out;
}

std::shared_ptr<Sequential> load_lenet5(const std::string& checkpoint, DataSplits& data, bool quick) {
  std::shared_ptr<Sequential> model;
  if (!checkpoint.empty()) {
    model = make_lenet5();
    try {
      load_checkpoint(checkpoint, *model);
    } catch (const std::exception& e) {   // name the flag, so the reader knows which path to fix
      throw std::runtime_error("--checkpoint " + checkpoint + ": " + e.what());
    }
  } else {
    model = trained_baseline("lenet5", data, quick);
  }
  model->eval();
  return model;
}

std::shared_ptr<Sequential> lenet5_head(const Sequential& model, std::shared_ptr<Module> fc1,
                                        std::shared_ptr<Module> fc2) {
  auto head = sub_sequential(model, {"flatten", "fc1", "relu", "fc2"}, {{"fc1", std::move(fc1)}, {"fc2", std::move(fc2)}});
  head->eval();
  return head;
}

Dataset cached_features(Module& prefix, const Dataset& d) {
  NoGradGuard ng;
  prefix.eval();
  Dataset out;
  out.labels = d.labels;
  out.num_classes = d.num_classes;
  const int64_t n = d.size(), batch = 500;
  const int64_t per = d.images.numel() / std::max<int64_t>(n, 1);
  for (int64_t s = 0; s < n; s += batch) {
    const int64_t b = std::min(batch, n - s);
    Shape sh = d.images.shape();
    sh[0] = b;
    Tensor x(sh);
    std::copy(d.images.data() + s * per, d.images.data() + (s + b) * per, x.data());
    const Tensor y = prefix.forward(Var(x)).value();
    if (out.images.empty()) {
      Shape os = y.shape();
      os[0] = n;
      out.images = Tensor(os);
    }
    const int64_t oper = y.numel() / b;
    std::copy(y.data(), y.data() + y.numel(), out.images.data() + s * oper);
  }
  return out;
}

FinetuneChoice finetune_choose_epochs(Module& head, const std::vector<Parameter*>& params, const Dataset& train,
                                      const Dataset& val, int max_epochs, float lr, uint64_t seed) {
  SgdOptions o;
  o.lr = lr;
  o.momentum = 0.9f;
  SGD opt(params, o);
  Rng rng(seed);
  DataLoader loader(train, 64, true, rng);
  FinetuneChoice c;
  std::vector<Tensor> best;   // the parameters at the chosen epoch
  auto snapshot = [&] {
    best.clear();
    for (Parameter* p : params) best.push_back(p->var.value().clone());
  };
  head.eval();
  c.val_error = evaluate(head, val).error_rate();
  c.val_per_epoch.push_back(c.val_error);
  snapshot();
  for (int e = 1; e <= max_epochs; ++e) {
    head.train();
    train_epoch(head, opt, loader);
    head.eval();
    const double v = evaluate(head, val).error_rate();
    c.val_per_epoch.push_back(v);
    if (v < c.val_error) {   // strictly lower: a tie keeps the shorter fine-tuning
      c.val_error = v;
      c.epochs = e;
      snapshot();
    }
  }
  for (size_t i = 0; i < params.size(); ++i) params[i]->var.value() = best[i];
  return c;
}

PairTiming time_pair(Module& dense, Module& factored, const Shape& in_shape, int64_t batch, int samples) {
  Shape s{batch};
  s.insert(s.end(), in_shape.begin(), in_shape.end());
  Tensor x(s);
  Rng rng(3);
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  NoGradGuard ng;
  Var xv(x);
  auto fd = [&] { (void)dense.forward(xv); };
  auto ff = [&] { (void)factored.forward(xv); };
  // This thread's CPU time (now_us(true)), not wall time: on a machine shared with other jobs a
  // long dense call is preempted more often than a short factored one, and wall time would count
  // that against it. Valid because the examples run with --threads 1 (the work stays on this thread).
  const int inner_d = calls_for(fd, 2000.0, 1000), inner_f = calls_for(ff, 2000.0, 1000);
  std::vector<double> sd, sf;
  for (int s = 0; s < samples; ++s) {
    double t0 = now_us(true);
    for (int i = 0; i < inner_d; ++i) fd();
    sd.push_back((now_us(true) - t0) / inner_d);
    t0 = now_us(true);
    for (int i = 0; i < inner_f; ++i) ff();
    sf.push_back((now_us(true) - t0) / inner_f);
  }
  return {median_of(sd), median_of(sf)};
}

}  // namespace mgf
