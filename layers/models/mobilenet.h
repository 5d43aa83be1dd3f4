// layers/models/mobilenet.h — small MobileNets for 28×28 images (Fashion-MNIST).
//
// ImageNet's MobileNet (Howard et al. 2017, Table 1) and MobileNetV2 (Sandler et al. 2018,
// Table 2) start at 224×224 and downsample 32×; on 28×28 we keep the shape of the idea — a
// full conv stem with stride 2, then the paper's blocks, global average pooling, one FC —
// at a size two busy CPU cores can train in minutes. Channels are multiples of 16 so the
// width multiplier α ∈ {1, 0.75, 0.5, 0.25} gives whole channel counts (MobileNets §3.3).
//
// make_mobilenet_v1(α, separable):
//   stem conv 3×3/2 1→16α + BN + ReLU                       [16α, 14, 14]
//   5 layers (32, s1) (64, s2) (64, s1) (128, s2) (128, s1) each DepthwiseSeparable, or with
//   separable = false the standard 3×3 conv + BN + ReLU it replaces (MobileNets Table 4's
//   "Conv MobileNet")                                        [128α, 4, 4]
//   global average pool → FC 128α → 10
// make_mobilenet_v2(o): MobileNetV2's body at small scale:
//   stem conv 3×3/2 1→16 + BN + ReLU6                        [16, 14, 14]
//   6 InvertedResiduals (c, s) = (16,1) (24,2) (24,1) (32,2) (32,1) (64,1), every one with
//   the same expansion t (Table 2 uses t = 1 for the first block; one t here so the t sweep
//   of §6.1 changes one thing); residuals on blocks 1, 3, 5 (stride 1, same width)
//   1×1 conv → 128 + BN + ReLU6, global average pool, FC 128 → 10.
//   With Shortcut::expansion a 1×1 expansion 16 → 16t follows the stem and every unit maps
//   wide tensors to wide tensors (layers/mobile_blocks.h).
// Book: book/05-mobilenet.md, book/07-mobilenet_v2.md. Not here: ImageNet-size models.
#pragma once
#include <cstdint>
#include <memory>

#include "engine/cli.h"
#include "engine/data.h"
#include "layers/models/baseline.h"
#include "layers/mobile_blocks.h"
#include "layers/sequential.h"

namespace mgf {

// round(α·c), at least 1: the channel count of a layer thinned by the width multiplier
int64_t width(int64_t c, double alpha);

std::shared_ptr<Sequential> make_mobilenet_v1(double alpha = 1.0, bool separable = true, int64_t classes = 10);

// The MACs per image of a make_mobilenet_v1 net split by how the width multiplier scales
// them (MobileNets eq. 7): `both` — the convs whose input AND output channels α thins (the
// separable layers' pointwise 1×1 convs, or the standard net's 3×3 body convs): ∝ α²;
// `depthwise` — one filter per channel: ∝ α; `stem` (1 input channel, fixed) and `fc` (10
// outputs, fixed): ∝ α. total = both + depthwise + stem + fc = summarize(...).macs.
struct WidthMacs {
  int64_t both = 0, depthwise = 0, stem = 0, fc = 0, total = 0;
  int64_t body() const { return both + depthwise; }   // the five layers layer1..layer5
};
WidthMacs mobilenet_v1_width_macs(Sequential& net, int64_t size);

struct MobileNetV2Options {
  int64_t t = 6;
  bool linear_bottleneck = true;
  Shortcut shortcut = Shortcut::bottleneck;
  double alpha = 1.0;   // on every layer but the last 1×1 conv (MobileNetV2 §4)
  int64_t classes = 10;
};
std::shared_ptr<Sequential> make_mobilenet_v2(const MobileNetV2Options& o = {});
// MobileNetV2 §5.1's memory-efficient inference on every InvertedResidual of `net`: each
// eval-mode forward without a graph computes the wide interior in `pieces` groups
// (InvertedResidual::inference_pieces); 1 = the plain forward.
void set_inference_pieces(Sequential& net, int64_t pieces);

// The resolution multiplier ρ (MobileNets §3.4) applied to the data: every image resized to
// size×size by bilinear interpolation (pixel centres aligned, as image libraries do).
Dataset resize_images(const Dataset& d, int64_t size);

// Median forward time in µs of `model` on a batch of shape `input` (eval mode, no graph),
// at whatever thread count is set (the examples run --threads 1): the latency columns of
// the chapters' tables, measured side by side in one run.
double forward_latency_us(Module& model, const Shape& input, int samples = 15);

// The setup both chapters' examples share. declare_mobile_flags adds --set --train --test
// --seeds --lr (with these defaults) and the --val default; after args.parse(),
// load_mobile_run loads the first --train training images (--quick: 1200) and --test test
// images (--quick: 500) of --set, holds --val out of the training slice, prints one line
// about them, and fills the recipe: SGD momentum 0.9, lr --lr, the given weight decay,
// half an epoch of warm-up then cosine, batch 64, --epochs (default full_epochs, quick 1).
struct MobileRun {
  DataSplits data;
  BaselineRecipe recipe;
  int seeds = 1;
};
void declare_mobile_flags(ExampleArgs& args, int64_t train, int64_t val, int64_t test, const std::string& seeds_help,
                          const std::string& lr_help);
MobileRun load_mobile_run(const ExampleArgs& args, int full_epochs, float weight_decay);

}  // namespace mgf
