// compression/quantization/xnorpp.h — XNOR-Net++ (Bulat & Tzimiropoulos, BMVC 2019).
//
// XNOR-Net scales the binary convolution by α (from the weights, Eq. 6 of XNOR-Net) and K (from
// the input, recomputed for every image). XNOR-Net++ fuses both into ONE scale Γ that is a
// parameter, learned by back-propagation like any weight:
//     I ∗ W ≈ (sign(I) ⊛ sign(W)) ⊙ Γ
// at the same binary cost (one multiply per output, nothing computed from the input). The paper
// tries four shapes for Γ ∈ R^{o×h_out×w_out}:
//   case 1: Γ = α,           α ∈ R^o                      (per output channel)
//   case 2: Γ full,          Γ ∈ R^{o×h_out×w_out}       (many parameters)
//   case 3: Γ = α ⊗ β,       α ∈ R^o, β ∈ R^{h_out×w_out}
//   case 4: Γ = α ⊗ β ⊗ γ,   α ∈ R^o, β ∈ R^{h_out}, γ ∈ R^{w_out}   (rank one; the paper's best)
// For a fully connected layer h_out = w_out = 1 and every case reduces to α ∈ R^o.
// The binary part is binary_conv2d (xnor.h) on sign_ste weights with no β; this file holds the
// Γ factors: their shapes, initial values, the forward product (autograd does the gradients,
// checked in tests/test_xnorpp.cpp) and the materialised Γ for the packed model.
// The network the chapter compares the cases on, a small binary ResNet whose residual add keeps
// Γ from being divided out by a batch norm, is layers/models/binary_resnet.h.
// Book: book/24-xnorpp.md. Not here: the paper's other changes to the training recipe
// (ResNet-18 itself, its data augmentation), which need ImageNet-scale runs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/autograd.h"

namespace mgf {

// Names and shapes of the Γ factors of one layer with O outputs of size OH×OW (OH = OW = 0 for
// a fully connected layer). Shapes are laid out to broadcast against y [N, O, OH, OW]:
// α [O, 1, 1], β [OH, OW] or [OH, 1], γ [OW]; full Γ [O, OH, OW]. Linear: α [O].
struct GammaFactor {
  std::string name;
  Shape shape;
};
std::vector<GammaFactor> gamma_factors(int gamma_case, int64_t O, int64_t OH, int64_t OW);

// Initial values: α_o = ‖W_o‖₁/n (XNOR-Net's analytic α, so training starts where XNOR-Net's
// weight scale is), every spatial factor 1. w is the latent weight [O, ...].
std::vector<Tensor> gamma_init(int gamma_case, const Tensor& w, int64_t OH, int64_t OW);

// y ⊙ Γ, multiplying the factors in one fixed order (α, then β, then γ).
Var apply_gamma(const Var& y, const std::vector<Var>& factors);

// Γ as one tensor [O, OH·OW] (or [O, 1]), the product of the factors in the same order, for the
// packed model (one multiply per output at inference).
Tensor gamma_full(int gamma_case, const std::vector<Tensor>& factors, int64_t O, int64_t OH, int64_t OW);

// How many learned scale values a case costs for one layer.
int64_t gamma_parameter_count(int gamma_case, int64_t O, int64_t OH, int64_t OW);

}  // namespace mgf
