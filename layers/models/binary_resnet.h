// layers/models/binary_resnet.h — a small binary ResNet for the XNOR-Net++ chapter, built from
// layers (layers/*.h and compression/quantization/binary_layers.h).
//
// Why this net and not the binary LeNet-5: in BinaryLeNet5 a batch norm follows every scaled
// binary layer (conv2 → pool → bn3, fc1 → bn4), and a batch norm divides any positive
// per-channel scale out, so XNOR-Net++'s learned Γ (case 1 entirely, cases 2–4 up to their
// variation inside a pooling window) cannot change the function (book/24-xnorpp.md; tested in
// tests/test_xnorpp.cpp). Here the scaled binary conv is ADDED to a real-valued shortcut, as in
// the paper's ResNet-18 (Bulat & Tzimiropoulos 2019, §3; the block of Bi-Real Net / XNOR-Net's
// B-A-C order):
//     block(x) = x + Γ ⊙ (sign(BN(x)) ⊛ sign(W))          (XNOR-Net++, cases 1..4)
//     block(x) = x + α·K ⊙ (sign(BN(x)) ⊛ sign(W))        (XNOR-Net: α from W, K from BN(x))
// so the scale sets how much of the binary branch is mixed into the real signal, and the batch
// norm of the next block normalises the SUM, not the scaled branch alone.
// The network (28×28 inputs, width C):
//   stem: conv 3×3 1→C (real), bn, relu, max-pool 2        28 → 14
//   stage 1: `blocks_per_stage` binary blocks at 14×14
//   pool: max-pool 2                                      14 → 7
//   stage 2: `blocks_per_stage` binary blocks at 7×7
//   head: bn, relu, flatten, fc C·49→10 (real)
// Every block keeps C channels, so the shortcut is the identity (no downsampling conv to keep
// real, unlike ResNet-18). Only the first conv and the classifier are real (XNOR-Net Alg. 1).
// Init: the layers' own (Conv2d/Linear: Kaiming uniform; binary weights: He normal, Γ at
// ‖W_o‖₁/n), drawn from global_rng() in construction order, so a seed gives one network.
// The packed form: export_packed() writes each block as one binary_res_block record of the .xnor
// file, and PackedBinaryNet runs it on the popcount GEMM (compression/quantization/packed_binary.h).
// Book: book/24-xnorpp.md.
#pragma once
#include <cstdint>
#include <string>

#include "compression/quantization/binary_layers.h"
#include "engine/data.h"
#include "layers/models/binary_lenet5.h"  // BinaryTrainOptions
#include "layers/norm.h"
#include "layers/sequential.h"

namespace mgf {

// One binary residual block: y = x + scale ⊙ (sign(BN(x)) ⊛ sign(W)), 3×3, pad 1, C → C.
// gamma_case 0 is XNOR-Net's analytic α·K (binary_conv2d with use_alpha and use_beta), 1..4 the
// learned Γ of XNOR-Net++ shaped for the hw×hw output (xnorpp.h). Input [N, C, hw, hw].
class BinaryResBlock : public Module {
 public:
  BinaryResBlock(int64_t C, int64_t hw, int gamma_case);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "BinaryResBlock"; }
  BatchNorm2d* bn;     // child "bn": normalises the block input before the sign
  BinaryConv2d* conv;  // child "conv": sign(W), sign of its input, and α·K or Γ
};

struct BinaryResNetConfig {
  int gamma_case = 1;          // 0: XNOR-Net α·K (analytic); 1..4: XNOR-Net++ Γ case
  int64_t width = 16;          // C: channels of the stem and of every block
  int blocks_per_stage = 2;    // binary blocks at 14×14, and again at 7×7
  std::string name() const;    // "XNOR-Net alpha*K", "XNOR++ case 4"
};

class BinaryResNet : public Sequential {
 public:
  explicit BinaryResNet(BinaryResNetConfig cfg);
  Var forward(const Var& x) override;  // images [N, 1, 28, 28] → logits [N, 10]
  std::string type_name() const override { return "BinaryResNet"; }
  const BinaryResNetConfig& config() const { return cfg_; }
  std::vector<BinaryResBlock*> blocks;  // children "block1", "block2", ... in order
  // Learned scale values over all blocks (0 for α·K, which is computed).
  int64_t learned_scale_count() const;

 private:
  BinaryResNetConfig cfg_;
};

// Adam with a cosine decay to 0 followed per batch over o.epochs (as train_binary_lenet), on
// `train` only; the caller evaluates on validation or test. Leaves the model in train mode.
void train_binary_resnet(BinaryResNet& model, const Dataset& train, const BinaryTrainOptions& o,
                         const std::string& label = "");

}  // namespace mgf
