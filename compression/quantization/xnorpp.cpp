// compression/quantization/xnorpp.cpp — XNOR-Net++'s learned scale Γ. See xnorpp.h.
// Book: book/24-xnorpp.md.
#include "compression/quantization/xnorpp.h"

#include <stdexcept>
#include <string>

#include "compression/quantization/xnor.h"
#include "engine/ops.h"

namespace mgf {

static void check_case(int c) {
  if (c < 1 || c > 4) throw std::invalid_argument("XNOR-Net++: expected Γ case 1..4, found " + std::to_string(c));
}

std::vector<GammaFactor> gamma_factors(int gamma_case, int64_t O, int64_t OH, int64_t OW) {
  check_case(gamma_case);
  if (OH == 0 || OW == 0) return {{"alpha", {O}}};  // fully connected: every case is α ∈ R^o
  switch (gamma_case) {
    case 1: return {{"alpha", {O, 1, 1}}};
    case 2: return {{"gamma", {O, OH, OW}}};
    case 3: return {{"alpha", {O, 1, 1}}, {"beta", {OH, OW}}};
    default: return {{"alpha", {O, 1, 1}}, {"beta", {OH, 1}}, {"gamma", {OW}}};
  }
}

std::vector<Tensor> gamma_init(int gamma_case, const Tensor& w, int64_t OH, int64_t OW) {
  const int64_t O = w.dim(0);
  const std::vector<float> alpha = bwn_alpha(w);  // start from XNOR-Net's analytic α = ‖W_o‖₁/n
  std::vector<Tensor> out;
  for (const GammaFactor& f : gamma_factors(gamma_case, O, OH, OW)) {
    Tensor t(f.shape, 1.0f);
    if (f.name == "alpha" || (f.name == "gamma" && gamma_case == 2)) {  // per-channel part = α_o
      const int64_t per = t.numel() / O;
      for (int64_t o = 0; o < O; ++o)
        for (int64_t i = 0; i < per; ++i) t[o * per + i] = alpha[static_cast<size_t>(o)];
    }
    out.push_back(std::move(t));
  }
  return out;
}

Var apply_gamma(const Var& y, const std::vector<Var>& factors) {
  // y ⊙ α ⊙ β ⊙ γ: each factor broadcasts along the dims it does not have (ops.h's rule), and
  // mul's backward sums the gradient over those dims — ∂C/∂α_o = Σ_{n,h,w} ∂C/∂y·(β γ y/…)
  Var out = y;
  for (const Var& f : factors) out = mul(out, f);
  return out;
}

Tensor gamma_full(int gamma_case, const std::vector<Tensor>& factors, int64_t O, int64_t OH, int64_t OW) {
  check_case(gamma_case);
  const bool dense = OH == 0 || OW == 0;
  const int64_t P = dense ? 1 : OH * OW;
  Tensor G({O, P}, 1.0f);
  std::vector<GammaFactor> fs = gamma_factors(gamma_case, O, OH, OW);
  if (fs.size() != factors.size())
    throw std::invalid_argument("gamma_full: expected " + std::to_string(fs.size()) + " factors, found " +
                                std::to_string(factors.size()));
  for (size_t i = 0; i < fs.size(); ++i) {
    const Tensor& f = factors[i];
    if (f.shape() != fs[i].shape)
      shape_error("gamma_full", "factor " + fs[i].name + " " + shape_str(fs[i].shape), f.shape());
    for (int64_t o = 0; o < O; ++o)
      for (int64_t p = 0; p < P; ++p) {
        const int64_t h = dense ? 0 : p / OW, w = dense ? 0 : p % OW;
        float v;
        if (fs[i].name == "alpha") v = f[o];
        else if (gamma_case == 2) v = f[(o * OH + h) * OW + w];
        else if (fs[i].name == "beta") v = gamma_case == 3 ? f[h * OW + w] : f[h];
        else v = f[w];  // γ of case 4
        G[o * P + p] *= v;  // the same order as apply_gamma: α, then β, then γ
      }
  }
  return G;
}

int64_t gamma_parameter_count(int gamma_case, int64_t O, int64_t OH, int64_t OW) {
  int64_t n = 0;
  for (const GammaFactor& f : gamma_factors(gamma_case, O, OH, OW)) n += shape_numel(f.shape);
  return n;
}

}  // namespace mgf
