// layers/pool.h — pooling layers: max, average, global average.
// Book: book/01-autograd.md; the ops are in engine/ops_conv.cpp. No parameters.
#pragma once
#include <cstdint>

#include "engine/ops.h"
#include "layers/module.h"

namespace mgf {

class MaxPool2d : public Module {
 public:
  // stride = -1 means stride = k (non-overlapping windows, the usual case)
  explicit MaxPool2d(int64_t k, int64_t stride = -1, int64_t pad = 0) : k(k), stride(stride < 0 ? k : stride), pad(pad) {}
  Var forward(const Var& x) override { return max_pool2d(x, k, stride, pad); }
  std::string type_name() const override { return "MaxPool2d"; }
  const int64_t k, stride, pad;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t k, int64_t stride = -1, int64_t pad = 0) : k(k), stride(stride < 0 ? k : stride), pad(pad) {}
  Var forward(const Var& x) override { return avg_pool2d(x, k, stride, pad); }
  std::string type_name() const override { return "AvgPool2d"; }
  const int64_t k, stride, pad;
};

class GlobalAvgPool : public Module {   // [N, C, H, W] → [N, C]
 public:
  Var forward(const Var& x) override { return global_avg_pool(x); }
  std::string type_name() const override { return "GlobalAvgPool"; }
};

}  // namespace mgf
