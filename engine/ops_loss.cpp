// engine/ops_loss.cpp — cross-entropy from logits, Hinton's soft-target cross-entropy, MSE.
// Book: book/01-autograd.md (cross-entropy), book/25-distillation.md (soft targets).
//
// Both cross-entropies take logits, never probabilities: log softmax is computed with the
// row max subtracted (log-sum-exp), so a logit of 1000 neither overflows nor loses the
// gradient. Their backward is the famous one-liner (softmax − target)/N, written directly
// instead of going through the log_softmax graph: it is cheaper and exact.
// Not here: label smoothing, class weights, reduction modes other than the batch mean.
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/ops.h"

namespace mgf {
namespace {

// p[r] = softmax(x[r] / T) for each row of [N, C]; returns Σ_r log-sum-exp(x[r]/T) pieces in lse.
void softmax_rows(const float* x, float* p, float* lse, int64_t N, int64_t C, float T) {
  for (int64_t r = 0; r < N; ++r) {
    const float* xr = x + r * C;
    float m = xr[0] / T;
    for (int64_t c = 1; c < C; ++c) m = std::max(m, xr[c] / T);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(xr[c] / T - m));
    const float l = m + static_cast<float>(std::log(s));
    for (int64_t c = 0; c < C; ++c) p[r * C + c] = std::exp(xr[c] / T - l);
    if (lse) lse[r] = l;
  }
}

}  // namespace

// ---- cross-entropy: L = (1/N) Σ_n [lse(z_n) − z_n,y_n];  dz = (softmax(z) − onehot(y)) / N
Var cross_entropy(const Var& logits, const std::vector<int32_t>& labels) {
  const Tensor& Z = logits.value();
  if (Z.ndim() != 2 || Z.dim(1) < 1) shape_error("cross_entropy", "logits [N, C]", Z.shape());
  const int64_t N = Z.dim(0), C = Z.dim(1);
  if (static_cast<int64_t>(labels.size()) != N)
    throw std::invalid_argument("cross_entropy: logits " + Z.str() + " need " + std::to_string(N) +
                                " labels, found " + std::to_string(labels.size()));
  if (N == 0) throw std::invalid_argument("cross_entropy: expected a non-empty batch, found logits " + Z.str());
  for (int64_t n = 0; n < N; ++n)
    if (labels[static_cast<size_t>(n)] < 0 || labels[static_cast<size_t>(n)] >= C)
      throw std::invalid_argument("cross_entropy: expected labels in [0, " + std::to_string(C) + "), found " +
                                  std::to_string(labels[static_cast<size_t>(n)]) + " at " + std::to_string(n));
  Tensor p(Z.shape());
  std::vector<float> lse(static_cast<size_t>(N));
  softmax_rows(Z.data(), p.data(), lse.data(), N, C, 1.0f);
  double loss = 0;
  for (int64_t n = 0; n < N; ++n) loss += lse[static_cast<size_t>(n)] - Z[n * C + labels[static_cast<size_t>(n)]];
  loss /= static_cast<double>(N);
  return make_result("cross_entropy", Tensor::scalar(static_cast<float>(loss)), {logits},
                     [zn = logits.node(), p = std::move(p), labels, N, C](Node& self) {
                       const float g = self.grad[0] / static_cast<float>(N);
                       float* dz = grad_buffer(*zn).data();
                       for (int64_t n = 0; n < N; ++n) {
                         const int64_t y = labels[static_cast<size_t>(n)];
                         for (int64_t c = 0; c < C; ++c)
                           dz[n * C + c] += g * (p[n * C + c] - (c == y ? 1.0f : 0.0f));
                       }
                     });
}

// ---- soft targets (Hinton, Vinyals, Dean 2015, §2) ---------------------------------------
// q = softmax(z/T) (student), p = softmax(t/T) (teacher, a constant):
//   L = −(1/N) Σ_n Σ_c p_nc · log q_nc,   ∂L/∂z_nc = (q_nc − p_nc) / (N·T).
// The gradient scales as 1/T² relative to the hard loss (the paper's remark), so the caller
// multiplies this loss by T² to keep the two terms' gradients comparable.
Var soft_target_cross_entropy(const Var& logits, const Tensor& teacher_logits, float T) {
  const Tensor& Z = logits.value();
  if (Z.ndim() != 2 || Z.dim(0) == 0 || Z.dim(1) < 1)
    shape_error("soft_target_cross_entropy", "non-empty logits [N, C]", Z.shape());
  if (teacher_logits.shape() != Z.shape())
    throw std::invalid_argument("soft_target_cross_entropy: student logits " + Z.str() +
                                " and teacher logits " + teacher_logits.str() + " must have the same shape");
  if (!(T > 0.0f))
    throw std::invalid_argument("soft_target_cross_entropy: expected temperature T > 0, found " + std::to_string(T));
  const int64_t N = Z.dim(0), C = Z.dim(1);
  Tensor q(Z.shape()), p(Z.shape());
  std::vector<float> lse(static_cast<size_t>(N));
  softmax_rows(Z.data(), q.data(), lse.data(), N, C, T);
  softmax_rows(teacher_logits.data(), p.data(), nullptr, N, C, T);
  double loss = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)  // log q_nc = z_nc/T − lse_n
      loss -= static_cast<double>(p[n * C + c]) * (Z[n * C + c] / T - lse[static_cast<size_t>(n)]);
  loss /= static_cast<double>(N);
  return make_result("soft_target_cross_entropy", Tensor::scalar(static_cast<float>(loss)), {logits},
                     [zn = logits.node(), q = std::move(q), p = std::move(p), N, T](Node& self) {
                       const float g = self.grad[0] / (static_cast<float>(N) * T);
                       float* dz = grad_buffer(*zn).data();
                       for (int64_t i = 0; i < q.numel(); ++i) dz[i] += g * (q[i] - p[i]);
                     });
}

// ---- mean squared error: L = (1/n) Σ (a − b)²;  da += 2(a − b)/n · dL,  db −= the same --
Var mse_loss(const Var& a, const Var& b) {
  check_same_shape("mse_loss", a.value(), b.value());
  const int64_t n = a.value().numel();
  if (n == 0) throw std::invalid_argument("mse_loss: expected non-empty inputs, found " + a.value().str());
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a.value()[i]) - b.value()[i];
    s += d * d;
  }
  return make_result("mse_loss", Tensor::scalar(static_cast<float>(s / static_cast<double>(n))), {a, b},
                     [an = a.node(), bn = b.node(), n](Node& self) {
                       const float g = 2.0f * self.grad[0] / static_cast<float>(n);
                       const float* pa = an->value.data();
                       const float* pb = bn->value.data();
                       if (an->requires_grad) {
                         float* da = grad_buffer(*an).data();
                         for (int64_t i = 0; i < n; ++i) da[i] += g * (pa[i] - pb[i]);
                       }
                       if (bn->requires_grad) {
                         float* db = grad_buffer(*bn).data();
                         for (int64_t i = 0; i < n; ++i) db[i] -= g * (pa[i] - pb[i]);
                       }
                     });
}

}  // namespace mgf
