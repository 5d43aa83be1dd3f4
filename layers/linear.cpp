// layers/linear.cpp — see linear.h.
#include "layers/linear.h"

#include "engine/ops.h"
#include "layers/init.h"

namespace mgf {

Linear::Linear(int64_t in, int64_t out, bool has_bias)
    : in_features(in),
      out_features(out),
      weight(register_parameter("weight", Tensor({out, in}))),
      bias(has_bias ? &register_parameter("bias", Tensor({out})) : nullptr) {
  default_init(weight.var.value(), bias ? &bias->var.value() : nullptr);
}

Var Linear::forward(const Var& x) {
  if (x.value().ndim() != 2 || x.value().dim(1) != in_features)
    shape_error("Linear", "x [N, " + std::to_string(in_features) + "]", x.shape());
  return linear(x, weight.effective(), bias ? bias->effective() : Var());
}

}  // namespace mgf
