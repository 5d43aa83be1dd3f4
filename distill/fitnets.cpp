// distill/fitnets.cpp — see fitnets.h (Romero et al. 2015 §3).
#include "distill/fitnets.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "distill/kd.h"
#include "engine/ops.h"

namespace mgf {

GuidedNet::GuidedNet(std::shared_ptr<Sequential> lower_, std::shared_ptr<Sequential> upper_)
    : lower(register_module("lower", std::move(lower_))), upper(register_module("upper", std::move(upper_))) {}

Var hint_loss(const Tensor& u_h, const Var& r_v) {
  const Tensor& r = r_v.value();
  if (r.shape() != u_h.shape() || r.ndim() < 1 || r.dim(0) == 0)
    throw std::invalid_argument("hint_loss: expected the regressor output and the hint to have one shape [N, ...], found " +
                                r.str() + " and " + u_h.str());
  // eq. 3: ½‖u_h − r(v_g)‖², summed over the hint's elements, averaged over the N examples.
  Var d = sub(r_v, Var(u_h));
  return scale(sum(mul(d, d)), 0.5f / static_cast<float>(r.dim(0)));
}

int64_t HintRegressor::kernel_for(int64_t guided_side, int64_t hint_side) {
  if (hint_side < 1 || hint_side > guided_side)
    throw std::invalid_argument("HintRegressor: expected 1 <= hint side <= guided side, found hint " +
                                std::to_string(hint_side) + ", guided " + std::to_string(guided_side));
  return guided_side - hint_side + 1;   // §3.1: N_g − k + 1 = N_h
}

HintRegressor::HintRegressor(int64_t guided_channels, int64_t hint_channels, int64_t guided_side, int64_t hint_side)
    : conv(register_module("conv", std::make_shared<Conv2d>(guided_channels, hint_channels,
                                                            kernel_for(guided_side, hint_side)))) {}

Var HintRegressor::forward(const Var& v_g) { return relu(conv->forward(v_g)); }   // the hint's non-linearity

Var fitnets_kd_loss(const Var& student_logits, const Tensor& teacher_logits, const std::vector<int32_t>& labels,
                    float tau, float lambda) {
  if (!(lambda >= 0.0f)) throw std::invalid_argument("fitnets_kd_loss: expected lambda >= 0, found " + std::to_string(lambda));
  return add(cross_entropy(student_logits, labels), scale(soft_target_cross_entropy(student_logits, teacher_logits, tau), lambda));
}

float annealed_lambda(int epoch, int epochs, float lambda0, float lambda1) {
  if (epochs < 1 || epoch < 0 || epoch >= epochs)
    throw std::invalid_argument("annealed_lambda: expected 0 <= epoch < epochs, found epoch " + std::to_string(epoch) +
                                " of " + std::to_string(epochs));
  if (epochs == 1) return lambda1;
  const float t = static_cast<float>(epoch) / static_cast<float>(epochs - 1);
  return lambda0 + t * (lambda1 - lambda0);
}

HintEpochStats train_epoch_hint(Sequential& student_lower, HintRegressor& regressor, Sequential& teacher_lower,
                                Optimizer& opt, DataLoader& loader, const std::string& label) {
  const auto t0 = std::chrono::steady_clock::now();
  if (loader.position() != 0) loader.reset();
  student_lower.train();
  regressor.train();
  teacher_lower.eval();
  HintEpochStats st;
  double loss_sum = 0;
  Tensor x;
  std::vector<int32_t> y;   // the labels are not used: stage 1 sees only the hint
  while (loader.next(x, y)) {
    Tensor u_h;
    {
      NoGradGuard ng;   // the teacher is fixed: no graph through it
      u_h = teacher_lower.forward(Var(x)).value();
    }
    opt.zero_grad();
    Var loss = hint_loss(u_h, regressor.forward(student_lower.forward(Var(x))));
    const float l = loss.value().item();
    if (!std::isfinite(l))
      throw std::runtime_error(label + ": the hint loss became " + std::to_string(l) + " (lr = " + std::to_string(opt.lr) +
                               "); try a lower learning rate");
    loss.backward();
    opt.step();
    loss_sum += static_cast<double>(l) * static_cast<double>(y.size());
    st.count += static_cast<int64_t>(y.size());
  }
  st.loss = st.count ? loss_sum / static_cast<double>(st.count) : 0;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (training_output())
    std::fprintf(stderr, "%s: hint loss %.4f, %.1f s\n", label.empty() ? "hint" : label.c_str(), st.loss, st.seconds);
  return st;
}

EpochStats train_epoch_fitnets_kd(Module& student, Optimizer& opt, DataLoader& loader, const Tensor& teacher_logits,
                                  float tau, float lambda, const TrainHooks& hooks, const std::string& label) {
  return train_epoch_cached(
      student, opt, loader, teacher_logits,
      [tau, lambda](const Var& z, const Tensor& v, const std::vector<int32_t>& y) {
        return fitnets_kd_loss(z, v, y, tau, lambda);
      },
      hooks, label);
}

}  // namespace mgf
