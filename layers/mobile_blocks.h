// layers/mobile_blocks.h — the two building blocks of the MobileNets.
//
// DepthwiseSeparable (Howard et al. 2017, MobileNets §3.1, Fig. 3 right): a 3×3 depthwise
// conv (one filter per input channel, groups = C; stride s does the downsampling) + BN +
// ReLU, then a 1×1 pointwise conv C → N + BN + ReLU. Cost D_K²·M·D_F² + M·N·D_F² Mult-Adds
// against D_K²·M·N·D_F² for the standard conv it replaces (eq. 5 / eq. 4).
//
// InvertedResidual (Sandler et al. 2018, MobileNetV2 §3.3, Table 1): a 1×1 expansion
// k → t·k + BN + ReLU6, a 3×3 depthwise conv with stride s + BN + ReLU6, and a *linear* 1×1
// projection t·k → k' + BN (no activation, §3.2: ReLU on a low-dimensional bottleneck
// destroys information). The shortcut adds the block's input when s = 1 and k = k'; it
// joins the thin bottlenecks. Cost (Table 1, stride 1): h·w·d'·t·(d' + k² + d'') Mult-Adds
// for d' input and d'' output channels and a k×k depthwise kernel.
// The ablations of §6.3 / Fig. 6 are options:
//   - `linear_bottleneck = false` puts a ReLU6 after the projection (Fig. 6a "relu6 in bottleneck");
//   - `shortcut = Shortcut::expansion` moves the residual to the wide tensors (Fig. 6b "shortcut
//     between expansions"): the unit becomes depthwise → project → expand, its input and output
//     are the expanded t·k-channel tensors, and the add joins those; the model puts one
//     expansion before the first such unit. `Shortcut::none` drops the add.
// Both blocks report their Mult-Adds through ReportsMacs (engine/summary.h), so a model's
// count is exact. Book: book/05-mobilenet.md, book/07-mobilenet_v2.md.
// Not here: squeeze-excite and h-swish (MobileNetV3), dilation.
#pragma once
#include <cstdint>
#include <memory>

#include "engine/summary.h"
#include "layers/conv.h"
#include "layers/norm.h"

namespace mgf {

class DepthwiseSeparable : public Module, public ReportsMacs {
 public:
  // in → out channels; `stride` on the depthwise conv. batch_norm = false gives the bare
  // two convs with biases (MobileNets Table 3 counts only the convs: use bias = false too).
  DepthwiseSeparable(int64_t in, int64_t out, int64_t stride = 1, bool batch_norm = true, bool bias = true);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "DepthwiseSeparable"; }
  int64_t macs_per_image(const Shape& input, const Shape& output) const override;
  const int64_t in_channels, out_channels, stride;
  std::shared_ptr<Conv2d> depthwise, pointwise;         // [in, 1, 3, 3], [out, in, 1, 1]
  std::shared_ptr<BatchNorm2d> bn_dw, bn_pw;             // nullptr without batch norm
};

enum class Shortcut { bottleneck, expansion, none };

struct InvertedResidualOptions {
  int64_t t = 6;                        // expansion factor (MobileNetV2 uses 6; Fig. 6 and §6.1)
  int64_t stride = 1;
  bool linear_bottleneck = true;        // false: ReLU6 after the projection (the ablation)
  Shortcut shortcut = Shortcut::bottleneck;
};

class InvertedResidual : public Module, public ReportsMacs {
 public:
  // Bottleneck channels in → out (k → k'). With Shortcut::expansion the block's input has
  // t·in channels and its output t·out (see the header comment).
  InvertedResidual(int64_t in, int64_t out, InvertedResidualOptions o = {});
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InvertedResidual"; }
  int64_t macs_per_image(const Shape& input, const Shape& output) const override;
  bool has_residual() const { return residual_; }
  // Memory-efficient inference (MobileNetV2 §5.1): with pieces = n > 1, an eval-mode forward
  // without a graph computes the t·k hidden channels in n groups — expand a group, depthwise
  // it, project it, add its share to the output — so no more than one group of the wide
  // tensor is ever alive. The result is the same function (up to float summation order).
  // Bottleneck placement with an expansion conv only; otherwise the ordinary forward runs.
  int64_t inference_pieces = 1;
  const int64_t in_channels, out_channels;
  const InvertedResidualOptions options;
  // expand is nullptr when t = 1 in bottleneck placement (MobileNetV2's first block has no
  // expansion conv, Table 2 "t = 1"); the depthwise conv then runs on the input directly.
  std::shared_ptr<Conv2d> expand, depthwise, project;
  std::shared_ptr<BatchNorm2d> bn_expand, bn_dw, bn_project;

 private:
  bool residual_;
  Var forward_in_pieces(const Var& x);
};

}  // namespace mgf
