// layers/conv.h — 2-D convolution layer with stride, padding and groups.
// Book: book/01-autograd.md; the op and its GEMM lowering are in engine/ops_conv.cpp.
// groups = 1 is an ordinary conv; groups = in = out is depthwise (MobileNet); in between is
// a grouped conv (ShuffleNet). The weight is [out, in/groups, k, k]; the forward uses
// weight.effective() so masks prune filters or single weights.
// Init (PyTorch's default, layers/init.h default_init): Kaiming uniform with a = √5, i.e.
// W ~ U(±1/√fan_in), fan_in = in/groups·k·k; bias ~ U(±1/√fan_in).
// Non-square KH×KW kernels through the second constructor (Jaderberg 2014's d×1 and 1×d
// filters, book/13-lowrank_separable.md); kernel_size is then KH. Not here: dilation.
#pragma once
#include <cstdint>

#include "engine/ops.h"
#include "layers/module.h"

namespace mgf {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t k, Conv2dOptions o = {}, bool bias = true);
  Conv2d(int64_t in, int64_t out, int64_t kh, int64_t kw, Conv2dOptions o, bool bias = true);
  Var forward(const Var& x) override;   // [N, in, H, W] → [N, out, OH, OW]
  std::string type_name() const override { return "Conv2d"; }

  const int64_t in_channels, out_channels, kernel_size;
  const int64_t kernel_h, kernel_w;   // == kernel_size for the square constructor
  const Conv2dOptions options;
  Parameter& weight;   // [out, in/groups, kh, kw]
  Parameter* bias;     // [out], or nullptr
};

}  // namespace mgf
