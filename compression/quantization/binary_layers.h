// compression/quantization/binary_layers.h — XNOR-Net's ops (xnor.h) and XNOR-Net++'s Γ
// (xnorpp.h) as layers, so a binary network is a Sequential like any other.
//
// BinaryConv2d (weight [O, C, k, k]) and BinaryLinear (weight [O, C], the 1×1 case) run
//   y = binary_conv2d(x, W̃, {binarize_input, use_beta})       W̃ = α·sign(W), sign(W) or W
// or, with a Γ case (XNOR-Net++), y = (sign(x) ⊛ sign(W)) ⊙ Γ with Γ's factors as parameters.
// The weight stays real (the latent weight of Algorithm 1) and is binarized in every forward.
// Init: He normal, W ~ N(0, 2/fan_in) (He et al. 2015: the latent weights feed a sign or a
// ReLU block); XNOR-Net++'s Γ starts at α = ‖W_o‖₁/n (gamma_init, xnorpp.h), so a model that
// redraws the weight calls reset_gamma() after it.
// SignSTE is sign_ste as a layer: the binary activation of the C-B-A-P block order.
// Book: book/23-xnor.md, book/24-xnorpp.md. Not here: a bias (XNOR-Net's binary layers have
// none; the batch norm that follows carries the shift), groups.
#pragma once
#include <cstdint>
#include <vector>

#include "compression/quantization/xnor.h"
#include "engine/rng.h"
#include "layers/module.h"

namespace mgf {

struct BinaryLayerOptions {
  bool binarize_weights = true;  // false: W itself (the float baseline runs through the same op)
  bool use_alpha = true;         // W̃ = α·sign(W) (Eq. 6) or sign(W)
  BwnGrad wgrad = BwnGrad::paper;
  bool binarize_input = false;   // XNOR: sign of the input (padding counts as +1)
  bool use_beta = false;         // XNOR: K (β) from the real input
  int gamma_case = 0;            // XNOR-Net++ 1..4: sign(W), sign(x) and the learned Γ instead of α, K
  int64_t out_h = 0, out_w = 0;  // the output size Γ is shaped for (0, 0 for a fully connected layer)
  int64_t stride = 1, pad = 0;   // BinaryConv2d only
};

// The shared part of both binary layers.
class BinaryLayer : public Module {
 public:
  Var forward(const Var& x) override;
  void reset_gamma();  // Γ's factors back to gamma_init(W): call after changing W
  const BinaryLayerOptions options;
  Parameter& weight;              // the latent real weight
  std::vector<Parameter*> gamma;  // XNOR-Net++ Γ factors, named as gamma_factors() names them

 protected:
  BinaryLayer(Shape weight_shape, BinaryLayerOptions o);
};

class BinaryConv2d : public BinaryLayer {
 public:
  BinaryConv2d(int64_t in, int64_t out, int64_t k, BinaryLayerOptions o = {}) : BinaryLayer({out, in, k, k}, o) {}
  std::string type_name() const override { return "BinaryConv2d"; }
};

class BinaryLinear : public BinaryLayer {
 public:
  BinaryLinear(int64_t in, int64_t out, BinaryLayerOptions o = {}) : BinaryLayer({out, in}, o) {}
  std::string type_name() const override { return "BinaryLinear"; }
};

// He normal: w ~ N(0, σ²), σ = √(2/fan_in) (layers/init.h's fan_in). Written as √(2/fan), not
// kaiming_normal's gain/√fan: the two round differently (at fan_in = 500, LeNet-5's conv2),
// and the chapters' runs were drawn with this one.
void he_normal(Tensor& w, Rng& rng = global_rng());

class SignSTE : public Module {
 public:
  Var forward(const Var& x) override { return sign_ste(x); }
  std::string type_name() const override { return "SignSTE"; }
};

}  // namespace mgf
