// layers/fire.h — the Fire module of SqueezeNet (Iandola et al. 2016, §3.2, Fig. 1).
//
//   x [N, C_in, H, W] → squeeze: s 1×1 filters, ReLU            → [N, s, H, W]
//                     → expand: e1 1×1 filters ‖ e3 3×3 filters (pad 1), each ReLU,
//                       concatenated along channels             → [N, e1 + e3, H, W]
//   simple bypass (§6, Fig. 2 middle): y ← y + x, when C_in = e1 + e3 (added after the
//   expand ReLUs, as the paper's Caffe model adds the two Fire outputs).
//
// The paper's strategies 1-2 (§3.1) in one block: most filters are 1×1 (9× fewer weights
// each), and the 3×3 filters see only s ≪ C_in channels. Parameters (the unit test checks it):
//   C_in·s + s·e1 + 9·s·e3   weights   +   s + e1 + e3   biases,
// MACs per image (stride 1 everywhere, so every stage has H·W outputs per filter):
//   H·W·(C_in·s + s·e1 + 9·s·e3).
// The three stages are held as plain Modules run through forward(), not as Conv2d fields, so
// the Deep Compression runner (compression/deep_compression.h) can build a Fire whose stages
// are CompressedConv2d layers read from a .mgfdc file.
// Book: book/04-squeezenet.md. Deliberately not here: the complex bypass (a 1×1 conv on the
// shortcut), batch norm (SqueezeNet has none).
#pragma once
#include <cstdint>
#include <memory>

#include "engine/summary.h"
#include "layers/module.h"

namespace mgf {

class Fire : public Module, public ReportsMacs {
 public:
  // squeeze s, expand e1 (1×1) and e3 (3×3), all ≥ 1; bypass needs in == e1 + e3. Throws
  // std::invalid_argument naming the sizes otherwise. The paper's constraint s < e1 + e3 is
  // not enforced: the SR sweep of §5.1 runs SR = s / (e1 + e3) up to 1.
  Fire(int64_t in, int64_t s, int64_t e1, int64_t e3, bool bypass = false);
  // The same block with given stages ("squeeze", "expand1x1", "expand3x3"): each maps
  // [N, in, H, W] → [N, s, H, W], [N, s, H, W] → [N, e1, H, W] and → [N, e3, H, W].
  Fire(int64_t in, int64_t s, int64_t e1, int64_t e3, bool bypass, std::shared_ptr<Module> squeeze,
       std::shared_ptr<Module> expand1x1, std::shared_ptr<Module> expand3x3);

  Var forward(const Var& x) override;  // [N, in, H, W] → [N, e1 + e3, H, W]
  std::string type_name() const override { return bypass ? "Fire+bypass" : "Fire"; }
  // H·W·(in·s + s·e1 + 9·s·e3): the dense work of the three convolutions (ReLU, concat and
  // the bypass add count 0, as summary.h counts activations).
  int64_t macs_per_image(const Shape& input, const Shape& output) const override;

  const int64_t in_channels, squeeze_channels, expand1x1_channels, expand3x3_channels;
  const bool bypass;
  int64_t out_channels() const { return expand1x1_channels + expand3x3_channels; }
  Module& squeeze() { return *squeeze_; }
  Module& expand1x1() { return *expand1x1_; }
  Module& expand3x3() { return *expand3x3_; }

 private:
  std::shared_ptr<Module> squeeze_, expand1x1_, expand3x3_;
};

}  // namespace mgf
