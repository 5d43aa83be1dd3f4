// distill/fitnets.h — FitNets (Romero, Ballas, Kahou, Chassang, Gatta, Bengio, ICLR 2015,
// "FitNets: Hints for Thin Deep Nets"): a thin, deep student guided by a hint from the middle
// of a wide, shallow teacher, then trained on the KD loss.
// Book: book/26-fitnets.md. Tests: TEST_SUITE("fitnets").
//
// §3.1, hint-based training. The teacher's hint layer h gives u_h(x); the student's guided
// layer g gives v_g(x). A regressor r maps the guided layer to the hint's shape, and stage 1
// trains the student up to g, with r, on (eq. 3)
//   L_HT(W_Guided, W_r) = ½ ‖u_h(x; W_Hint) − r(v_g(x; W_Guided); W_r)‖²
// (we average it over the batch). u_h and r "must have the same non-linearity": both ReLU here.
// The regressor is convolutional: a kernel k₁×k₂ with N_{g,i} − k_i + 1 = N_{h,i}, so it has
// k₁k₂·O_h·O_g weights instead of N_{h,1}N_{h,2}O_h × N_{g,1}N_{g,2}O_g for a fully connected one.
// §3.2 / eq. 2, stage 2: the whole student on L_KD = H(y, P_S) + λ·H(P_T^τ, P_S^τ), with λ
// annealed linearly (the paper: 4 → 1 over its 500 epochs) — the hint gave the student a start,
// the curriculum then moves the weight to the labels. Note that FitNets, unlike Hinton et al.,
// does not scale the soft term by τ²; λ does that job.
// Deliberately not here: maxout units, the CIFAR/SVHN nets, early stopping on the validation
// loss (our schedules have fixed lengths, chosen on the validation split).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/autograd.h"
#include "engine/data.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/train.h"
#include "layers/conv.h"
#include "layers/module.h"
#include "layers/sequential.h"

namespace mgf {

// A network in two parts, so a hint or a guided layer can be read off between them:
// forward(x) = upper(lower(x)). Children "lower" and "upper" (checkpoint names lower.*, upper.*).
class GuidedNet : public Module {
 public:
  GuidedNet(std::shared_ptr<Sequential> lower, std::shared_ptr<Sequential> upper);
  Var forward(const Var& x) override { return upper->forward(lower->forward(x)); }
  std::string type_name() const override { return "GuidedNet"; }
  std::shared_ptr<Sequential> lower, upper;
};

// L_HT = mean over the batch of ½ Σ (u_h − r_v)², u_h the teacher's hint (a constant here), r_v
// the regressor's output; shapes must match ([N, ...]).
Var hint_loss(const Tensor& u_h, const Var& r_v);

// The convolutional regressor r: Conv2d(O_g → O_h, k × k, no padding) then ReLU. k is chosen so
// that a guided map of side n_g becomes a hint map of side n_h: k = n_g − n_h + 1 (throws
// std::invalid_argument unless 1 <= n_h <= n_g). Parameters: k²·O_h·O_g weights + O_h biases.
class HintRegressor : public Module {
 public:
  HintRegressor(int64_t guided_channels, int64_t hint_channels, int64_t guided_side, int64_t hint_side);
  Var forward(const Var& v_g) override;
  std::string type_name() const override { return "HintRegressor"; }
  static int64_t kernel_for(int64_t guided_side, int64_t hint_side);
  std::shared_ptr<Conv2d> conv;
};

// FitNets eq. 2: H(y, P_S) + λ·H(P_T^τ, P_S^τ) (no τ² factor, as in the paper).
Var fitnets_kd_loss(const Var& student_logits, const Tensor& teacher_logits, const std::vector<int32_t>& labels,
                    float tau, float lambda);

// λ of the curriculum at `epoch` (0-based) of `epochs`: linear from lambda0 to lambda1, reaching
// lambda1 on the last epoch (λ0 = 4, λ1 = 1 in the paper).
float annealed_lambda(int epoch, int epochs, float lambda0, float lambda1);

struct HintEpochStats {
  double loss = 0;        // mean L_HT per example
  int64_t count = 0;
  double seconds = 0;
};

// Stage 1, one epoch: for each batch, u_h = teacher_lower(x) (no graph), then
// L_HT(u_h, regressor(student_lower(x))) backward, opt.step() (opt holds the student_lower
// and regressor parameters). The loader must not jitter (the hint is for the image as served).
HintEpochStats train_epoch_hint(Sequential& student_lower, HintRegressor& regressor, Sequential& teacher_lower,
                                Optimizer& opt, DataLoader& loader, const std::string& label = "");

// Stage 2, one epoch on fitnets_kd_loss against cached teacher logits (distill/kd.h cache).
EpochStats train_epoch_fitnets_kd(Module& student, Optimizer& opt, DataLoader& loader, const Tensor& teacher_logits,
                                  float tau, float lambda, const TrainHooks& hooks = {}, const std::string& label = "");

}  // namespace mgf
