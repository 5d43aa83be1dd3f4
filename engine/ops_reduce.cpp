// engine/ops_reduce.cpp — sum and mean, over all elements or one axis.
#include <stdexcept>

#include "engine/ops.h"

namespace mgf {

// ---- sum over everything: y = Σ a;  da += dy (broadcast) ------------------------------
Var sum(const Var& a) {
  double s = 0;  // accumulate in double: the order of a long float sum matters
  const float* p = a.value().data();
  for (int64_t i = 0; i < a.value().numel(); ++i) s += p[i];
  return make_result("sum", Tensor::scalar(static_cast<float>(s)), {a}, [an = a.node()](Node& self) {
    float g = self.grad[0];
    float* da = grad_buffer(*an).data();
    for (int64_t i = 0; i < an->value.numel(); ++i) da[i] += g;
  });
}

}  // namespace mgf
