// layers/mobile_blocks.cpp — see mobile_blocks.h.
#include "layers/mobile_blocks.h"

#include <algorithm>
#include <cmath>
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
  if (inference_pieces > 1 && !training() && !grad_enabled() && expand && options.shortcut != Shortcut::expansion)
    return forward_in_pieces(x);
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

namespace {
// Eval-mode batch norm on channels [a, a + n) of bn, then ReLU6 when `act`, in place on
// h [N, n, H, W] (inference only: there is no graph to keep the input for).
void bn_act_inplace(Tensor& h, const BatchNorm& bn, int64_t a, bool act) {
  const int64_t N = h.dim(0), n = h.dim(1), P = h.dim(2) * h.dim(3);
  const Tensor &g = bn.weight.var.value(), &b = bn.bias.var.value();
  for (int64_t c = 0; c < n; ++c) {
    const float scale = g[a + c] / std::sqrt(bn.running_var[a + c] + bn.eps);
    const float shift = b[a + c] - bn.running_mean[a + c] * scale;
    for (int64_t i = 0; i < N; ++i) {
      float* p = h.data() + (i * n + c) * P;
      for (int64_t j = 0; j < P; ++j) {
        const float v = p[j] * scale + shift;
        p[j] = act ? std::min(std::max(v, 0.0f), 6.0f) : v;
      }
    }
  }
}
// Rows [a, a + n) of a [R, ...] weight, or with `cols` the input channels [a, a + n) of a
// [OC, C, 1, 1] weight: a small copy, alive for one group.
Tensor weight_rows(const Tensor& w, int64_t a, int64_t n) {
  const int64_t row = w.numel() / w.dim(0);
  Shape s = w.shape();
  s[0] = n;
  Tensor out(s);
  std::copy(w.data() + a * row, w.data() + (a + n) * row, out.data());
  return out;
}
Tensor weight_cols(const Tensor& w, int64_t a, int64_t n) {
  const int64_t OC = w.dim(0), C = w.dim(1);
  Tensor out({OC, n, 1, 1});
  for (int64_t o = 0; o < OC; ++o) std::copy(w.data() + o * C + a, w.data() + o * C + a + n, out.data() + o * n);
  return out;
}
}  // namespace

Var InvertedResidual::forward_in_pieces(const Var& x) {
  const int64_t hidden = expand->out_channels, n = std::min(inference_pieces, hidden);
  const Conv2dOptions dwo = depthwise->options;
  Tensor acc;   // Σ over groups of project(group): [N, k', H/s, W/s]
  for (int64_t g = 0; g < n; ++g) {
    const int64_t a = g * hidden / n, m = (g + 1) * hidden / n - a;   // channels [a, a + m)
    Tensor e = conv2d(x, Var(weight_rows(expand->weight.var.value(), a, m)), Var(), {}).value();
    bn_act_inplace(e, *bn_expand, a, true);
    Conv2dOptions o = dwo;
    o.groups = m;
    Tensor d = conv2d(Var(e), Var(weight_rows(depthwise->weight.var.value(), a, m)), Var(), o).value();
    e = Tensor();   // the group's expansion is dead once its depthwise output exists
    bn_act_inplace(d, *bn_dw, a, true);
    Tensor p = conv2d(Var(d), Var(weight_cols(project->weight.var.value(), a, m)), Var(), {}).value();
    if (acc.empty()) {
      acc = p;
    } else {
      for (int64_t i = 0; i < acc.numel(); ++i) acc[i] += p[i];
    }
  }
  bn_act_inplace(acc, *bn_project, 0, !options.linear_bottleneck);
  if (residual_)
    for (int64_t i = 0; i < acc.numel(); ++i) acc[i] += x.value()[i];
  return Var(acc);
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
