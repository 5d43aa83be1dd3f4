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
#include "engine/threads.h"

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

  // Channels are independent, so both passes run parallel_for over c; each channel's sums
  // are done by one thread in a fixed order, so results do not depend on the thread count.
  const float* px = X.data();
  const float* pg = gamma.defined() ? gamma.value().data() : nullptr;
  const float* pbeta = beta.defined() ? beta.value().data() : nullptr;
  float* rm = running_mean.data();
  float* rv = running_var.data();
  Tensor xhat(X.shape()), Y(X.shape()), inv_std({C});  // x̂ and 1/√(σ² + ε) kept for the backward
  float* ph = xhat.data();
  float* py = Y.data();
  float* pis = inv_std.data();
  parallel_for(0, C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      float mu, is;  // this forward's mean and 1/√(σ² + ε) for channel c
      if (training) {
        double s = 0, s2 = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) s += px[(n * C + c) * S + i];
        const double m = s / static_cast<double>(M);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) {
            const double d = px[(n * C + c) * S + i] - m;
            s2 += d * d;
          }
        const double var = s2 / static_cast<double>(M);  // biased: what normalises the batch
        mu = static_cast<float>(m);
        is = static_cast<float>(1.0 / std::sqrt(var + eps));
        rm[c] = (1.0f - momentum) * rm[c] + momentum * mu;
        rv[c] = (1.0f - momentum) * rv[c] +
                momentum * static_cast<float>(var * static_cast<double>(M) / static_cast<double>(M - 1));
      } else {
        mu = rm[c];
        is = 1.0f / std::sqrt(rv[c] + eps);
      }
      pis[c] = is;
      // y = γ x̂ + β
      const float gm = pg ? pg[c] : 1.0f, bt = pbeta ? pbeta[c] : 0.0f;
      for (int64_t n = 0; n < N; ++n) {
        const int64_t base = (n * C + c) * S;
        for (int64_t i = 0; i < S; ++i) {
          const float h = (px[base + i] - mu) * is;
          ph[base + i] = h;
          py[base + i] = gm * h + bt;
        }
      }
    }
  });

  std::vector<Var> parents{x};
  if (gamma.defined()) parents.push_back(gamma);
  if (beta.defined()) parents.push_back(beta);
  auto backward = [xn = x.node(), gn = gamma.defined() ? gamma.node() : nullptr,
                   bn = beta.defined() ? beta.node() : nullptr, xhat, inv_std, training, N, C, S, M](Node& self) {
    const float* dy = self.grad.data();
    const float* h = xhat.data();
    // Gradient buffers are allocated here, before the threads start.
    float* dgamma = gn && gn->requires_grad ? grad_buffer(*gn).data() : nullptr;
    float* dbeta = bn && bn->requires_grad ? grad_buffer(*bn).data() : nullptr;
    float* dx = xn->requires_grad ? grad_buffer(*xn).data() : nullptr;
    const float* g = gn ? gn->value.data() : nullptr;
    parallel_for(0, C, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        double sdy = 0, sdyh = 0;  // Σ dy and Σ dy·x̂ over the channel
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) {
            const int64_t j = (n * C + c) * S + i;
            sdy += dy[j];
            sdyh += static_cast<double>(dy[j]) * h[j];
          }
        if (dgamma) dgamma[c] += static_cast<float>(sdyh);
        if (dbeta) dbeta[c] += static_cast<float>(sdy);
        if (!dx) continue;
        // With g = γ·dy: mean(g) = γ Σdy/M and mean(g·x̂) = γ Σdy·x̂/M; in eval μ, σ are
        // constants and only the first term remains.
        const float k = (g ? g[c] : 1.0f) * inv_std[c];
        const float mg = training ? static_cast<float>(sdy / static_cast<double>(M)) : 0.0f;
        const float mgh = training ? static_cast<float>(sdyh / static_cast<double>(M)) : 0.0f;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) {
            const int64_t j = (n * C + c) * S + i;
            dx[j] += k * (dy[j] - mg - h[j] * mgh);
          }
      }
    });
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
