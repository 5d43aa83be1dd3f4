// layers/init.h — weight initialisers: Kaiming (He et al. 2015) and Xavier (Glorot & Bengio 2010).
// Book: book/01-autograd.md.
//
// All draw from our Rng (global_rng() unless given one), so a seed fixes every weight.
//   fan_in  = in_features (Linear [out, in]) or C_in/groups·KH·KW (Conv [OC, C/g, KH, KW])
//   fan_out = out_features, or OC·KH·KW
// Kaiming keeps the variance of activations (fan_in) or of gradients (fan_out) constant
// through a stack of layers followed by a leaky ReLU of negative slope a:
//   gain = √(2/(1 + a²))     (a = 0: plain ReLU, gain √2)
//   kaiming_normal:  w ~ N(0, std²),   std = gain/√fan
//   kaiming_uniform: w ~ U(−b, b),     b = gain·√(3/fan)     (same variance: b²/3 = std²)
// Xavier balances forward and backward for linear/tanh-like units:
//   xavier_normal:  std = gain·√(2/(fan_in + fan_out));  xavier_uniform: b = gain·√(6/(fan_in + fan_out))
// The layers' default (PyTorch's, so models trained here start where PyTorch's would) is
// kaiming_uniform with a = √5, which gives b = √(6/(6·fan_in)) = 1/√fan_in, and a bias
// uniform in ±1/√fan_in: see default_init().
#pragma once
#include <cstdint>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace mgf {

enum class FanMode { fan_in, fan_out };

int64_t fan_in(const Tensor& w);    // w is [out, in] or [OC, C/groups, KH, KW]; throws otherwise
int64_t fan_out(const Tensor& w);
float kaiming_gain(float a);        // √(2/(1 + a²))

void uniform_init(Tensor& t, float lo, float hi, Rng& rng = global_rng());
void normal_init(Tensor& t, float mean, float stddev, Rng& rng = global_rng());
void kaiming_uniform(Tensor& w, float a = 0.0f, FanMode mode = FanMode::fan_in, Rng& rng = global_rng());
void kaiming_normal(Tensor& w, float a = 0.0f, FanMode mode = FanMode::fan_in, Rng& rng = global_rng());
void xavier_uniform(Tensor& w, float gain = 1.0f, Rng& rng = global_rng());
void xavier_normal(Tensor& w, float gain = 1.0f, Rng& rng = global_rng());

// PyTorch's default for Linear and Conv2d: kaiming_uniform(w, a = √5), bias ~ U(±1/√fan_in).
// bias may be nullptr.
void default_init(Tensor& w, Tensor* bias, Rng& rng = global_rng());

}  // namespace mgf
