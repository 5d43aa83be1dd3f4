// layers/linear.h — the fully connected layer, y = x·Wᵀ + b.
// Book: book/01-autograd.md. W is [out, in] (PyTorch's layout, so weights move across with
// engine/npy.h unchanged). The forward uses weight.effective(), so a pruning mask zeroes
// pruned weights in forward and their gradients in backward.
// Init (default_init in layers/init.h, PyTorch's default): W ~ U(±1/√in) — Kaiming uniform
// with a = √5 — and b ~ U(±1/√in).
#pragma once
#include <cstdint>

#include "layers/module.h"

namespace mgf {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  Var forward(const Var& x) override;   // x [N, in] → [N, out]
  std::string type_name() const override { return "Linear"; }

  const int64_t in_features, out_features;
  Parameter& weight;   // [out, in]
  Parameter* bias;     // [out], or nullptr
};

}  // namespace mgf
