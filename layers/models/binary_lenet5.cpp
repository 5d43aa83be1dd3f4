// layers/models/binary_lenet5.cpp — see binary_lenet5.h.
#include "layers/models/binary_lenet5.h"

#include <memory>
#include <stdexcept>
#include <string>

#include "compression/quantization/bitpack.h"
#include "engine/loader.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "layers/activation.h"
#include "layers/norm.h"
#include "layers/pool.h"
#include "layers/shape.h"

namespace mgf {

std::string BinaryNetConfig::name() const {
  switch (mode) {
    case BinaryMode::real: return "float";
    case BinaryMode::bwn: return use_alpha ? "BWN" : "BWN, no alpha";
    case BinaryMode::xnor: {
      std::string s = order == BlockOrder::bacp ? "XNOR B-A-C-P" : "XNOR C-B-A-P";
      if (!use_alpha) s += ", no alpha";
      if (!use_beta) s += ", no beta";
      return s;
    }
    case BinaryMode::xnorpp: return "XNOR++ case " + std::to_string(gamma_case);
  }
  return "?";
}

bool BinaryNetConfig::bacp() const {
  return mode == BinaryMode::xnorpp || (mode == BinaryMode::xnor && order == BlockOrder::bacp);
}

BinaryLeNet5::BinaryLeNet5(BinaryNetConfig cfg) : cfg_(cfg) {
  if (cfg.mode == BinaryMode::xnorpp && (cfg.gamma_case < 1 || cfg.gamma_case > 4))
    throw std::invalid_argument("BinaryLeNet5: expected XNOR-Net++ case 1..4, found " + std::to_string(cfg.gamma_case));
  const int64_t c1 = cfg.c1, c2 = cfg.c2, fc = cfg.fc, flat = c2 * 16;  // 28 → 24 → 12 → 8 → 4
  const bool bacp = cfg.bacp(), xnor_like = cfg.mode == BinaryMode::xnor || cfg.mode == BinaryMode::xnorpp;
  BinaryLayerOptions b;  // conv2 and fc1
  b.binarize_weights = cfg.mode != BinaryMode::real;
  b.use_alpha = cfg.use_alpha;
  b.wgrad = cfg.wgrad;
  b.binarize_input = xnor_like;
  b.use_beta = cfg.mode == BinaryMode::xnor && cfg.use_beta;
  b.gamma_case = cfg.mode == BinaryMode::xnorpp ? cfg.gamma_case : 0;
  BinaryLayerOptions b2 = b, b3 = b;
  b2.out_h = b2.out_w = 8;  // Γ of conv2 is shaped for its 8×8 output; fc1's for 1×1

  // The layers' constructors draw their own default init from global_rng(); these weights are
  // redrawn below, in the order conv1, conv2, fc1, fc2 from the generator's state before
  // construction, so a seed gives the same network (and the same data order after it) as the
  // chapter's runs.
  const Rng before = global_rng();
  conv1 = add("conv1", std::make_shared<Conv2d>(1, c1, 5)).get();
  add("bn1", std::make_shared<BatchNorm2d>(c1));
  if (cfg.mode == BinaryMode::xnor && !bacp)
    add("sign1", std::make_shared<SignSTE>());
  else
    add("relu1", std::make_shared<ReLU>());
  add("pool1", std::make_shared<MaxPool2d>(2));
  if (bacp) {  // BN before every binary layer, and one before the real classifier
    add("bn2", std::make_shared<BatchNorm2d>(c1));
    conv2 = add("conv2", std::make_shared<BinaryConv2d>(c1, c2, 5, b2)).get();
    add("pool2", std::make_shared<MaxPool2d>(2));
    add("flatten", std::make_shared<Flatten>());
    add("bn3", std::make_shared<BatchNorm1d>(flat));
    fc1 = add("fc1", std::make_shared<BinaryLinear>(flat, fc, b3)).get();
    add("bn4", std::make_shared<BatchNorm1d>(fc));
    add("relu4", std::make_shared<ReLU>());
  } else {     // BN after every conv / fc
    conv2 = add("conv2", std::make_shared<BinaryConv2d>(c1, c2, 5, b2)).get();
    add("bn2", std::make_shared<BatchNorm2d>(c2));
    if (xnor_like)
      add("sign2", std::make_shared<SignSTE>());
    else
      add("relu2", std::make_shared<ReLU>());
    add("pool2", std::make_shared<MaxPool2d>(2));
    add("flatten", std::make_shared<Flatten>());
    fc1 = add("fc1", std::make_shared<BinaryLinear>(flat, fc, b3)).get();
    add("bn3", std::make_shared<BatchNorm1d>(fc));
    add("relu3", std::make_shared<ReLU>());
  }
  fc2 = add("fc2", std::make_shared<Linear>(fc, 10)).get();
  global_rng() = before;
  he_normal(conv1->weight.var.value());
  conv1->bias->var.value().fill(0.0f);
  he_normal(conv2->weight.var.value());
  he_normal(fc1->weight.var.value());
  he_normal(fc2->weight.var.value());
  fc2->bias->var.value().fill(0.0f);
  conv2->reset_gamma();  // XNOR-Net++: Γ starts at α of the weights just drawn
  fc1->reset_gamma();
}

Var BinaryLeNet5::forward(const Var& x) {
  if (x.value().ndim() != 4 || x.value().dim(1) != 1 || x.value().dim(2) != 28 || x.value().dim(3) != 28)
    shape_error("BinaryLeNet5", "images [N, 1, 28, 28]", x.value().shape());
  return Sequential::forward(x);
}

std::vector<NamedParameter> BinaryLeNet5::binary_weights() const {
  return {{"conv2.weight", &conv2->weight}, {"fc1.weight", &fc1->weight}};
}

int64_t BinaryLeNet5::float_weight_bytes() const {
  int64_t n = 0;
  for (auto* self = const_cast<BinaryLeNet5*>(this); auto* p : self->parameters()) n += p->var.value().numel();
  for (auto* self = const_cast<BinaryLeNet5*>(this); auto& b : self->named_buffers()) n += b.second->numel();
  return 4 * n;
}

int64_t BinaryLeNet5::deployed_weight_bytes() const {
  if (cfg_.mode == BinaryMode::real) return float_weight_bytes();
  int64_t bytes = float_weight_bytes();
  for (const NamedParameter& np : binary_weights()) {
    const Parameter* w = np.param;
    const int64_t O = w->var.value().dim(0), K = w->var.value().numel() / O;
    bytes -= 4 * O * K;                   // the fp32 latent weights are not deployed ...
    bytes += 8 * O * bit_words(K);        // ... their signs are, 1 bit each (rows padded to 64)
    if (cfg_.mode != BinaryMode::xnorpp && cfg_.use_alpha) bytes += 4 * O;  // + α per filter
  }
  return bytes;  // (XNOR-Net++'s Γ factors are parameters, already counted)
}

// ---- training ------------------------------------------------------------------------------------
EvalResult train_binary_lenet(BinaryLeNet5& model, const DataSplits& data, const BinaryTrainOptions& o,
                              const std::string& label) {
  Adam opt(model.parameters(), AdamOptions{o.lr});
  Rng rng(global_rng().next_u64());
  DataLoader loader(data.train, o.batch, true, rng);
  // The cosine is followed per batch (t = batches done / batches per epoch), so a short
  // schedule (1–2 epochs of the full set) still decays to 0 instead of holding η0 for an epoch.
  BatchSchedule sched(cosine_schedule(o.lr, o.epochs), loader.num_batches());
  TrainHooks hooks;
  hooks.schedule = &sched;
  sched.reset(opt);
  for (int e = 0; e < o.epochs; ++e) {
    model.train();
    train_epoch(model, opt, loader, hooks, label + " epoch " + std::to_string(e + 1) + "/" + std::to_string(o.epochs));
  }
  return evaluate(model, data.test);
}

}  // namespace mgf
