// engine/optim.h — the optimizers every chapter trains with: SGD (momentum, Nesterov, weight
// decay), Adam and AdamW.
//
// Update rules (PyTorch's conventions, so hyper-parameters from papers and from PyTorch code
// carry over unchanged). For a parameter w with gradient g at step t:
//   SGD:    g ← g + λw;  v ← μv + g;  w ← w − η·(nesterov ? g + μv : v)
//   Adam:   g ← g + λw (L2, coupled);  m ← β1·m + (1−β1)g;  s ← β2·s + (1−β2)g²;
//           w ← w − η·m̂/(√ŝ + ε),  m̂ = m/(1−β1^t), ŝ = s/(1−β2^t)      (Kingma & Ba 2015, Alg. 1)
//   AdamW:  w ← w − ηλw (decoupled), then Adam without the L2 term      (Loshchilov & Hutter 2019)
//   RMSProp: g ← g + λw;  s ← α·s + (1−α)g²;  w ← w − η·g/(√s + ε)       (Tieleman & Hinton 2012,
//           lecture 6e; PyTorch's non-centred form without momentum; FitNets §4 trains with it)
// max_norm_constrain (Srivastava et al. 2014 §5.1): after a step, each unit's incoming weight
// vector (a row of a Linear's [out, in] weight) is scaled back onto the ball ‖w‖₂ ≤ c when it
// left it — the "weight constraints" of Hinton et al. 2015's MNIST teacher.
// After each update a masked parameter is multiplied by its mask, so a pruned weight stays
// exactly zero even when momentum or weight decay would move it (Han 2015 §3: "pruned
// connections are kept at zero during retraining").
// Book: book/03-training.md. Deliberately not here: dampening, AMSGrad, gradient clipping,
// per-parameter groups (a chapter that needs two learning rates makes two optimizers).
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "layers/module.h"

namespace mgf {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Parameter*> params, float lr);
  virtual ~Optimizer() = default;
  virtual void step() = 0;     // one update from the gradients now in the parameters
  void zero_grad();            // drops every parameter's gradient
  float lr;                    // η; a schedule writes it between steps
  int64_t steps() const { return t_; }
  const std::vector<Parameter*>& params() const { return params_; }

 protected:
  // The gradient of p, or nullptr when none reached it this step (an unused parameter).
  static const float* grad_of(const Parameter& p);
  static void apply_mask(Parameter& p);  // w ← w ⊙ mask, when p has a mask
  std::vector<Parameter*> params_;
  int64_t t_ = 0;              // steps taken so far
};

struct SgdOptions {
  float lr = 0.01f;
  float momentum = 0.0f;       // μ
  float weight_decay = 0.0f;   // λ (L2: added to the gradient)
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Parameter*> params, SgdOptions o);
  void step() override;
  SgdOptions options;

 private:
  std::vector<Tensor> velocity_;   // v, one per parameter, allocated on first step
};

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.0f;   // λ: coupled L2 for Adam, decoupled for AdamW
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Parameter*> params, AdamOptions o);
  void step() override;
  AdamOptions options;

 protected:
  bool decoupled_ = false;     // AdamW
 private:
  std::vector<Tensor> m_, s_;  // first and second moment estimates
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Parameter*> params, AdamOptions o);
};

struct RmsPropOptions {
  float lr = 0.01f;
  float alpha = 0.99f, eps = 1e-8f;   // α: decay of the running mean of g²
  float weight_decay = 0.0f;          // λ (L2, coupled)
};

class RMSProp : public Optimizer {
 public:
  RMSProp(std::vector<Parameter*> params, RmsPropOptions o);
  void step() override;
  RmsPropOptions options;

 private:
  std::vector<Tensor> s_;   // running mean of g², one per parameter
};

// Max-norm: rescales every row of w ([rows, cols], rows = units) whose L2 norm exceeds c to
// norm exactly c; rows inside the ball are untouched. Returns how many rows were rescaled.
// Throws std::invalid_argument unless w is 2-D and c > 0.
int64_t max_norm_constrain(Tensor& w, float c);

}  // namespace mgf
