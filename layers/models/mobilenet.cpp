// layers/models/mobilenet.cpp — see mobilenet.h.
#include "layers/models/mobilenet.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/kernels/timing.h"
#include "engine/threads.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/pool.h"

namespace mgf {

int64_t width(int64_t c, double alpha) { return std::max<int64_t>(1, std::llround(alpha * static_cast<double>(c))); }

namespace {
// conv k×k + BN + ReLU (or ReLU6) as one named Sequential, so the summary shows one row per layer
std::shared_ptr<Sequential> conv_bn_act(int64_t in, int64_t out, int64_t k, int64_t stride, bool relu6_act) {
  auto s = std::make_shared<Sequential>();
  s->add("conv", std::make_shared<Conv2d>(in, out, k, Conv2dOptions{stride, stride, k / 2, k / 2, 1}, false));
  s->add("bn", std::make_shared<BatchNorm2d>(out));
  if (relu6_act)
    s->add("relu6", std::make_shared<ReLU6>());
  else
    s->add("relu", std::make_shared<ReLU>());
  return s;
}
void check_alpha(double alpha) {
  if (!(alpha > 0.0 && alpha <= 4.0))
    throw std::invalid_argument("mobilenet: expected width multiplier alpha in (0, 4], found " + std::to_string(alpha));
}
}  // namespace

std::shared_ptr<Sequential> make_mobilenet_v1(double alpha, bool separable, int64_t classes) {
  check_alpha(alpha);
  auto net = std::make_shared<Sequential>();
  int64_t c = width(16, alpha);
  net->add("stem", conv_bn_act(1, c, 3, 2, false));   // the first layer is a full conv (§3.2)
  const int64_t plan[5][2] = {{32, 1}, {64, 2}, {64, 1}, {128, 2}, {128, 1}};
  for (int i = 0; i < 5; ++i) {
    const int64_t out = width(plan[i][0], alpha), s = plan[i][1];
    const std::string name = "layer" + std::to_string(i + 1);
    if (separable)
      net->add(name, std::make_shared<DepthwiseSeparable>(c, out, s));
    else
      net->add(name, conv_bn_act(c, out, 3, s, false));
    c = out;
  }
  net->add("pool", std::make_shared<GlobalAvgPool>());
  net->add("fc", std::make_shared<Linear>(c, classes));
  return net;
}

WidthMacs mobilenet_v1_width_macs(Sequential& net, int64_t size) {
  const ModelSummary sm = summarize(net, {1, 1, size, size}, 1);
  WidthMacs w;
  for (const LayerSummary& L : sm.layers) {
    if (L.name == "stem") {
      w.stem += L.macs;
    } else if (L.name.rfind("layer", 0) == 0) {
      if (auto* ds = dynamic_cast<DepthwiseSeparable*>(&net.at(L.name))) {
        const int64_t pw = conv_macs(ds->pointwise->weight.var.value().shape(), L.output[2], L.output[3]);
        w.both += pw;
        w.depthwise += L.macs - pw;
      } else {
        w.both += L.macs;   // the standard 3×3 conv: C_in and C_out both thinned
      }
    } else {
      w.fc += L.macs;
    }
  }
  w.total = sm.macs;
  return w;
}

std::shared_ptr<Sequential> make_mobilenet_v2(const MobileNetV2Options& o) {
  check_alpha(o.alpha);
  auto net = std::make_shared<Sequential>();
  int64_t c = width(16, o.alpha);
  net->add("stem", conv_bn_act(1, c, 3, 2, true));
  if (o.shortcut == Shortcut::expansion)   // the wide tensor the first unit takes
    net->add("expand0", conv_bn_act(c, o.t * c, 1, 1, true));
  const int64_t plan[6][2] = {{16, 1}, {24, 2}, {24, 1}, {32, 2}, {32, 1}, {64, 1}};
  for (int i = 0; i < 6; ++i) {
    const int64_t out = width(plan[i][0], o.alpha);
    InvertedResidualOptions bo;
    bo.t = o.t;
    bo.stride = plan[i][1];
    bo.linear_bottleneck = o.linear_bottleneck;
    bo.shortcut = o.shortcut;
    net->add("block" + std::to_string(i + 1), std::make_shared<InvertedResidual>(c, out, bo));
    c = out;
  }
  const int64_t wide = o.shortcut == Shortcut::expansion ? o.t * c : c;
  net->add("head", conv_bn_act(wide, 128, 1, 1, true));   // not thinned by α (§4)
  net->add("pool", std::make_shared<GlobalAvgPool>());
  net->add("fc", std::make_shared<Linear>(128, o.classes));
  return net;
}

void set_inference_pieces(Sequential& net, int64_t pieces) {
  for (auto& [name, m] : net)
    if (auto* b = dynamic_cast<InvertedResidual*>(m.get())) b->inference_pieces = pieces;
}

Dataset resize_images(const Dataset& d, int64_t size) {
  const Tensor& X = d.images;   // [N, 1, H, W]
  if (X.ndim() != 4 || size < 1)
    throw std::invalid_argument("resize_images: expected images [N, C, H, W] and size >= 1, found " +
                                shape_str(X.shape()) + " and size " + std::to_string(size));
  const int64_t N = X.dim(0), C = X.dim(1), H = X.dim(2), W = X.dim(3);
  Dataset out = d;
  out.images = Tensor({N, C, size, size});
  const double sy = static_cast<double>(H) / size, sx = static_cast<double>(W) / size;
  for (int64_t n = 0; n < N * C; ++n) {
    const float* src = X.data() + n * H * W;
    float* dst = out.images.data() + n * size * size;
    for (int64_t i = 0; i < size; ++i) {
      // the centre of output pixel i sits at (i + 0.5)·H/size − 0.5 in input coordinates
      const double fy = std::clamp((i + 0.5) * sy - 0.5, 0.0, static_cast<double>(H - 1));
      const int64_t y0 = static_cast<int64_t>(fy), y1 = std::min(y0 + 1, H - 1);
      const float wy = static_cast<float>(fy - y0);
      for (int64_t j = 0; j < size; ++j) {
        const double fx = std::clamp((j + 0.5) * sx - 0.5, 0.0, static_cast<double>(W - 1));
        const int64_t x0 = static_cast<int64_t>(fx), x1 = std::min(x0 + 1, W - 1);
        const float wx = static_cast<float>(fx - x0);
        const float top = src[y0 * W + x0] * (1 - wx) + src[y0 * W + x1] * wx;
        const float bot = src[y1 * W + x0] * (1 - wx) + src[y1 * W + x1] * wx;
        dst[i * size + j] = top * (1 - wy) + bot * wy;
      }
    }
  }
  return out;
}

void declare_mobile_flags(ExampleArgs& args, int64_t train, int64_t val, int64_t test, const std::string& seeds_help,
                          const std::string& lr_help) {
  args.val_default(val, "held out of the --train images; its error is reported beside the test error (no choice is made on it)",
                   200);
  args.option("--set", "fashion-mnist", "mnist | fashion-mnist");
  args.option("--train", std::to_string(train), "the first N training images (validation taken from their end)");
  args.option("--test", std::to_string(test), "the first N test images");
  args.option("--seeds", "3", seeds_help);
  args.option("--lr", "0.05", lr_help);
}

MobileRun load_mobile_run(const ExampleArgs& args, int full_epochs, float weight_decay) {
  const bool quick = args.quick();
  MobileRun r;
  r.seeds = static_cast<int>(args.get_int("--seeds", 1, 10));
  const int64_t n_train = quick ? 1200 : args.get_int("--train", 100, 60000);
  const int64_t n_test = quick ? 500 : args.get_int("--test", 100, 10000);
  const std::string set = args.get("--set");
  if (set != "mnist" && set != "fashion-mnist") args.fail("--set expects mnist or fashion-mnist, found " + set);
  r.recipe.epochs = args.epochs(full_epochs, 1);
  r.recipe.batch = 64;
  r.recipe.lr = static_cast<float>(args.get_float_above("--lr", 0.0, 1.0));
  r.recipe.momentum = 0.9f;
  r.recipe.weight_decay = weight_decay;
  r.recipe.warmup = 0.5;
  r.data = load_mnist_like(args.data_dir(), set, n_train, n_test);
  split_validation(r.data, args.val(r.data.train.size()));
  std::printf("%s: %lld training, %lld validation, %lld test images from %s; %d thread(s); %d epochs\n", set.c_str(),
              static_cast<long long>(r.data.train.size()), static_cast<long long>(r.data.val.size()),
              static_cast<long long>(r.data.test.size()), r.data.dir.c_str(), num_threads(), r.recipe.epochs);
  return r;
}

double forward_latency_us(Module& model, const Shape& input, int samples) {
  const bool was_training = model.training();
  model.eval();
  NoGradGuard ng;
  Var x(Tensor(input, 0.5f));
  const double us = median_call_us([&] { model.forward(x); }, samples);
  model.train(was_training);
  return us;
}

}  // namespace mgf
