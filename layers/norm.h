// layers/norm.h — batch normalisation layers (Ioffe & Szegedy 2015).
// Book: book/01-autograd.md; the op (statistics, running averages, backward) is
// batch_norm() in engine/ops_norm.cpp.
// BatchNorm1d takes [N, C], BatchNorm2d takes [N, C, H, W] (statistics over N·H·W).
// Parameters "weight" (γ, init 1) and "bias" (β, init 0); buffers "running_mean" (init 0)
// and "running_var" (init 1), saved in checkpoints. train(): batch statistics, and the
// running averages move by `momentum`; eval(): the running averages are used.
#pragma once
#include <cstdint>

#include "layers/module.h"

namespace mgf {

class BatchNorm : public Module {
 public:
  Var forward(const Var& x) override;

  const int64_t num_features;
  float momentum = 0.1f, eps = 1e-5f;
  Parameter& weight;     // γ [C]
  Parameter& bias;       // β [C]
  Tensor running_mean;   // [C]
  Tensor running_var;    // [C]

 protected:
  BatchNorm(int64_t C, int ndim);

 private:
  int ndim_;             // 2 or 4: the input rank this layer accepts
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t C) : BatchNorm(C, 2) {}
  std::string type_name() const override { return "BatchNorm1d"; }
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t C) : BatchNorm(C, 4) {}
  std::string type_name() const override { return "BatchNorm2d"; }
};

}  // namespace mgf
