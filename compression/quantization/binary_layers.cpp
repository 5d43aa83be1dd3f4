// compression/quantization/binary_layers.cpp — see binary_layers.h.
#include "compression/quantization/binary_layers.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "compression/quantization/xnorpp.h"
#include "layers/init.h"

namespace mgf {

void he_normal(Tensor& w, Rng& rng) { normal_init(w, 0.0f, std::sqrt(2.0f / static_cast<float>(fan_in(w))), rng); }

BinaryLayer::BinaryLayer(Shape weight_shape, BinaryLayerOptions o)
    : options(o), weight(register_parameter("weight", Tensor(std::move(weight_shape)))) {
  if (o.gamma_case < 0 || o.gamma_case > 4)
    throw std::invalid_argument("BinaryLayer: expected Γ case 0 (none) or 1..4, found " +
                                std::to_string(o.gamma_case));
  Tensor& w = weight.var.value();
  he_normal(w);
  if (o.gamma_case == 0) return;
  const std::vector<Tensor> init = gamma_init(o.gamma_case, w, o.out_h, o.out_w);
  const std::vector<GammaFactor> f = gamma_factors(o.gamma_case, w.dim(0), o.out_h, o.out_w);
  for (size_t i = 0; i < f.size(); ++i) gamma.push_back(&register_parameter(f[i].name, init[i]));
}

void BinaryLayer::reset_gamma() {
  if (options.gamma_case == 0) return;
  const std::vector<Tensor> init = gamma_init(options.gamma_case, weight.var.value(), options.out_h, options.out_w);
  for (size_t i = 0; i < gamma.size(); ++i) gamma[i]->var.value() = init[i];
}

Var BinaryLayer::forward(const Var& x) {
  const BinaryLayerOptions& o = options;
  BinaryConvOptions c;
  c.stride = o.stride;
  c.pad = o.pad;
  if (o.gamma_case != 0) {  // XNOR-Net++: sign(W) and sign(x), no α and no β: Γ carries the whole scale
    c.binarize_input = true;
    std::vector<Var> f;
    for (Parameter* p : gamma) f.push_back(p->effective());
    return apply_gamma(binary_conv2d(x, bwn_weights(weight.effective(), false), c), f);
  }
  c.binarize_input = o.binarize_input;
  c.use_beta = o.use_beta;
  const Var w = o.binarize_weights ? bwn_weights(weight.effective(), o.use_alpha, o.wgrad) : weight.effective();
  return binary_conv2d(x, w, c);
}

}  // namespace mgf
