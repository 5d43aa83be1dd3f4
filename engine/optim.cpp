// engine/optim.cpp — see optim.h for the update rules and their sources.
#include "engine/optim.h"

#include "engine/kernels/elementwise.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace mgf {

Optimizer::Optimizer(std::vector<Parameter*> params, float lr_) : lr(lr_), params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i] == nullptr)
      throw std::invalid_argument("Optimizer: parameter " + std::to_string(i) + " is null");
}

void Optimizer::zero_grad() {
  for (Parameter* p : params_) p->var.zero_grad();
}

const float* Optimizer::grad_of(const Parameter& p) {
  const Tensor& g = p.var.grad();
  if (g.empty()) return nullptr;
  if (g.shape() != p.var.value().shape())
    throw std::runtime_error("Optimizer: gradient of " + p.name + " has shape " + g.str() + ", expected " +
                             p.var.value().str());
  return g.data();
}

// Pruned weights must stay exactly zero. The gradient of a masked weight is already zero
// (layers use w ⊙ m), but momentum from earlier steps and the weight-decay term λw are not,
// so without this a pruned weight would drift back to life.
void Optimizer::apply_mask(Parameter& p) {
  if (!p.has_mask()) return;
  float* w = p.var.value().data();
  const float* m = p.mask.data();
  for (int64_t i = 0; i < p.mask.numel(); ++i) w[i] *= m[i];
}

// ---- SGD ---------------------------------------------------------------------------------
SGD::SGD(std::vector<Parameter*> params, SgdOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  if (o.nesterov && o.momentum <= 0.0f)
    throw std::invalid_argument("SGD: Nesterov needs momentum > 0, found " + std::to_string(o.momentum));
  velocity_.resize(params_.size());
}

void SGD::step() {
  const float mu = options.momentum, lambda = options.weight_decay, eta = lr;
  for (size_t k = 0; k < params_.size(); ++k) {
    Parameter& p = *params_[k];
    const float* g = grad_of(p);
    if (!g) continue;
    float* w = p.var.value().data();
    const int64_t n = p.var.value().numel();
    if (mu == 0.0f) {
      // Plain SGD needs no buffer: w ← w − η(g + λw).
      for (int64_t i = 0; i < n; ++i) w[i] -= eta * (g[i] + lambda * w[i]);
    } else {
      // The first step sets v = g (PyTorch), not v = (1 − 0)·0 + g — the same thing here
      // because the buffer starts at zero and there is no dampening.
      if (velocity_[k].empty()) velocity_[k] = Tensor::zeros_like(p.var.value());
      // g' = g + λw;  v ← μv + g';  w ← w − η(nesterov ? g' + μv : v) — one kernel, scalar + AVX2.
      sgd_momentum_step(w, velocity_[k].data(), g, n, eta, mu, lambda, options.nesterov);
    }
    apply_mask(p);
  }
  ++t_;
}

// ---- Adam / AdamW ------------------------------------------------------------------------
Adam::Adam(std::vector<Parameter*> params, AdamOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  m_.resize(params_.size());
  s_.resize(params_.size());
}

void Adam::step() {
  ++t_;
  const float b1 = options.beta1, b2 = options.beta2, eps = options.eps, lambda = options.weight_decay;
  // Bias corrections of Alg. 1: the moment estimates start at zero and are biased towards it.
  const float c1 = 1.0f - std::pow(b1, static_cast<float>(t_));
  const float c2 = 1.0f - std::pow(b2, static_cast<float>(t_));
  for (size_t k = 0; k < params_.size(); ++k) {
    Parameter& p = *params_[k];
    const float* g = grad_of(p);
    if (!g) continue;
    float* w = p.var.value().data();
    const int64_t n = p.var.value().numel();
    if (m_[k].empty()) {
      m_[k] = Tensor::zeros_like(p.var.value());
      s_[k] = Tensor::zeros_like(p.var.value());
    }
    float* m = m_[k].data();
    float* s = s_[k].data();
    for (int64_t i = 0; i < n; ++i) {
      float gi = g[i];
      if (decoupled_) w[i] -= lr * lambda * w[i];  // AdamW: decay the weight, not the gradient
      else gi += lambda * w[i];                    // Adam: L2 folded into the gradient
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      s[i] = b2 * s[i] + (1.0f - b2) * gi * gi;
      w[i] -= lr * (m[i] / c1) / (std::sqrt(s[i] / c2) + eps);
    }
    apply_mask(p);
  }
}

AdamW::AdamW(std::vector<Parameter*> params, AdamOptions o) : Adam(std::move(params), o) { decoupled_ = true; }

// ---- RMSProp -----------------------------------------------------------------------------
RMSProp::RMSProp(std::vector<Parameter*> params, RmsPropOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  if (!(o.alpha >= 0.0f && o.alpha < 1.0f))
    throw std::invalid_argument("RMSProp: expected 0 <= alpha < 1, found " + std::to_string(o.alpha));
  if (!(o.eps > 0.0f)) throw std::invalid_argument("RMSProp: expected eps > 0, found " + std::to_string(o.eps));
  s_.resize(params_.size());
}

void RMSProp::step() {
  const float a = options.alpha, eps = options.eps, lambda = options.weight_decay;
  for (size_t k = 0; k < params_.size(); ++k) {
    Parameter& p = *params_[k];
    const float* g = grad_of(p);
    if (!g) continue;
    float* w = p.var.value().data();
    const int64_t n = p.var.value().numel();
    if (s_[k].empty()) s_[k] = Tensor::zeros_like(p.var.value());   // s starts at 0 (PyTorch)
    float* s = s_[k].data();
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i] + lambda * w[i];
      s[i] = a * s[i] + (1.0f - a) * gi * gi;          // the running mean of g²
      w[i] -= lr * gi / (std::sqrt(s[i]) + eps);       // each weight's step divided by its RMS gradient
    }
    apply_mask(p);
  }
  ++t_;
}

// ---- max-norm ----------------------------------------------------------------------------
int64_t max_norm_constrain(Tensor& w, float c) {
  if (w.ndim() != 2)
    throw std::invalid_argument("max_norm_constrain: expected a 2-D weight [units, inputs], found " + w.str());
  if (!(c > 0.0f)) throw std::invalid_argument("max_norm_constrain: expected c > 0, found " + std::to_string(c));
  const int64_t rows = w.dim(0), cols = w.dim(1);
  int64_t clipped = 0;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = w.data() + r * cols;
    double sq = 0;
    for (int64_t j = 0; j < cols; ++j) sq += static_cast<double>(row[j]) * row[j];
    const double norm = std::sqrt(sq);
    // A row projected earlier can come out a rounding error above c; it is on the sphere already.
    if (norm <= static_cast<double>(c) * (1.0 + 1e-6)) continue;
    const float scale = static_cast<float>(c / norm);   // project back onto the sphere of radius c
    for (int64_t j = 0; j < cols; ++j) row[j] *= scale;
    ++clipped;
  }
  return clipped;
}

}  // namespace mgf
