// layers/activation.h — activation functions as modules, so a Sequential can hold them.
// Book: book/01-autograd.md; each forwards to its op in engine/ops_activation.cpp.
// HardSigmoid and HardSwish are MobileNetV3's (Howard et al. 2019, §5.2). No parameters.
#pragma once
#include "engine/ops.h"
#include "layers/module.h"

namespace mgf {

class ReLU : public Module {
 public:
  Var forward(const Var& x) override { return relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

class ReLU6 : public Module {
 public:
  Var forward(const Var& x) override { return relu6(x); }
  std::string type_name() const override { return "ReLU6"; }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(float slope = 0.01f) : slope(slope) {}
  Var forward(const Var& x) override { return leaky_relu(x, slope); }
  std::string type_name() const override { return "LeakyReLU"; }
  const float slope;
};

class Sigmoid : public Module {
 public:
  Var forward(const Var& x) override { return sigmoid(x); }
  std::string type_name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Var forward(const Var& x) override { return tanh(x); }
  std::string type_name() const override { return "Tanh"; }
};

class HardSigmoid : public Module {
 public:
  Var forward(const Var& x) override { return hard_sigmoid(x); }
  std::string type_name() const override { return "HardSigmoid"; }
};

class HardSwish : public Module {
 public:
  Var forward(const Var& x) override { return hard_swish(x); }
  std::string type_name() const override { return "HardSwish"; }
};

}  // namespace mgf
