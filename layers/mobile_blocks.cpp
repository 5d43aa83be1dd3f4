// layers/mobile_blocks.cpp — see mobile_blocks.h.
#include "layers/mobile_blocks.h"

#include <stdexcept>
#include <string>

#include "engine/ops.h"

namespace mgf {

namespace {
// A 3×3 depthwise conv (groups = C, padding 1) and a 1×1 conv. With batch norm after them
// the conv bias is redundant (BN's β replaces it), so it is dropped, as in the papers.
std::shared_ptr<Conv2d> dw3x3(int64_t c, int64_t stride, bool bias) {
  return std::make_shared<Conv2d>(c, c, 3, Conv2dOptions{stride, stride, 1, 1, c}, bias);
}
std::shared_ptr<Conv2d> pw1x1(int64_t in, int64_t out, bool bias) {
  return std::make_shared<Conv2d>(in, out, 1, Conv2dOptions{}, bias);
}
int64_t out_size(int64_t n, int64_t stride) { return (n + 2 - 3) / stride + 1; }  // 3×3, pad 1
void check_channels(const char* who, int64_t in, int64_t out, int64_t stride) {
  if (in < 1 || out < 1 || stride < 1 || stride > 2)
    throw std::invalid_argument(std::string(who) + ": expected channels >= 1 and stride 1 or 2, found in " +
                                std::to_string(in) + ", out " + std::to_string(out) + ", stride " + std::to_string(stride));
}
}  // namespace

// ---- DepthwiseSeparable ---------------------------------------------------------------------

DepthwiseSeparable::DepthwiseSeparable(int64_t in, int64_t out, int64_t stride, bool batch_norm, bool bias)
    : in_channels(in), out_channels(out), stride(stride) {
  check_channels("DepthwiseSeparable", in, out, stride);
  depthwise = register_module("depthwise", dw3x3(in, stride, bias && !batch_norm));
  if (batch_norm) bn_dw = register_module("bn_dw", std::make_shared<BatchNorm2d>(in));
  pointwise = register_module("pointwise", pw1x1(in, out, bias && !batch_norm));
  if (batch_norm) bn_pw = register_module("bn_pw", std::make_shared<BatchNorm2d>(out));
}

Var DepthwiseSeparable::forward(const Var& x) {
  Var h = depthwise->forward(x);           // [N, C, H/s, W/s]: one 3×3 filter per channel
  if (bn_dw) h = relu(bn_dw->forward(h));
  h = pointwise->forward(h);               // [N, out, H/s, W/s]: mixes the channels
  if (bn_pw) h = relu(bn_pw->forward(h));
  return h;
}

int64_t DepthwiseSeparable::macs_per_image(const Shape& input, const Shape&) const {
  // MobileNets eq. 5: D_K²·M·D_F² (depthwise) + M·N·D_F² (pointwise), D_F the output size
  const int64_t oh = out_size(input[2], stride), ow = out_size(input[3], stride);
  return conv_macs(depthwise->weight.var.value().shape(), oh, ow) + conv_macs(pointwise->weight.var.value().shape(), oh, ow);
}

// ---- InvertedResidual -----------------------------------------------------------------------

InvertedResidual::InvertedResidual(int64_t in, int64_t out, InvertedResidualOptions o)
    : in_channels(in), out_channels(out), options(o) {
  check_channels("InvertedResidual", in, out, o.stride);
  if (o.t < 1) throw std::invalid_argument("InvertedResidual: expected expansion t >= 1, found " + std::to_string(o.t));
  residual_ = o.shortcut != Shortcut::none && o.stride == 1 && in == out;
  if (o.shortcut == Shortcut::expansion) {
    // wide in (t·in) → depthwise → project to `out` → expand to t·out (the next unit's input)
    depthwise = register_module("depthwise", dw3x3(o.t * in, o.stride, false));
    bn_dw = register_module("bn_dw", std::make_shared<BatchNorm2d>(o.t * in));
    project = register_module("project", pw1x1(o.t * in, out, false));
    bn_project = register_module("bn_project", std::make_shared<BatchNorm2d>(out));
    expand = register_module("expand", pw1x1(out, o.t * out, false));
    bn_expand = register_module("bn_expand", std::make_shared<BatchNorm2d>(o.t * out));
    return;
  }
  const int64_t hidden = o.t * in;
  if (o.t != 1) {
    expand = register_module("expand", pw1x1(in, hidden, false));
    bn_expand = register_module("bn_expand", std::make_shared<BatchNorm2d>(hidden));
  }
  depthwise = register_module("depthwise", dw3x3(hidden, o.stride, false));
  bn_dw = register_module("bn_dw", std::make_shared<BatchNorm2d>(hidden));
  project = register_module("project", pw1x1(hidden, out, false));
  bn_project = register_module("bn_project", std::make_shared<BatchNorm2d>(out));
}

Var InvertedResidual::forward(const Var& x) {
  Var h = x;
  if (options.shortcut == Shortcut::expansion) {
    h = relu6(bn_dw->forward(depthwise->forward(h)));
    h = bn_project->forward(project->forward(h));
    if (!options.linear_bottleneck) h = relu6(h);
    h = relu6(bn_expand->forward(expand->forward(h)));
  } else {
    if (expand) h = relu6(bn_expand->forward(expand->forward(h)));   // k → t·k, ReLU6
    h = relu6(bn_dw->forward(depthwise->forward(h)));                // 3×3 depthwise, stride s
    h = bn_project->forward(project->forward(h));                    // t·k → k', linear (§3.2)
    if (!options.linear_bottleneck) h = relu6(h);
  }
  return residual_ ? add(h, x) : h;   // no activation after the add (Table 1)
}

int64_t InvertedResidual::macs_per_image(const Shape& input, const Shape&) const {
  const int64_t h = input[2], w = input[3], oh = out_size(h, options.stride), ow = out_size(w, options.stride);
  int64_t macs = conv_macs(depthwise->weight.var.value().shape(), oh, ow) + conv_macs(project->weight.var.value().shape(), oh, ow);
  if (expand) {
    // bottleneck placement expands at the input size; expansion placement at the output size
    const bool after = options.shortcut == Shortcut::expansion;
    macs += conv_macs(expand->weight.var.value().shape(), after ? oh : h, after ? ow : w);
  }
  return macs;
}

}  // namespace mgf
