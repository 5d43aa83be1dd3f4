// compression/quantization/xnor.h — XNOR-Net (Rastegari, Ordonez, Redmon, Farhadi, ECCV 2016).
//
// §3.1 Binary-Weight-Networks (BWN): W ≈ αB, B = sign(W), α = ‖W‖ℓ1 / n per output filter
//   (Eq. 6, the closed-form minimiser of ‖W − αB‖²); the input stays real.
// §3.2 XNOR-Networks: the input is binarized too, I ≈ βH, H = sign(I), and β for every
//   receptive field is the map K = A ∗ k (A = Σ_c|I_c|/c, k a box filter):  I ∗ W ≈
//   (sign(I) ⊛ sign(W)) ⊙ Kα  (Eq. 11), ⊛ being xnor + popcount (binary_gemm.h).
// Training (Algorithm 1): real-valued latent weights, binarized in every forward; the gradient
//   of sign is the straight-through estimator 1_{|r|≤1} (Eq. 10 for the input; for the weights
//   ∂C/∂W_i = ∂C/∂W̃_i·(1/n + ∂sign/∂W_i·α)); first and last layers stay real.
// Block order (§3.2, Fig. 3): BN → BinActiv → BinConv → Pool instead of Conv → BN → Activ → Pool.
//
// This file holds: the autograd ops (sign_ste, bwn_weights, binary_conv2d), the LeNet-5-shaped
// binary net of our experiment (BinaryLeNet5), the packed export (our .xnor file: magic,
// version, checksum, atomic write), and the packed inference that runs it on the popcount GEMM
// (PackedBinaryNet) — the "simulation = deployment" pair. Book: book/23-xnor.md.
// Deliberately not here: the binary gradient and k-bit quantizer of §4 (not part of the
// ImageNet results), AlexNet/ResNet-sized nets (CPU budget), bit-packed pooling.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/data.h"
#include "engine/train.h"
#include "layers/module.h"

namespace mgf {

// ---- autograd ops -------------------------------------------------------------------------
// y = sign(x) (sign(0) = +1);  backward: dx += dy · 1_{|x| ≤ 1}   (the straight-through estimator)
Var sign_ste(const Var& x);

// Which weight gradient bwn_weights registers.
enum class BwnGrad {
  paper,  // Algorithm 1 as printed: ∂C/∂W_i = ∂C/∂W̃_i · (1/n + α·1_{|W_i|≤1})
  exact,  // the full chain rule through α = ‖W‖₁/n: adds the off-diagonal terms the paper drops:
          // ∂C/∂W_i = sign(W_i)/n · Σ_j ∂C/∂W̃_j·sign(W_j) + α·1_{|W_i|≤1}·∂C/∂W̃_i
};
// W̃ = α_o · sign(W) per output filter o (dim 0 of W, n = numel / dim 0). With use_alpha false,
// W̃ = sign(W) (the "no α" ablation) and the gradient is the STE alone.
Var bwn_weights(const Var& w, bool use_alpha = true, BwnGrad grad = BwnGrad::paper);
// α_o = ‖W_o‖₁ / n, per output filter (Eq. 6); the packed export stores exactly this.
std::vector<float> bwn_alpha(const Tensor& w);

struct BinaryConvOptions {
  int64_t stride = 1, pad = 0;
  bool binarize_input = false;  // XNOR: the input is sign(im2col(x)) (padding counts as +1)
  bool use_beta = false;        // XNOR: scale output pixel p by K_p = (A ∗ k)_p, from the REAL input
};
// y[n][o][p] = K_p · Σ_k w[o][k] · s[k][p], s = im2col(x_n) or its sign.
// x [N, C, H, W] with w [O, C, KH, KW] → [N, O, OH, OW];  x [N, C] with w [O, C] → [N, O] (a fully
// connected layer is the 1×1 case). w is usually bwn_weights(...): the op itself is linear in w.
// Backward: dw exact; dx through the STE of the input sign and through K (d|x|/dx = sign x).
Var binary_conv2d(const Var& x, const Var& w, const BinaryConvOptions& o);

// ---- the experiment's network ---------------------------------------------------------------
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
};

// Caffe's LeNet-5 (conv 20@5×5, pool, conv 50@5×5, pool, fc 500, fc 10) on 28×28 inputs, with
// batch norm where the paper's block needs it. conv1 and fc2 stay real (Algorithm 1); conv2
// and fc1 are binary according to the mode:
//   real, bwn:       conv1-BN-ReLU-pool | conv2-BN-ReLU-pool | fc1-BN-ReLU | fc2
//   xnor, B-A-C-P:   conv1-BN-ReLU-pool | BN-sign-bconv2-pool | BN-sign-bfc1 | BN-ReLU-fc2
//   xnor, C-B-A-P:   conv1-BN-sign-pool | bconv2-BN-sign-pool | bfc1-BN-ReLU | fc2
//   xnorpp:          as xnor B-A-C-P, with the learned Γ instead of α and K (no β)
class BinaryLeNet5 : public Module {
 public:
  explicit BinaryLeNet5(BinaryNetConfig cfg);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "BinaryLeNet5"; }
  const BinaryNetConfig& config() const { return cfg_; }
  // Bytes of the weights as deployed: binary layers 1 bit per weight + α (fp32 each), the rest fp32.
  int64_t deployed_weight_bytes() const;
  int64_t float_weight_bytes() const;  // the same parameters all in fp32

  struct Bn {
    Parameter *gamma, *beta;
    Tensor mean, var;
  };
  Parameter *w1, *b1, *w2, *w3, *w4, *b4;
  Bn bn1, bn2, bn3, bn4;       // which exist depends on the layout (see the table above)
  std::vector<Parameter*> g2, g3;  // xnorpp Γ factors of conv2 and fc1
 private:
  Var bn(Bn& b, const Var& x);
  Var binary_layer(const Var& x, Parameter* w, const std::vector<Parameter*>& gamma);
  void add_bn(Bn& b, const std::string& name, int64_t C);
  BinaryNetConfig cfg_;
};

// ---- the packed format and inference on the popcount kernels --------------------------------
// export_packed writes an XNOR-Net or XNOR-Net++ BinaryLeNet5 (B-A-C-P) as our .xnor file.
// Layout, version 2 — every field little-endian (engine/io/bytes.h), floats IEEE-754 binary32:
//   magic "MGFXNOR1" (8) | u32 version = 2 | u32 record count | u64 payload bytes
//   | u32 CRC-32 of the payload (engine/io/crc32.h) | payload
//   payload = records { u32 name length, name, u32 kind (0 fp32 tensor, 1 packed signs),
//                       u32 ndim, i64 dims[ndim], data }
//   data: kind 0: numel × f32; kind 1 ([rows, K]): rows × ceil(K/64) × u64, the packed sign rows
//         of bitpack.h (bit k of word k/64 set for sign +1)
// Binary layers are packed sign rows + their scales; the real layers and batch-norm statistics
// are fp32. Version 1 (native byte order, FNV-1a checksum) is refused with a message saying to
// re-export. Written atomically (write_file_atomic, engine/io/file.h).
// Returns the file size in bytes. Throws std::invalid_argument for a model it cannot pack.
int64_t export_packed(BinaryLeNet5& model, const std::string& path);

class PackedBinaryNet {
 public:
  // Reads and checks the file; a wrong magic, version, size or checksum, or a truncated record,
  // is a std::runtime_error naming the file and what was expected vs found.
  explicit PackedBinaryNet(const std::string& path);
  // The same from the bytes of a file already in memory (`name` is used in messages): every
  // field is checked against the bytes left before anything is allocated from it, and every
  // record forward() reads against the shape it assumes, so no input makes forward() misbehave.
  static PackedBinaryNet from_bytes(const std::vector<uint8_t>& bytes, const std::string& name);
  // Logits [N, 10] for images [N, 1, 28, 28], binary layers on bgemm (xnor + popcount).
  Tensor forward(const Tensor& x) const;
  int64_t file_bytes() const { return file_bytes_; }
  int64_t binary_weight_bytes() const;  // packed bits of the binary layers
  bool xnorpp() const { return xnorpp_; }

 private:
  struct Rec {
    std::vector<int64_t> dims;
    std::vector<float> f;      // kind 0
    std::vector<uint64_t> b;   // kind 1: rows = dims[0], K = dims[1]
  };
  PackedBinaryNet() = default;
  const Rec& rec(const std::string& name) const;
  std::vector<std::pair<std::string, Rec>> recs_;
  int64_t file_bytes_ = 0;
  bool xnorpp_ = false, use_beta_ = true;
};

// ---- training and evaluation helpers (the examples and the demo use these) --------------------
struct BinaryTrainOptions {
  int epochs = 5;
  int64_t batch = 64;
  float lr = 1e-3f;  // Adam, as the XNOR-Net authors trained; cosine decay to 0 (per batch) over the epochs
};
// Trains on data.train and returns the test result (batch-norm running statistics, no graph).
EvalResult train_binary_lenet(BinaryLeNet5& model, const DataSplits& data, const BinaryTrainOptions& o,
                              const std::string& label = "");
// The packed model on a dataset: top-1 errors, plus how many predictions differ from `reference`
// logits when given (the simulation = deployment count).
struct PackedEval {
  int64_t errors = 0, count = 0, disagreements = 0;
  double seconds = 0;
};
PackedEval evaluate_packed(const PackedBinaryNet& net, const Dataset& data, const Tensor* reference = nullptr,
                           int64_t batch = 1000);

// The demo's "binarize" row in one call: trains an XNOR-Net (B-A-C-P) LeNet-5 for `epochs`,
// writes it packed to `packed_path`, reloads it and runs the packed model (popcount kernels)
// on the test set.
struct BinarizeRow {
  double sim_error = 0, packed_error = 0;          // test error of the float simulation / packed model
  int64_t float_bytes = 0, deployed_bytes = 0, file_bytes = 0;
  double train_seconds = 0, packed_images_per_s = 0;
};
BinarizeRow xnor_binarize_row(const DataSplits& data, int epochs, const std::string& packed_path);

}  // namespace mgf
