// compression/pruning/dns.cpp — see dns.h (Guo, Yao, Chen 2016, §3; the authors' Caffe layer).
// Book: book/17-dns.md.
#include "compression/pruning/dns.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "compression/pruning/magnitude.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/schedule.h"
#include "engine/train.h"

namespace mgf {

DnsThresholds dns_thresholds(const Tensor& w, const Tensor& mask, float c_rate) {
  check_same_shape("dns_thresholds", w, mask);
  // μ = mean |w|, σ² = mean w² − μ² over the surviving entries (the Caffe layer's ncount).
  double sum_abs = 0.0, sum_sq = 0.0;
  int64_t n = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const double v = static_cast<double>(mask[i]) * w[i];
    if (v == 0.0) continue;
    sum_abs += std::fabs(v);
    sum_sq += v * v;
    ++n;
  }
  if (n == 0) return {};  // nothing survives: a = b = 0, the rule keeps everything pruned
  const double mu = sum_abs / static_cast<double>(n);
  const double sigma = std::sqrt(std::max(0.0, sum_sq / static_cast<double>(n) - mu * mu));
  const double t = std::max(mu + c_rate * sigma, 0.0);
  return {static_cast<float>(0.9 * t), static_cast<float>(1.1 * t)};
}

int64_t dns_update_mask(const Tensor& w, Tensor& T, const DnsThresholds& th, bool splice) {
  check_same_shape("dns_update_mask", w, T);
  int64_t changed = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const float a = std::fabs(w[i]);
    if (T[i] == 1.0f && a <= th.a) {
      T[i] = 0.0f;  // cut
      ++changed;
    } else if (splice && T[i] == 0.0f && a > th.b) {
      T[i] = 1.0f;  // spliced back
      ++changed;
    }
  }
  return changed;
}

double surgery_probability(int64_t iter, double gamma, double power) {
  if (iter < 0 || gamma < 0.0 || power < 0.0)
    throw std::invalid_argument("surgery_probability: expected iter, gamma, power >= 0, found " + std::to_string(iter) +
                                ", " + std::to_string(gamma) + ", " + std::to_string(power));
  return std::pow(1.0 + gamma * static_cast<double>(iter), -power);
}

// ---- dns_masked: Y = W ⊙ T;  dW += dY (straight-through on T) --------------------------------
Var dns_masked(const Var& w, const Tensor& T) {
  check_same_shape("dns_masked", w.value(), T);
  const Tensor& W = w.value();
  Tensor Y(W.shape());
  for (int64_t i = 0; i < W.numel(); ++i) Y[i] = W[i] * T[i];
  return make_result("dns_masked", std::move(Y), {w}, [wn = w.node()](Node& self) {
    // ∂L/∂(W⊙T) is handed to W unmasked: Eq. (2) updates every W_k, pruned or not.
    accumulate_grad(*wn, self.grad);
  });
}

// ---- DnsPruner ---------------------------------------------------------------------------------
DnsPruner::DnsPruner(Module& model, std::vector<float> c_rates, DnsOptions o, uint64_t seed) : o_(o), rng_(seed) {
  auto params = prunable_parameters(model);
  if (c_rates.size() != 1 && c_rates.size() != params.size())
    throw std::invalid_argument("DnsPruner: expected 1 or " + std::to_string(params.size()) +
                                " c_rates (one per prunable weight), found " + std::to_string(c_rates.size()));
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter* p = params[i].param;
    if (p->has_mask())
      throw std::invalid_argument("DnsPruner: expected " + params[i].name +
                                  " without a Parameter mask (DNS keeps its own T), found one");
    Layer L;
    L.name = params[i].name;
    L.p = p;
    L.W = p->var.value().clone();
    L.T = Tensor::ones(L.W.shape());
    // μ, σ once, at iteration 0, from the trained dense layer (Caffe: `if (std==0 && iter_==0)`).
    L.th = dns_thresholds(L.W, L.T, c_rates.size() == 1 ? c_rates[0] : c_rates[i]);
    layers_.push_back(std::move(L));
  }
  surgery();  // iteration 0: p(0) = 1, so the first mask is always computed before any forward
  apply_masks();
}

void DnsPruner::surgery() {
  if (iter_ >= o_.iter_stop) return;
  const double p = surgery_probability(iter_, o_.gamma, o_.power);
  for (auto& L : layers_) {
    if (!(rng_.uniform() < p)) continue;  // each layer draws its own r, as each Caffe layer does
    const Tensor before = L.T.clone();
    dns_update_mask(L.W, L.T, L.th, o_.splice);
    for (int64_t i = 0; i < L.T.numel(); ++i) {
      L.spliced += before[i] == 0.0f && L.T[i] == 1.0f;
      L.cut += before[i] == 1.0f && L.T[i] == 0.0f;
    }
  }
}

void DnsPruner::apply_masks() {
  for (auto& L : layers_) {
    float* v = L.p->var.value().data();
    for (int64_t i = 0; i < L.W.numel(); ++i) v[i] = L.W[i] * L.T[i];
  }
}

void DnsPruner::after_backward() {
  if (finished_) return;
  for (auto& L : layers_) {
    // The gradient in var.grad is ∂L/∂(W⊙T) for every entry (the layer saw W⊙T as a plain
    // weight). Put the dense W back so the optimizer updates it all.
    float* v = L.p->var.value().data();
    for (int64_t i = 0; i < L.W.numel(); ++i) v[i] = L.W[i];
    if (!o_.splice && !L.p->var.grad().empty()) {
      // Ablation: no straight-through — pruned weights get no gradient and stay frozen.
      float* g = L.p->var.grad().data();
      for (int64_t i = 0; i < L.W.numel(); ++i) g[i] *= L.T[i];
    }
  }
}

void DnsPruner::after_step() {
  if (finished_) return;
  ++iter_;
  for (auto& L : layers_) {
    const float* v = L.p->var.value().data();
    if (o_.splice) {
      for (int64_t i = 0; i < L.W.numel(); ++i) L.W[i] = v[i];
    } else {
      // Frozen means frozen: momentum and weight decay must not move a pruned weight either.
      for (int64_t i = 0; i < L.W.numel(); ++i)
        if (L.T[i] != 0.0f) L.W[i] = v[i];
    }
  }
  surgery();
  apply_masks();
}

void DnsPruner::finish() {
  if (finished_) return;
  apply_masks();
  for (auto& L : layers_) L.p->set_mask(L.T.clone());
  finished_ = true;
}

int64_t DnsPruner::kept() const {
  int64_t k = 0;
  for (const auto& L : layers_) k += count_nonzero(L.T);
  return k;
}

int64_t DnsPruner::total() const {
  int64_t t = 0;
  for (const auto& L : layers_) t += L.T.numel();
  return t;
}

// ---- dns_train -----------------------------------------------------------------------------------
DnsTrainResult dns_train(Module& net, const Dataset& train, const Dataset& eval, const DnsTrainOptions& o,
                         const std::function<void(const DnsCurvePoint&)>& on_point) {
  if (o.epochs < 1 || o.surgery_epochs < 0)
    throw std::invalid_argument("dns_train: expected epochs >= 1 and surgery_epochs >= 0, found " +
                                std::to_string(o.epochs) + " and " + std::to_string(o.surgery_epochs));
  DnsTrainResult res;
  Rng loader_rng(o.seed);
  DataLoader loader(train, o.batch, true, loader_rng, o.jitter);
  // The frozen-mask phase gets its own loader only when its jitter differs, with its own
  // random stream, so a run with equal jitters draws exactly what one loader draws.
  Rng ft_rng(o.seed + 29);
  std::unique_ptr<DataLoader> loader_ft;
  if (o.finetune_jitter != o.jitter) loader_ft = std::make_unique<DataLoader>(train, o.batch, true, ft_rng, o.finetune_jitter);
  DnsOptions dopt = o.surgery;
  dopt.iter_stop = static_cast<int64_t>(o.surgery_epochs) * loader.num_batches();
  res.iter_stop = dopt.iter_stop;
  DnsPruner dns(net, o.c_rate, dopt, o.seed + 17);
  SGD opt(net.parameters(), SgdOptions{o.lr, 0.9f, o.weight_decay, false});
  const bool restart = o.schedule != DnsSchedule::run && o.surgery_epochs < o.epochs;
  BatchSchedule sched(cosine_schedule(opt.lr, o.schedule == DnsSchedule::two_cosines ? o.surgery_epochs : o.epochs),
                      loader.num_batches());
  if (restart) {  // from the first batch after surgery: a second cosine from finetune_lr, clock at 0
    sched.restart_batch = static_cast<int64_t>(o.surgery_epochs) * loader.num_batches();
    sched.restart_shape = cosine_schedule(o.finetune_lr, std::max(1, o.epochs - o.surgery_epochs));
  }
  TrainHooks hooks;
  hooks.after_backward = [&] { dns.after_backward(); };
  hooks.after_step = [&] {
    dns.after_step();
    // Once the masks are frozen only the kept weights matter; the decay that helped surgery
    // cut can then be lowered so the small network fits the training set better.
    if (dns.iteration() >= dopt.iter_stop) opt.options.weight_decay = o.finetune_weight_decay;
  };
  hooks.schedule = &sched;  // stepped after after_step
  const auto t0 = std::chrono::steady_clock::now();
  auto measure = [&](int epoch) {
    DnsCurvePoint pt;
    pt.epoch = epoch;
    pt.kept = dns.kept();
    pt.total = dns.total();
    pt.error = evaluate(net, eval).error_rate();
    pt.surgery_on = dns.iteration() < dopt.iter_stop;
    res.curve.push_back(pt);
    if (on_point) on_point(pt);
  };
  measure(0);
  for (int e = 0; e < o.epochs; ++e) {
    train_epoch(net, opt, e >= o.surgery_epochs && loader_ft ? *loader_ft : loader, hooks,
                o.label + " epoch " + std::to_string(e + 1));
    measure(e + 1);
  }
  dns.finish();  // T becomes each Parameter's mask: an ordinary pruned model from here on
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const EvalResult fin = evaluate(net, eval);
  res.error = fin.error_rate();
  res.errors = fin.errors;
  res.kept = dns.kept();
  res.total = dns.total();
  for (const auto& L : dns.layers())
    res.layers.push_back({L.name, L.T.numel(), count_nonzero(L.T), L.spliced, L.cut});
  return res;
}

}  // namespace mgf
