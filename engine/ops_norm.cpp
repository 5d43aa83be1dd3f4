// engine/ops_norm.cpp — batch normalisation and (inverted) dropout.
// Book: book/01-autograd.md.
//
// Batch norm (Ioffe & Szegedy 2015, Algorithm 1), per channel c over the M = N·H·W values:
//   μ = (1/M) Σ x,   σ² = (1/M) Σ (x − μ)²,   x̂ = (x − μ)/√(σ² + ε),   y = γ x̂ + β.
// Backward (the paper's §3 chain rule, collapsed), with g = dy·γ:
//   dx = (1/√(σ² + ε)) · (g − mean(g) − x̂ · mean(g · x̂)),   dγ = Σ dy·x̂,   dβ = Σ dy.
// In eval the running averages replace μ, σ², so x̂ is an affine function of x and
// dx = dy·γ/√(σ_run² + ε). The running variance is updated with the unbiased batch
// variance M/(M − 1)·σ², as PyTorch does (the paper's inference step uses the same).
// Dropout (Srivastava et al. 2014) is the inverted form: survivors are scaled by 1/(1 − p)
// during training so that eval is the identity.
// Not here: layer/group/instance norm, fused conv+bn folding (chapters do that themselves).
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/ops.h"
#include "engine/rng.h"

namespace mgf {

Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean, Tensor& running_var,
               bool training, float momentum, float eps) {
  const Tensor& X = x.value();
  if (X.ndim() != 2 && X.ndim() != 4) shape_error("batch_norm", "x [N, C] or [N, C, H, W]", X.shape());
  const int64_t N = X.dim(0), C = X.dim(1), S = X.ndim() == 4 ? X.dim(2) * X.dim(3) : 1, M = N * S;
  const Shape cs{C};
  auto check_c = [&](const char* what, const Shape& s) {
    if (s != cs)
      throw std::invalid_argument(std::string("batch_norm: expected ") + what + " " + shape_str(cs) +
                                  " for x " + X.str() + ", found " + shape_str(s));
  };
  if (gamma.defined()) check_c("gamma", gamma.shape());
  if (beta.defined()) check_c("beta", beta.shape());
  check_c("running_mean", running_mean.shape());
  check_c("running_var", running_var.shape());
  if (training && M < 2)
    throw std::invalid_argument("batch_norm: training needs more than one value per channel, found x " + X.str());

  // Per channel: the mean and 1/√(σ² + ε) used for this forward.
  Tensor mu({C}), inv_std({C});
  if (training) {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, s2 = 0;
      for (int64_t n = 0; n < N; ++n) {
        const float* xc = X.data() + (n * C + c) * S;
        for (int64_t i = 0; i < S; ++i) s += xc[i];
      }
      const double m = s / static_cast<double>(M);
      for (int64_t n = 0; n < N; ++n) {
        const float* xc = X.data() + (n * C + c) * S;
        for (int64_t i = 0; i < S; ++i) s2 += (xc[i] - m) * (xc[i] - m);
      }
      const double var = s2 / static_cast<double>(M);  // biased: what normalises the batch
      mu[c] = static_cast<float>(m);
      inv_std[c] = static_cast<float>(1.0 / std::sqrt(var + eps));
      running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * static_cast<float>(m);
      running_var[c] = (1.0f - momentum) * running_var[c] +
                       momentum * static_cast<float>(var * static_cast<double>(M) / static_cast<double>(M - 1));
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mu[c] = running_mean[c];
      inv_std[c] = 1.0f / std::sqrt(running_var[c] + eps);
    }
  }

  // y = γ x̂ + β; x̂ is kept for the backward.
  Tensor xhat(X.shape()), Y(X.shape());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float gm = gamma.defined() ? gamma.value()[c] : 1.0f, bt = beta.defined() ? beta.value()[c] : 0.0f;
      const int64_t base = (n * C + c) * S;
      for (int64_t i = 0; i < S; ++i) {
        const float h = (X[base + i] - mu[c]) * inv_std[c];
        xhat[base + i] = h;
        Y[base + i] = gm * h + bt;
      }
    }

  std::vector<Var> parents{x};
  if (gamma.defined()) parents.push_back(gamma);
  if (beta.defined()) parents.push_back(beta);
  auto backward = [xn = x.node(), gn = gamma.defined() ? gamma.node() : nullptr,
                   bn = beta.defined() ? beta.node() : nullptr, xhat, inv_std, training, N, C, S, M](Node& self) {
    const float* dy = self.grad.data();
    for (int64_t c = 0; c < C; ++c) {
      double sdy = 0, sdyh = 0;  // Σ dy and Σ dy·x̂ over the channel
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < S; ++i) {
          const int64_t j = (n * C + c) * S + i;
          sdy += dy[j];
          sdyh += static_cast<double>(dy[j]) * xhat[j];
        }
      if (gn && gn->requires_grad) grad_buffer(*gn)[c] += static_cast<float>(sdyh);
      if (bn && bn->requires_grad) grad_buffer(*bn)[c] += static_cast<float>(sdy);
      if (!xn->requires_grad) continue;
      const float gm = gn ? gn->value[c] : 1.0f;
      float* dx = grad_buffer(*xn).data();
      // With g = γ·dy: mean(g) = γ Σdy/M and mean(g·x̂) = γ Σdy·x̂/M.
      const float k = gm * inv_std[c];
      const float mg = training ? static_cast<float>(sdy / static_cast<double>(M)) : 0.0f;
      const float mgh = training ? static_cast<float>(sdyh / static_cast<double>(M)) : 0.0f;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < S; ++i) {
          const int64_t j = (n * C + c) * S + i;
          dx[j] += k * (dy[j] - mg - xhat[j] * mgh);
        }
    }
  };
  return make_result("batch_norm", std::move(Y), std::move(parents), std::move(backward));
}

// ---- inverted dropout: y = x·m/(1 − p), m ~ Bernoulli(1 − p);  dx += dy·m/(1 − p) ------
Var dropout(const Var& x, float p, bool training, Rng& rng) {
  if (!(p >= 0.0f && p < 1.0f))
    throw std::invalid_argument("dropout: expected 0 <= p < 1, found p = " + std::to_string(p));
  if (!training || p == 0.0f) return x;  // identity: no node, the gradient flows straight through
  const int64_t n = x.value().numel();
  Tensor keep(x.shape());  // m/(1 − p): 0 or the survivor scale
  const float s = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) keep[i] = rng.bernoulli(p) ? 0.0f : s;
  Tensor y(x.shape());
  for (int64_t i = 0; i < n; ++i) y[i] = x.value()[i] * keep[i];
  return make_result("dropout", std::move(y), {x}, [xn = x.node(), keep](Node& self) {
    const float* dy = self.grad.data();
    float* dx = grad_buffer(*xn).data();
    for (int64_t i = 0; i < keep.numel(); ++i) dx[i] += dy[i] * keep[i];
  });
}

}  // namespace mgf
