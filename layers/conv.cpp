// layers/conv.cpp — see conv.h.
#include "layers/conv.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "layers/init.h"

namespace mgf {

namespace {
int64_t checked_groups(int64_t in, int64_t out, int64_t k, const Conv2dOptions& o) {
  if (in < 1 || out < 1 || k < 1 || o.groups < 1 || in % o.groups != 0 || out % o.groups != 0)
    throw std::invalid_argument("Conv2d: expected in, out, k >= 1 and in, out divisible by groups, found in = " +
                                std::to_string(in) + ", out = " + std::to_string(out) + ", k = " +
                                std::to_string(k) + ", groups = " + std::to_string(o.groups));
  return in / o.groups;
}
}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, Conv2dOptions o, bool has_bias)
    : Conv2d(in, out, k, k, o, has_bias) {}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kh, int64_t kw, Conv2dOptions o, bool has_bias)
    : in_channels(in),
      out_channels(out),
      kernel_size(kh),
      kernel_h(kh),
      kernel_w(kw),
      options(o),
      weight(register_parameter("weight", Tensor({out, checked_groups(in, out, std::min(kh, kw), o), kh, kw}))),
      bias(has_bias ? &register_parameter("bias", Tensor({out})) : nullptr) {
  default_init(weight.var.value(), bias ? &bias->var.value() : nullptr);
}

Var Conv2d::forward(const Var& x) {
  if (x.value().ndim() != 4 || x.value().dim(1) != in_channels)
    shape_error("Conv2d", "x [N, " + std::to_string(in_channels) + ", H, W]", x.shape());
  return conv2d(x, weight.effective(), bias ? bias->effective() : Var(), options);
}

}  // namespace mgf
