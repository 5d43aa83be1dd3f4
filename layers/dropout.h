// layers/dropout.h — inverted dropout (Srivastava et al. 2014) as a module.
// Book: book/01-autograd.md; the op is dropout() in engine/ops_norm.cpp.
// In train() mode each value is zeroed with probability p and survivors are scaled by
// 1/(1 − p); in eval() mode the layer is the identity. Draws from global_rng() unless
// given a generator (which must outlive the layer).
#pragma once
#include "engine/ops.h"
#include "engine/rng.h"
#include "layers/module.h"

namespace mgf {

class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f, Rng* rng = nullptr);
  Var forward(const Var& x) override { return dropout(x, p, training(), rng_ ? *rng_ : global_rng()); }
  std::string type_name() const override { return "Dropout"; }
  const float p;

 private:
  Rng* rng_;
};

}  // namespace mgf
