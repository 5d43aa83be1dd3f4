// layers/norm.cpp — see norm.h.
#include "layers/norm.h"

#include <string>

#include "engine/ops.h"

namespace mgf {

BatchNorm::BatchNorm(int64_t C, int ndim)
    : num_features(C),
      weight(register_parameter("weight", Tensor({C}, 1.0f))),
      bias(register_parameter("bias", Tensor({C}, 0.0f))),
      running_mean({C}, 0.0f),
      running_var({C}, 1.0f),
      ndim_(ndim) {
  register_buffer("running_mean", &running_mean);
  register_buffer("running_var", &running_var);
}

Var BatchNorm::forward(const Var& x) {
  if (x.value().ndim() != ndim_ || x.value().dim(1) != num_features)
    shape_error(type_name().c_str(),
                ndim_ == 2 ? "x [N, " + std::to_string(num_features) + "]"
                           : "x [N, " + std::to_string(num_features) + ", H, W]",
                x.shape());
  return batch_norm(x, weight.effective(), bias.effective(), running_mean, running_var, training(), momentum, eps);
}

}  // namespace mgf
