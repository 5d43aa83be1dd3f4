// compression/pruning/magnitude.cpp — see magnitude.h (Han et al. 2015, §3).
// Book: book/14-magnitude_pruning.md.
#include "compression/pruning/magnitude.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace mgf {

double weight_std(const Tensor& w) {
  const int64_t n = w.numel();
  if (n == 0) throw std::invalid_argument("weight_std: expected a non-empty tensor, found " + w.str());
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += w[i];
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = 0; i < n; ++i) var += (w[i] - mean) * (w[i] - mean);
  return std::sqrt(var / static_cast<double>(n));
}

float std_threshold(const Tensor& w, float quality) {
  if (!(quality >= 0.0f)) throw std::invalid_argument("std_threshold: expected quality >= 0, found " + std::to_string(quality));
  return static_cast<float>(quality * weight_std(w));
}

Tensor magnitude_mask(const Tensor& w, float threshold) {
  Tensor m(w.shape());
  for (int64_t i = 0; i < w.numel(); ++i) m[i] = std::fabs(w[i]) > threshold ? 1.0f : 0.0f;
  return m;
}

Tensor sparsity_mask(const Tensor& w, double keep_fraction) {
  if (!(keep_fraction >= 0.0 && keep_fraction <= 1.0))
    throw std::invalid_argument("sparsity_mask: expected keep_fraction in [0, 1], found " + std::to_string(keep_fraction));
  const int64_t n = w.numel();
  const int64_t keep = std::llround(keep_fraction * static_cast<double>(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  // The `keep` largest |w|; equal magnitudes go to the lower index, so the count is exact.
  std::nth_element(order.begin(), order.begin() + keep, order.end(), [&](int64_t a, int64_t b) {
    const float fa = std::fabs(w[a]), fb = std::fabs(w[b]);
    return fa != fb ? fa > fb : a < b;
  });
  Tensor m(w.shape());
  for (int64_t i = 0; i < keep; ++i) m[order[static_cast<size_t>(i)]] = 1.0f;
  return m;
}

void prune_parameter(Parameter& p, const Tensor& mask) {
  if (mask.shape() != p.var.shape())
    throw std::invalid_argument("prune_parameter(" + p.name + "): expected mask " + p.var.value().str() + ", found " +
                                mask.str());
  Tensor m = mask.clone();
  // Pruning only removes: a connection pruned earlier stays pruned (Han's retraining keeps the
  // surviving connections and never re-grows the others).
  if (p.has_mask())
    for (int64_t i = 0; i < m.numel(); ++i) m[i] *= p.mask[i];
  p.set_mask(std::move(m));  // validates 0/1 entries and zeroes the pruned weights
}

int64_t count_nonzero(const Tensor& t) {
  int64_t c = 0;
  for (int64_t i = 0; i < t.numel(); ++i) c += t[i] != 0.0f;
  return c;
}

double density(const Parameter& p) {
  const Tensor& t = p.has_mask() ? p.mask : p.var.value();
  if (t.numel() == 0) return 0.0;
  return static_cast<double>(count_nonzero(t)) / static_cast<double>(t.numel());
}

std::vector<NamedParameter> prunable_parameters(Module& m) {
  std::vector<NamedParameter> out;
  for (auto& np : m.named_parameters()) {
    const int nd = np.param->var.value().ndim();
    const bool is_weight = np.name.size() >= 6 && np.name.compare(np.name.size() - 6, 6, "weight") == 0;
    if (is_weight && (nd == 2 || nd == 4)) out.push_back(np);
  }
  return out;
}

double adjusted_dropout_rate(double D_o, double C_io, double C_ir) {
  if (!(D_o >= 0.0 && D_o < 1.0) || !(C_io > 0.0) || !(C_ir >= 0.0 && C_ir <= C_io))
    throw std::invalid_argument("adjusted_dropout_rate: expected 0 <= D_o < 1 and 0 <= C_ir <= C_io, found D_o = " +
                                std::to_string(D_o) + ", C_io = " + std::to_string(C_io) + ", C_ir = " +
                                std::to_string(C_ir));
  return D_o * std::sqrt(C_ir / C_io);  // Han Eq. (2)
}

void add_l1_grad(const std::vector<Parameter*>& params, float lambda) {
  for (Parameter* p : params) {
    if (p->var.grad().empty()) continue;  // no gradient reached it this step
    const Tensor& w = p->var.value();
    float* g = p->var.grad().data();
    for (int64_t i = 0; i < w.numel(); ++i) g[i] += lambda * static_cast<float>((w[i] > 0.0f) - (w[i] < 0.0f));
  }
}

Regularization parse_regularization(const std::string& name) {
  if (name == "l2") return Regularization::l2;
  if (name == "l1") return Regularization::l1;
  throw std::invalid_argument("parse_regularization: expected l2 or l1, found '" + name + "'");
}

double iterative_keep_fraction(double final_keep, int step, int steps) {
  if (!(final_keep > 0.0 && final_keep <= 1.0) || steps < 1 || step < 0 || step > steps)
    throw std::invalid_argument("iterative_keep_fraction: expected 0 < final_keep <= 1 and 0 <= step <= steps, found " +
                                std::to_string(final_keep) + ", step " + std::to_string(step) + " of " +
                                std::to_string(steps));
  return std::pow(final_keep, static_cast<double>(step) / steps);
}

float smallest_kept_magnitude(const Tensor& w) {
  float thr = 0.0f;
  bool first = true;
  for (int64_t i = 0; i < w.numel(); ++i)
    if (w[i] != 0.0f && (first || std::fabs(w[i]) < thr)) {
      thr = std::fabs(w[i]);
      first = false;
    }
  return thr;
}

KeptCount count_kept(const std::vector<NamedParameter>& layers) {
  KeptCount c;
  for (const auto& l : layers) {
    c.kept += count_nonzero(l.param->var.value());
    c.total += l.param->var.value().numel();
  }
  return c;
}

}  // namespace mgf
