// layers/models/squeezenet.cpp — see squeezenet.h.
#include "layers/models/squeezenet.h"

#include <cmath>
#include <stdexcept>

#include "engine/table.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/fire.h"
#include "layers/init.h"
#include "layers/pool.h"

namespace mgf {

namespace {
int64_t at_least_one(double v) { return std::max<int64_t>(1, static_cast<int64_t>(std::llround(v))); }

void check(const FireNetConfig& c) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("FireNetConfig: expected " + what);
  };
  need(c.stem >= 1 && c.base_e >= 2 && c.incr_e >= 0 && c.freq >= 1 && c.fires >= 1 && c.classes >= 2,
       "stem >= 1, base_e >= 2, incr_e >= 0, freq >= 1, fires >= 1, classes >= 2, found stem = " + std::to_string(c.stem) +
           ", base_e = " + std::to_string(c.base_e) + ", incr_e = " + std::to_string(c.incr_e) + ", freq = " +
           std::to_string(c.freq) + ", fires = " + std::to_string(c.fires) + ", classes = " + std::to_string(c.classes));
  need(c.pool_after >= -1 && c.pool_after <= c.fires,
       "pool_after in [-1, fires], found pool_after = " + std::to_string(c.pool_after) + " with fires = " + std::to_string(c.fires));
  need(c.sr > 0 && c.sr <= 4, "0 < SR <= 4, found " + fmt(c.sr, 4));
  for (int64_t i = 0; i < c.fires; ++i)
    need(c.expand3x3(i) >= 1 && c.expand3x3(i) < c.expand(i),
         "pct3x3 to leave at least one 1x1 and one 3x3 expand filter in every Fire, found pct3x3 = " + fmt(c.pct3x3, 4) +
             " giving e3 = " + std::to_string(c.expand3x3(i)) + " of e = " + std::to_string(c.expand(i)) + " in Fire " +
             std::to_string(i + 2));
}

// The stage widths shared by both nets: input of block i.
int64_t block_input(const FireNetConfig& c, int64_t i) { return i == 0 ? c.stem : c.expand(i - 1); }

template <class Block>
std::shared_ptr<Sequential> build(const FireNetConfig& c, const std::string& prefix, Block block) {
  check(c);
  auto net = std::make_shared<Sequential>();
  Conv2dOptions stem;  // 3×3, stride 2, pad 1: 28×28 → 14×14 (SqueezeNet's conv1 is 7×7/2)
  stem.stride_h = stem.stride_w = 2;
  stem.pad_h = stem.pad_w = 1;
  net->add("conv1", std::make_shared<Conv2d>(1, c.stem, 3, stem));
  net->add("relu1", std::make_shared<ReLU>());
  const int64_t pool_at = c.pool_index();
  for (int64_t i = 0; i < c.fires; ++i) {
    if (i == pool_at) net->add("pool", std::make_shared<MaxPool2d>(2, 2));
    block(*net, prefix + std::to_string(i + 2), i, block_input(c, i));
  }
  if (pool_at == c.fires) net->add("pool", std::make_shared<MaxPool2d>(2, 2));
  net->add("conv10", std::make_shared<Conv2d>(c.expand(c.fires - 1), c.classes, 1));
  net->add("gap", std::make_shared<GlobalAvgPool>());
  // Init as torchvision's SqueezeNet: He (Kaiming uniform, gain √2) for every ReLU conv, zero
  // biases, and N(0, 0.01) for conv10. The layers' default (Kaiming with a = √5, i.e. gain
  // 1/√3) shrinks the signal by about √3 per ReLU layer; with no batch norm, ten such layers
  // and a global average pool the logits start near zero and training stalls at chance (seen
  // in the first runs of this chapter).
  for (auto& np : net->named_parameters()) {
    Tensor& t = np.param->var.value();
    if (t.ndim() != 4) t.fill(0.0f);
    else if (np.name.rfind("conv10.", 0) == 0) normal_init(t, 0.0f, 0.01f);
    else kaiming_uniform(t);
  }
  return net;
}
}  // namespace

int64_t FireNetConfig::expand(int64_t i) const { return base_e + incr_e * (i / freq); }
int64_t FireNetConfig::expand3x3(int64_t i) const { return static_cast<int64_t>(std::llround(pct3x3 * static_cast<double>(expand(i)))); }
int64_t FireNetConfig::squeeze(int64_t i) const { return at_least_one(sr * static_cast<double>(expand(i))); }
int64_t FireNetConfig::pool_index() const { return pool_after < 0 ? (fires + 1) / 2 : pool_after; }
std::string FireNetConfig::name() const {
  return "fire SR " + fmt(sr, 3) + " pct3x3 " + fmt(pct3x3, 2) + (pool_after >= 0 ? " pool@" + std::to_string(pool_after) : "") +
         (bypass ? " bypass" : "");
}

std::shared_ptr<Sequential> make_fire_net(const FireNetConfig& c) {
  return build(c, "fire", [&](Sequential& net, const std::string& name, int64_t i, int64_t in) {
    const int64_t e = c.expand(i), e3 = c.expand3x3(i);
    const bool bypass = c.bypass && i % 2 == 1 && in == e;
    net.add(name, std::make_shared<Fire>(in, c.squeeze(i), e - e3, e3, bypass));
  });
}

std::shared_ptr<Sequential> make_plain_cnn(const FireNetConfig& c) {
  return build(c, "conv", [&](Sequential& net, const std::string& name, int64_t i, int64_t in) {
    Conv2dOptions same;
    same.pad_h = same.pad_w = 1;
    net.add(name, std::make_shared<Conv2d>(in, c.expand(i), 3, same));
    net.add("relu" + std::to_string(i + 2), std::make_shared<ReLU>());
  });
}

}  // namespace mgf
