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
// This file holds the paper's ops: sign_ste, bwn_alpha / bwn_weights and binary_conv2d (the
// float simulation of the binary convolution, with its gradients). Built on them:
//   binary_layers.h                  BinaryConv2d / BinaryLinear / SignSTE, the ops as layers
//   layers/models/binary_lenet5.h    the LeNet-5-shaped binary net of our experiment
//   bit_activations.h                activations kept in bits between binary layers: BN + sign
//                                    as thresholds, max-pool as OR, im2col on packed pixels
//   packed_binary.h                  the .xnor file and PackedBinaryNet, which runs it on the
//                                    popcount GEMM — the "simulation = deployment" pair
// Book: book/23-xnor.md.
// Deliberately not here: the binary gradient and k-bit quantizer of §4 (not part of the
// ImageNet results), AlexNet/ResNet-sized nets (CPU budget). Bit-packed pooling and the
// batch-norm thresholds between binary layers are in bit_activations.h.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/autograd.h"

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

}  // namespace mgf
