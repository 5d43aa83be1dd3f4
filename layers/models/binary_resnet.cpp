// layers/models/binary_resnet.cpp — see binary_resnet.h.
#include "layers/models/binary_resnet.h"

#include <memory>
#include <stdexcept>
#include <string>

#include "compression/quantization/xnorpp.h"
#include "engine/loader.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/train.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/pool.h"
#include "layers/shape.h"

namespace mgf {

BinaryResBlock::BinaryResBlock(int64_t C, int64_t hw, int gamma_case) {
  if (gamma_case < 0 || gamma_case > 4)
    throw std::invalid_argument("BinaryResBlock: expected scale case 0 (XNOR-Net alpha*K) or 1..4, found " +
                                std::to_string(gamma_case));
  BinaryLayerOptions o;
  o.binarize_input = true;      // sign(BN(x)): the binary activation of the B-A-C order
  o.use_alpha = true;           // case 0: α = ‖W_o‖₁/n (XNOR-Net Eq. 6) ...
  o.use_beta = gamma_case == 0; // ... times K from the real input BN(x)
  o.gamma_case = gamma_case;    // 1..4: Γ instead of α and K (BinaryLayer ignores α, K then)
  o.out_h = o.out_w = hw;       // 3×3, pad 1, stride 1 keeps hw×hw
  o.pad = 1;
  bn = register_module("bn", std::make_shared<BatchNorm2d>(C)).get();
  conv = register_module("conv", std::make_shared<BinaryConv2d>(C, C, 3, o)).get();
}

Var BinaryResBlock::forward(const Var& x) {
  // The real shortcut carries x unchanged; the scaled binary branch is added to it, so a
  // positive per-channel scale on the branch changes the sum (test_xnorpp.cpp checks it does).
  return add(x, (*conv)((*bn)(x)));
}

std::string BinaryResNetConfig::name() const {
  return gamma_case == 0 ? "XNOR-Net alpha*K" : "XNOR++ case " + std::to_string(gamma_case);
}

BinaryResNet::BinaryResNet(BinaryResNetConfig cfg) : cfg_(cfg) {
  if (cfg.gamma_case < 0 || cfg.gamma_case > 4)
    throw std::invalid_argument("BinaryResNet: expected scale case 0 (XNOR-Net alpha*K) or 1..4, found " +
                                std::to_string(cfg.gamma_case));
  if (cfg.width < 1 || cfg.blocks_per_stage < 1)
    throw std::invalid_argument("BinaryResNet: expected width >= 1 and blocks_per_stage >= 1, found " +
                                std::to_string(cfg.width) + " and " + std::to_string(cfg.blocks_per_stage));
  const int64_t C = cfg.width;
  Conv2dOptions same;
  same.pad_h = same.pad_w = 1;
  add("stem", std::make_shared<Conv2d>(1, C, 3, same));  // real first layer (XNOR-Net Alg. 1)
  add("stem_bn", std::make_shared<BatchNorm2d>(C));
  add("stem_relu", std::make_shared<ReLU>());
  add("pool1", std::make_shared<MaxPool2d>(2));  // 28 → 14
  int k = 1;
  for (int stage = 0; stage < 2; ++stage) {
    const int64_t hw = stage == 0 ? 14 : 7;
    if (stage == 1) add("pool2", std::make_shared<MaxPool2d>(2));  // 14 → 7
    for (int b = 0; b < cfg.blocks_per_stage; ++b, ++k)
      blocks.push_back(add("block" + std::to_string(k), std::make_shared<BinaryResBlock>(C, hw, cfg.gamma_case)).get());
  }
  add("head_bn", std::make_shared<BatchNorm2d>(C));
  add("head_relu", std::make_shared<ReLU>());
  add("flatten", std::make_shared<Flatten>());  // C·7·7 features: a global average pool here
  add("fc", std::make_shared<Linear>(C * 49, 10));  // (C → 10) learned far slower in 1 epoch

}

Var BinaryResNet::forward(const Var& x) {
  if (x.value().ndim() != 4 || x.value().dim(1) != 1 || x.value().dim(2) != 28 || x.value().dim(3) != 28)
    shape_error("BinaryResNet", "images [N, 1, 28, 28]", x.value().shape());
  return Sequential::forward(x);
}

int64_t BinaryResNet::learned_scale_count() const {
  int64_t n = 0;
  for (const BinaryResBlock* b : blocks)
    if (cfg_.gamma_case != 0) n += gamma_parameter_count(cfg_.gamma_case, cfg_.width, b->conv->options.out_h, b->conv->options.out_w);
  return n;
}

void train_binary_resnet(BinaryResNet& model, const Dataset& train, const BinaryTrainOptions& o, const std::string& label) {
  Adam opt(model.parameters(), AdamOptions{o.lr});
  Rng rng(global_rng().next_u64());  // the data order follows the seed, after the weights
  DataLoader loader(train, o.batch, true, rng);
  BatchSchedule sched(cosine_schedule(o.lr, o.epochs), loader.num_batches());  // cosine per batch
  TrainHooks hooks;
  hooks.schedule = &sched;
  sched.reset(opt);
  model.train();
  for (int e = 0; e < o.epochs; ++e)
    train_epoch(model, opt, loader, hooks, label + " epoch " + std::to_string(e + 1) + "/" + std::to_string(o.epochs));
}

}  // namespace mgf
