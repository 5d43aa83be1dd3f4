// layers/models/binary_lenet5.h — the binary LeNet-5 of the XNOR-Net and XNOR-Net++ chapters,
// built from layers (layers/*.h and compression/quantization/binary_layers.h).
//
// Caffe's LeNet-5 (conv 20@5×5, pool, conv 50@5×5, pool, fc 500, fc 10) on 28×28 inputs, with
// batch norm where the paper's block needs it. conv1 and fc2 stay real (XNOR-Net Algorithm 1);
// conv2 and fc1 are binary according to the mode. Block order (XNOR-Net §3.2, Fig. 3):
// BN → BinActiv → BinConv → Pool instead of Conv → BN → Activ → Pool. The children, in order:
//   real, bwn:      conv1 bn1 relu1 pool1 | conv2 bn2 relu2 pool2 | flatten fc1 bn3 relu3 | fc2
//   xnor, B-A-C-P:  conv1 bn1 relu1 pool1 | bn2 conv2 pool2 | flatten bn3 fc1 | bn4 relu4 fc2
//   xnor, C-B-A-P:  conv1 bn1 sign1 pool1 | conv2 bn2 sign2 pool2 | flatten fc1 bn3 relu3 | fc2
//   xnorpp:         as xnor B-A-C-P, with the learned Γ instead of α and K (no β)
// In B-A-C-P the binary activation sign(·) is inside conv2 / fc1 (binary_conv2d binarizes its
// input, and K comes from the real batch-norm output); in C-B-A-P it is a SignSTE layer before
// the pool, so max-pooling sees ±1 values. "real" runs conv2 and fc1 through the same op with
// real weights, so the float row differs from the others only in what is binarized.
// Init: He normal for the four weights, biases 0, batch norm γ = 1, β = 0; the draws are
// exactly the four weights, in the order conv1, conv2, fc1, fc2, from global_rng(). The packed form is compression/quantization/packed_binary.h.
// Book: book/23-xnor.md, book/24-xnorpp.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compression/quantization/binary_layers.h"
#include "engine/data.h"
#include "engine/train.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/sequential.h"

namespace mgf {

enum class BinaryMode { real, bwn, xnor, xnorpp };
enum class BlockOrder { bacp, cbap };  // BN-BinActiv-BinConv-Pool (paper) vs Conv-BN-Activ-Pool

struct BinaryNetConfig {
  BinaryMode mode = BinaryMode::xnor;
  BlockOrder order = BlockOrder::bacp;  // only read in mode xnor
  bool use_alpha = true;                // bwn / xnor: α (Eq. 6) or plain sign weights
  bool use_beta = true;                 // xnor: K (β) or not
  BwnGrad wgrad = BwnGrad::paper;
  int gamma_case = 1;                   // xnorpp: 1..4 (xnorpp.h)
  int64_t c1 = 20, c2 = 50, fc = 500;   // Caffe LeNet-5 widths
  std::string name() const;             // "float", "BWN", "XNOR B-A-C-P", "XNOR++ case 4", ...
  bool bacp() const;                    // the paper's block order (xnor B-A-C-P, or xnorpp)
};

class BinaryLeNet5 : public Sequential {
 public:
  explicit BinaryLeNet5(BinaryNetConfig cfg);
  Var forward(const Var& x) override;  // images [N, 1, 28, 28] → logits [N, 10]
  std::string type_name() const override { return "BinaryLeNet5"; }
  const BinaryNetConfig& config() const { return cfg_; }
  // Bytes of the weights as deployed: binary layers 1 bit per weight + α (fp32 each), the rest fp32.
  int64_t deployed_weight_bytes() const;
  int64_t float_weight_bytes() const;  // the same parameters (and batch-norm statistics) all in fp32
  // The latent weights of the binary layers with their full names ("conv2.weight", "fc1.weight").
  std::vector<NamedParameter> binary_weights() const;

  // The four weighted layers (also children "conv1", "conv2", "fc1", "fc2").
  Conv2d* conv1;
  BinaryConv2d* conv2;
  BinaryLinear* fc1;
  Linear* fc2;

 private:
  BinaryNetConfig cfg_;
};

// ---- training (the examples and the demo use this) --------------------------------------------
struct BinaryTrainOptions {
  int epochs = 5;
  int64_t batch = 64;
  float lr = 1e-3f;  // Adam, as the XNOR-Net authors trained; cosine decay to 0 (per batch) over the epochs
};
// Trains on data.train and returns the test result (batch-norm running statistics, no graph).
EvalResult train_binary_lenet(BinaryLeNet5& model, const DataSplits& data, const BinaryTrainOptions& o,
                              const std::string& label = "");

}  // namespace mgf
