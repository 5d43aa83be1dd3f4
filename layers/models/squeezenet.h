// layers/models/squeezenet.h — a small SqueezeNet for 28×28 images, and the plain 3×3 CNN of
// the same depth it is compared with (book/04-squeezenet.md, experiment 1).
//
// Macro structure (SqueezeNet §3.3 scaled down; ImageNet's 224×224 becomes 28×28):
//   conv1 3×3/2 (stem) → ReLU → fire2 .. fire(1+⌈n/2⌉) at 14×14 → maxpool 2 → the other fires
//   at 7×7 (FireNetConfig::pool_after moves the pool) → conv10 1×1 (one filter per class) → global average pool → logits [N, classes].
// No fully connected layer, as in the paper. The paper's dropout before conv10 and ReLU after
// it are left out (few-epoch training, and logits should be able to go negative).
// Fire i (i = 0 .. fires−1) follows the metaparameters of §5 (Fig. 3):
//   e_i = base_e + incr_e·⌊i / freq⌋,  e_i,3x3 = round(pct3x3·e_i),  e_i,1x1 = e_i − e_i,3x3,
//   s_i = round(SR·e_i)  (each at least 1).
// SqueezeNet itself uses base_e = 128, incr_e = 128, pct3x3 = 0.5, freq = 2, SR = 0.125; the
// defaults here are the same ratios on base_e = incr_e = 32.
// Simple bypass (§6): around every Fire whose input and output widths are equal and whose
// index is odd (fire3, fire5, ... — the paper's fire3/5/7/9 pattern).
// The plain CNN replaces every Fire i by one 3×3 conv (pad 1) from the same input width to
// e_i channels, ReLU — same stages, same widths, same depth in blocks.
// Init: He uniform for the ReLU convs, zero biases, N(0, 0.01) for conv10 (torchvision's).
// Both are Sequentials, so summarize() and the Deep Compression runner walk them layer by layer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "layers/sequential.h"

namespace mgf {

struct FireNetConfig {
  int64_t stem = 32;       // conv1 output channels
  int64_t base_e = 32;     // expand filters of the first Fire
  int64_t incr_e = 32;     // added every `freq` Fires
  int64_t freq = 2;
  int64_t fires = 4;       // the first pool_after run at 14×14, the rest at 7×7
  int64_t pool_after = -1; // Fires before the 2×2 max-pool: −1 = ⌈fires/2⌉ (the default),
                           // fires = after the last Fire (strategy 3 of §3.1: downsample late)
  double sr = 0.125;       // squeeze ratio s_i / e_i
  double pct3x3 = 0.5;     // share of the expand filters that are 3×3
  bool bypass = false;     // simple bypass where widths allow (see above)
  int64_t classes = 10;

  int64_t expand(int64_t i) const;    // e_i
  int64_t expand3x3(int64_t i) const; // e_i,3x3
  int64_t squeeze(int64_t i) const;   // s_i
  int64_t pool_index() const;         // Fires before the pool (pool_after resolved)
  std::string name() const;           // "fire SR 0.125 pct3x3 0.50" (+ " pool@4", " bypass")
};

// Children: conv1 relu1 fire2 fire3 [pool] ... conv10 gap (pool after pool_index() Fires). Throws std::invalid_argument
// naming the field when a size is < 1 or SR / pct3x3 leave a stage with no filter.
std::shared_ptr<Sequential> make_fire_net(const FireNetConfig& c);
// Children: conv1 relu1 conv2 relu2 conv3 relu3 [pool] ... conv10 gap (conv k replaces fire k).
std::shared_ptr<Sequential> make_plain_cnn(const FireNetConfig& c);

}  // namespace mgf
