// layers/shape.h — Flatten: [N, ...] → [N, rest], the bridge from conv features to Linear.
// Book: book/01-autograd.md. Shares storage with its input (engine/ops_shape.cpp).
#pragma once
#include "engine/ops.h"
#include "layers/module.h"

namespace mgf {

class Flatten : public Module {
 public:
  Var forward(const Var& x) override { return flatten(x); }
  std::string type_name() const override { return "Flatten"; }
};

}  // namespace mgf
