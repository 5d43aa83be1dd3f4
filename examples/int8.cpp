// examples/int8.cpp — 8-bit fixed-point inference on CPUs (Vanhoucke, Senior, Mao 2011) on MNIST-like
// data: accuracy float vs int8, the speed ladder, the GEMM alone, the file. Book: book/21-int8.md.
//
//   build/examples/int8                       (full: the three nets on MNIST, ~4 min with checkpoints cached)
//   build/examples/int8 --set fashion-mnist   (the same on Fashion-MNIST)
//   build/examples/int8 --models lenet300     (one net)
//   build/examples/int8 --quick               (seconds: slices, short-trained nets, few timing samples)
//
// Per net (lenet300 = 784-300-100-10, fc1200 = 784-1200-1200-10, lenet5 = Caffe's LeNet-5):
//  1. the trained float net: checkpoints/<net>-<set>-val<N>.mgf (layers/models/baseline.h; fc1200
//     is trained here when missing — a plain float net of the distillation teacher's size, the
//     lenet300 recipe for --fc1200-epochs epochs);
//  2. quantised with activation ranges calibrated on --calib training images, per-row and
//     per-layer weight scales; test errors float vs int8 (floor: <= 5 more errors for the LeNets);
//  3. simulation = deployment: the fake-quantised float model must predict exactly what the
//     integer model predicts on every test image (exit 1 otherwise);
//  4. the file: written (.mgfq8, engine/io), read back, its logits compared bit for bit; bytes
//     vs the float parameters;
//  5. speed at batch 1, 8, 64, one thread, medians, the variants taking turns: scalar float,
//     AVX2 float (the engine's sgemm), int8 scalar, int8 AVX2, int8 AVX-512 VNNI (where present);
//  6. the paper's tricks one at a time (fc nets): the per-trick ×speed table.
// Then the GEMM alone in GOP/s on the peers' shapes, against this machine's int8 ceilings and
// oneDNN's u8s8s32 GEMM measured in ../shared/peers (numbers quoted below, with their source).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "compression/quantization/gemm_int8.h"
#include "compression/quantization/int8.h"
#include "engine/checkpoint.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/timing.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/table.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/models/baseline.h"
#include "layers/models/lenet.h"

using namespace mgf;

namespace {

std::string met(bool ok) { return ok ? "met" : "MISSED"; }

// Medians of per-call µs of this thread's CPU time (the VM is shared: time spent descheduled is
// left out), the variants taking turns sample by sample (one run, side by side).
std::vector<double> side_by_side_us(const std::vector<std::function<void()>>& fns, int samples) {
  std::vector<int> inner;
  for (const auto& f : fns) inner.push_back(calls_for(f, 2000.0, 1000));
  std::vector<std::vector<double>> t(fns.size());
  for (int s = 0; s < samples; ++s)
    for (size_t i = 0; i < fns.size(); ++i) {
      const double t0 = now_us(true);
      for (int k = 0; k < inner[i]; ++k) fns[i]();
      t[i].push_back((now_us(true) - t0) / inner[i]);
    }
  std::vector<double> med;
  for (auto& v : t) med.push_back(median_of(v));
  return med;
}

std::shared_ptr<Sequential> make_fc1200() {
  auto m = std::make_shared<LeNet300>();   // LeNet300's forward flattens [N,1,28,28] first
  m->add("fc1", std::make_shared<Linear>(784, 1200));
  m->add("relu1", std::make_shared<ReLU>());
  m->add("fc2", std::make_shared<Linear>(1200, 1200));
  m->add("relu2", std::make_shared<ReLU>());
  m->add("fc3", std::make_shared<Linear>(1200, 10));
  return m;
}

std::shared_ptr<Sequential> float_model(const std::string& name, const DataSplits& data, bool quick, int epochs) {
  if (name != "fc1200") return trained_baseline(name, data, quick);
  auto m = make_fc1200();
  const std::string set = data.name.empty() ? "mnist" : data.name;
  const std::string path = checkpoint_dir() + "/fc1200-" + set + (quick ? "-quick" : "") + "-val" +
                           std::to_string(data.val.size()) + ".mgf";
  if (std::filesystem::exists(path)) {
    load_checkpoint(path, *m);
    std::printf("loaded %s\n", path.c_str());
    return m;
  }
  BaselineRecipe r = baseline_recipe("lenet300", quick);
  r.epochs = quick ? 1 : epochs;
  std::printf("%s not found: training fc1200 (the lenet300 recipe, %d epochs)\n", path.c_str(), r.epochs);
  train_with_recipe(*m, data, r, 1);
  save_checkpoint(path, *m);
  return m;
}

int64_t int8_errors(const Int8Net& net, const Dataset& d, Int8Path path, std::vector<int32_t>* pred) {
  int64_t errors = 0;
  const int64_t B = 1000, per = d.images.numel() / std::max<int64_t>(1, d.size());
  for (int64_t i = 0; i < d.size(); i += B) {
    const int64_t n = std::min(B, d.size() - i);
    Tensor x(Shape{n, d.images.shape()[1], d.images.shape()[2], d.images.shape()[3]});
    std::copy(d.images.data() + i * per, d.images.data() + (i + n) * per, x.data());
    const Tensor l = net.forward(x, path);
    const int64_t C = l.shape()[1];
    for (int64_t j = 0; j < n; ++j) {
      const float* row = l.data() + j * C;
      const int32_t p = static_cast<int32_t>(std::max_element(row, row + C) - row);
      if (pred) pred->push_back(p);
      errors += p != d.labels[i + j];
    }
  }
  return errors;
}

Tensor first_images(const Dataset& d, int64_t n) {
  n = std::min(n, d.size());
  const int64_t per = d.images.numel() / d.size();
  Tensor x(Shape{n, d.images.shape()[1], d.images.shape()[2], d.images.shape()[3]});
  std::copy(d.images.data(), d.images.data() + n * per, x.data());
  return x;
}

// Where the integer net's time goes (fc nets): the forward pass cut into its stages, each
// timed on its own with the buffers of a real pass, the stages taking turns. The scalar and
// AVX2 bodies of the two stages around the GEMM are timed side by side; "stages" sums the
// AVX2 ones, to compare with the whole forward (which also allocates its buffers).
void stage_profile(const std::string& name, const Int8Net& net, const Dataset& test, ResultTable& prof, bool quick) {
  for (int64_t B : {1, 8, 64}) {
    const Tensor x = first_images(test, B);
    const Int8Layer& first = net.layers.front();
    const float inv = 1.0f / first.in.scale, zh = static_cast<float>(first.in.zero_point) + 0.5f;
    const size_t nl = net.layers.size();
    std::vector<std::vector<uint8_t>> in(nl);   // each layer's input codes
    std::vector<std::vector<int32_t>> acc(nl);
    in[0].resize(static_cast<size_t>(x.numel()));
    quantize_u7(x.numel(), x.data(), inv, zh, in[0].data());
    for (size_t l = 0; l < nl; ++l) {
      const Int8Layer& L = net.layers[l];
      acc[l].resize(static_cast<size_t>(B * L.out));
      gemm_u8s8(B, in[l].data(), L.K(), L.packed, acc[l].data(), L.out);
      if (l + 1 < nl) {
        in[l + 1].resize(static_cast<size_t>(B * L.out));
        requantize_rows(B, acc[l].data(), L.out, L.requant, in[l + 1].data(), L.out);
      }
    }
    std::vector<float> logits(static_cast<size_t>(B * net.layers.back().out));
    auto requant_all = [&](bool vec) {
      for (size_t l = 0; l + 1 < nl; ++l) {
        const Int8Layer& L = net.layers[l];
        if (vec) requantize_rows_avx2(B, acc[l].data(), L.out, L.requant, in[l + 1].data(), L.out);
        else requantize_rows_scalar(B, acc[l].data(), L.out, L.requant, in[l + 1].data(), L.out);
      }
    };
    const std::vector<std::function<void()>> fns = {
        [&] { quantize_u7_scalar(x.numel(), x.data(), inv, zh, in[0].data()); },
        [&] { quantize_u7_avx2(x.numel(), x.data(), inv, zh, in[0].data()); },
        [&] {
          for (size_t l = 0; l < nl; ++l) {
            const Int8Layer& L = net.layers[l];
            gemm_u8s8_avx2(B, in[l].data(), L.K(), L.packed, acc[l].data(), L.out);
          }
        },
        [&] { requant_all(false); },
        [&] { requant_all(true); },
        [&] {
          const Int8Layer& L = net.layers.back();
          for (int64_t m = 0; m < B; ++m)
            for (int64_t r = 0; r < L.out; ++r)
              logits[m * L.out + r] = static_cast<float>(acc.back()[m * L.out + r] + L.bias_eff[r]) * L.in.scale * L.w_scale[r];
        },
        [&] {
          KernelModeGuard g(KernelMode::avx2);
          net.forward(x);
        },
    };
    const std::vector<double> t = side_by_side_us(fns, quick ? 5 : 31);
    const double sum = t[1] + t[2] + t[4] + t[5];
    prof.add_row({name, std::to_string(B), fmt(t[0], 2), fmt(t[1], 2), fmt(t[2], 1), fmt(t[3], 2), fmt(t[4], 2),
                  fmt(t[5], 2), fmt(sum, 1), fmt(t[6], 1), fmt(100.0 * t[2] / t[6], 0) + " %"});
  }
}

void run_net(const ExampleArgs& args, const std::string& name, const DataSplits& data, ResultTable& acc,
             ResultTable& speed, ResultTable& tricks, ResultTable& mem, ResultTable& prof, bool& sim_ok) {
  const bool quick = args.quick();
  auto model = float_model(name, data, quick, static_cast<int>(args.get_int("--fc1200-epochs", 1, 100)));
  model->eval();
  const Tensor calib = first_images(data.train, args.get_int("--calib", 1, 60000));
  const auto tq0 = std::chrono::steady_clock::now();
  const Int8Net net = quantize_model(*model, name, calib, true);
  const Int8Net net_layer = quantize_model(*model, name, calib, false);
  const double tq = std::chrono::duration<double>(std::chrono::steady_clock::now() - tq0).count();

  // ---- accuracy ----
  const EvalResult fl = evaluate(*model, data.test);
  std::vector<int32_t> pi, pf;
  const int64_t ei = int8_errors(net, data.test, Int8Path::integer, &pi);
  const int64_t ef = int8_errors(net, data.test, Int8Path::fake_quant, &pf);
  const int64_t el = int8_errors(net_layer, data.test, Int8Path::integer, nullptr);
  int64_t disagree = 0;
  for (size_t i = 0; i < pi.size(); ++i) disagree += pi[i] != pf[i];
  if (disagree) sim_ok = false;
  const int64_t n = data.test.size();
  const bool lenet = name != "fc1200";
  acc.add_row({name, data.name, std::to_string(fl.errors) + " (" + fmt_pct(fl.error_rate()) + ")",
               std::to_string(ei) + " (" + fmt_pct(static_cast<double>(ei) / n) + ")",
               std::to_string(ef) + " (" + fmt_pct(static_cast<double>(ef) / n) + ")",
               std::to_string(el) + " (" + fmt_pct(static_cast<double>(el) / n) + ")", std::to_string(ei - fl.errors),
               lenet ? (ei - fl.errors <= 5 ? "met" : "MISSED") : "(reported)", std::to_string(disagree),
               fmt(tq, 2)});

  // ---- the file ----
  const std::string path = args.get("--out").empty() ? "build/int8-" + name + "-" + data.name + ".mgfq8"
                                                      : args.get("--out") + "." + name;
  save_int8(path, net);
  const Int8Net back = load_int8(path);
  const Tensor probe = first_images(data.test, 100);
  const Tensor l0 = net.forward(probe), l1 = back.forward(probe);
  bool same = true;
  for (int64_t i = 0; i < l0.numel(); ++i) same = same && l0.data()[i] == l1.data()[i];
  if (!same) throw std::runtime_error(path + ": the model read back gives different logits than the one written");
  int64_t params = 0;
  for (auto& np : model->named_parameters()) params += np.param->var.value().numel();
  const int64_t fbytes = static_cast<int64_t>(std::filesystem::file_size(path));
  mem.add_row({name, std::to_string(4 * params), std::to_string(fbytes),
               fmt(static_cast<double>(4 * params) / static_cast<double>(fbytes), 2) + "x", path});

  // ---- speed: batch 1, 8, 64, one thread ----
  const int samples = quick ? 5 : 31;
  const bool vnni = cpu_has_avx512();
  for (int64_t B : {1, 8, 64}) {
    const Tensor x = first_images(data.test, B);
    const Var xv(x);
    NoGradGuard ng;
    auto with = [](KernelMode m, std::function<void()> f) {
      return [m, f] {
        KernelModeGuard g(m);
        f();
      };
    };
    std::vector<std::function<void()>> fns = {
        with(KernelMode::scalar, [&] { model->forward(xv); }),
        with(KernelMode::avx2, [&] { model->forward(xv); }),
        with(KernelMode::scalar, [&] { net.forward(x); }),
        with(KernelMode::avx2, [&] { net.forward(x); }),
    };
    if (vnni) fns.push_back(with(KernelMode::avx512, [&] { net.forward(x); }));
    const std::vector<double> t = side_by_side_us(fns, samples);
    const double r_avx2 = t[1] / t[3], r_scalar = t[0] / t[3], r_vnni = vnni ? t[1] / t[4] : 0.0;
    // The floors: 1.8x at batch 8 and 64 on the fc nets; 8x scalar float; VNNI 3.5x.
    const bool fc = name != "lenet5";
    speed.add_row({name, std::to_string(B), fmt(t[0], 1), fmt(t[1], 1), fmt(t[2], 1), fmt(t[3], 1),
                   vnni ? fmt(t[4], 1) : "-", fmt(r_avx2, 2) + "x", fmt(r_scalar, 1) + "x",
                   vnni ? fmt(r_vnni, 2) + "x" : "-", fc && B >= 8 ? met(r_avx2 >= 1.8) : "-", met(r_scalar >= 8.0),
                   vnni ? met(r_vnni >= 3.5) : "-"});
  }

  // ---- the tricks, one at a time (fc nets; cumulative, each row × over the previous) ----
  if (name == "lenet5") return;
  if (cpu_has_avx2()) stage_profile(name, net, data.test, prof, quick);   // it calls the _avx2 bodies directly
  const int64_t B = 64;
  const Tensor x = first_images(data.test, B);
  std::vector<Tensor> singles;
  for (int64_t i = 0; i < B; ++i) {
    Tensor s(Shape{1, 1, 28, 28});
    std::copy(x.data() + i * 784, x.data() + (i + 1) * 784, s.data());
    singles.push_back(s);
  }
  NoGradGuard ng;
  std::vector<int64_t> want1 = {0};
  // The hidden pre-activations of fc2 as int32, for the activation trick (sigmoid by std::exp vs LUT).
  const Int8Layer& L2 = net.layers[1];
  std::vector<int32_t> pre(static_cast<size_t>(B * L2.out));
  Rng rr(3);
  for (auto& v : pre) v = static_cast<int32_t>((rr.uniform() - 0.5f) * 8.0f / (L2.in.scale * L2.w_scale[0]));
  std::vector<uint8_t> act(pre.size());
  const SigmoidLut lut(L2.in.scale * L2.w_scale[0]);
  const float sc = L2.in.scale * L2.w_scale[0];
  std::vector<std::pair<std::string, std::function<void()>>> steps = {
      {"0 unoptimised: scalar float, one image at a time", [&] {
         KernelModeGuard g(KernelMode::scalar);
         for (auto& s : singles) model->forward(Var(s));
       }},
      {"1 SIMD float (AVX2 sgemm, packed panels), one image at a time", [&] {
         KernelModeGuard g(KernelMode::avx2);
         for (auto& s : singles) model->forward(Var(s));
       }},
      {"2 batching: AVX2 float, 64 images per call", [&] {
         KernelModeGuard g(KernelMode::avx2);
         model->forward(Var(x));
       }},
      {"3 fixed point: int8 AVX2 (vpmaddubsw), 64 per call", [&] {
         KernelModeGuard g(KernelMode::avx2);
         net.forward(x);
       }},
      {"4 layout: the same, but weights repacked on every call (undoing the load-time packing)", [&] {
         KernelModeGuard g(KernelMode::avx2);
         for (const auto& L : net.layers) pack_s8(L.weight.data(), L.out, L.K());
         net.forward(x);
       }},
      {"5 lazy: only the output unit asked for (1 of 10), int8 AVX2", [&] {
         KernelModeGuard g(KernelMode::avx2);
         net.forward_lazy(x, want1);
       }},
      {"6 sigmoid of one 64x" + std::to_string(L2.out) + " hidden layer: std::exp in float", [&] {
         for (size_t i = 0; i < pre.size(); ++i) act[i] = sigmoid_code_exact(static_cast<float>(pre[i]) * sc);
       }},
      {"7 the same by a 1024-entry table (SigmoidLut)", [&] {
         for (size_t i = 0; i < pre.size(); ++i) act[i] = lut(pre[i]);
       }},
  };
  if (vnni)
    steps.push_back({"8 VNNI rung: int8 AVX-512 vpdpbusd, 64 per call", [&] {
                       KernelModeGuard g(KernelMode::avx512);
                       net.forward(x);
                     }});
  std::vector<std::function<void()>> fns;
  for (auto& s : steps) fns.push_back(s.second);
  const std::vector<double> t = side_by_side_us(fns, quick ? 3 : 15);
  // Each row's × is over the row it replaces: 1 over 0, 2 over 1, 3 over 2; 4 and 5 over 3
  // (4 is the trick undone, so < 1x); 7 over 6; 8 over 3.
  const int base[] = {-1, 0, 1, 2, 3, 3, -1, 6, 3};
  for (size_t i = 0; i < steps.size(); ++i)
    tricks.add_row({name, steps[i].first, fmt(t[i], 1),
                    base[i] < 0 ? "1.00x" : fmt(t[base[i]] / t[i], 2) + "x", fmt(t[0] / t[i], 1) + "x"});
}

// The GEMM alone, GOP/s = 2·M·N·K / time, on the peers' shapes (M×K×N as ../shared/peers names them).
void gemm_table(const ExampleArgs& args) {
  struct Shape3 {
    const char* name;
    int64_t M, K, N;
    double onednn_avx2, onednn_auto;   // ../shared/peers/RESULTS.md, "int8 GEMM peer", GOP/s
  };
  const std::vector<Shape3> shapes = {
      {"mlp_fc1_b64", 64, 784, 300, 240, 790},  {"mlp_fc2_b64", 64, 300, 100, 229, 701},
      {"lenet_fc1_b64", 64, 800, 500, 246, 838}, {"sq256", 256, 256, 256, 261, 968},
      {"sq1024", 1024, 1024, 1024, 258, 1029},
  };
  ResultTable g({"shape (MxKxN)", "int8 scalar GOP/s", "int8 AVX2 GOP/s", "vs AVX2 ceiling 276.7", "vs oneDNN AVX2",
                 "int8 VNNI GOP/s", "vs VNNI zmm ceiling 1106", "vs oneDNN auto (VNNI)"});
  const bool vnni = cpu_has_avx512();
  for (const auto& s : shapes) {
    if (args.quick() && s.M > 256) continue;
    Rng r(9);
    std::vector<uint8_t> A(static_cast<size_t>(s.M * s.K));
    std::vector<int8_t> W(static_cast<size_t>(s.N * s.K));
    for (auto& a : A) a = static_cast<uint8_t>(r.uniform() * 127.0f);
    for (auto& w : W) w = static_cast<int8_t>(r.uniform() * 254.0f - 127.0f);
    const PackedS8 p = pack_s8(W.data(), s.N, s.K);
    std::vector<int32_t> C(static_cast<size_t>(s.M * s.N));
    const double ops = 2.0 * s.M * s.N * s.K;
    auto gops = [&](void (*fn)(int64_t, const uint8_t*, int64_t, const PackedS8&, int32_t*, int64_t)) {
      const Timing t = time_kernel([&] { fn(s.M, A.data(), s.K, p, C.data(), s.N); }, args.quick() ? 0.02 : 0.2,
                                   args.quick() ? 3 : 7, 5.0, Clock::cpu);
      return ops / t.median * 1e-9;
    };
    const double gs = s.M * s.N * s.K > 50'000'000 ? 0.0 : gops(&gemm_u8s8_scalar);
    const double ga = gops(&gemm_u8s8_avx2);
    const double gv = vnni ? gops(&gemm_u8s8_avx512vnni) : 0.0;
    g.add_row({std::string(s.name) + " (" + std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N) + ")",
               gs > 0 ? fmt(gs, 1) : "-", fmt(ga, 1), fmt(ga / 276.7, 2), fmt(ga / s.onednn_avx2, 2),
               vnni ? fmt(gv, 1) : "-", vnni ? fmt(gv / 1106.0, 2) : "-", vnni ? fmt(gv / s.onednn_auto, 2) : "-"});
  }
  g.print("the u8s8s32 GEMM alone, one thread, medians of CPU time (oneDNN and ceilings: ../shared/peers/RESULTS.md)");
  if (!args.json_path().empty()) g.write_json(args.json_path() + ".gemm.json");
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("int8",
                   "8-bit fixed-point inference (Vanhoucke, Senior, Mao 2011): u8 activations x s8 weights, int32 "
                   "accumulation; accuracy, speed ladder, GEMM GOP/s, the .mgfq8 file.",
                   "full run on the 2-core VM with the checkpoints cached: ~4 min (training a missing fc1200 adds ~5 "
                   "min, a missing LeNet ~2 / ~17 min); --quick: seconds",
                   {"--data", "--val", "--json"});
  args.val_default(kDefaultValidationImages, "held out of training: the checkpoints' names carry it", 500);
  args.option("--set", "mnist", "mnist | fashion-mnist");
  args.option("--models", "lenet300,fc1200,lenet5", "comma-separated: lenet300 | fc1200 | lenet5");
  args.option("--calib", "2000", "training images whose activation ranges set the per-layer scales");
  args.option("--fc1200-epochs", "5", "epochs of the lenet300 recipe when fc1200 must be trained");
  args.option("--no-gemm", "false", "skip the GEMM-alone table");
  args.output("--out", "", "file prefix for the .mgfq8 models (default build/int8-<net>-<set>.mgfq8)");
  args.parse(argc, argv);
  set_num_threads(1);   // the chapter measures one core (the paper's setting)

  const bool quick = args.quick();
  const std::vector<std::string> models = args.get_list("--models");
  for (const auto& m : models)
    if (m != "lenet300" && m != "fc1200" && m != "lenet5")
      args.fail("--models expects lenet300, fc1200 or lenet5, found '" + m + "'");
  DataSplits data = load_mnist_like(args.data_dir(), args.get("--set"), quick ? 2000 : -1, quick ? 2000 : -1);
  split_validation(data, args.val(data.train.size()));
  std::printf("int8 on %s: %lld training / %lld test images, kernels: %s, VNNI rung: %s\n", data.name.c_str(),
              static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()), gemm_u8s8_variant(),
              cpu_has_avx512() ? "present" : "absent (its columns show -)");

  ResultTable acc({"net", "set", "float errors", "int8 errors (per-row scales)", "fake-quant float errors",
                   "int8 errors (per-layer scales)",
                   "change (per-row)", "floor <= 5", "int8 vs fake-quant disagreements", "quantise s"});
  ResultTable speed({"net", "batch", "scalar float us", "AVX2 float us", "int8 scalar us", "int8 AVX2 us", "int8 VNNI us",
                     "int8 AVX2 / AVX2 float", "int8 AVX2 / scalar float", "VNNI / AVX2 float",
                     "floor >= 1.8x (fc, b8/b64)", "floor >= 8x scalar", "floor VNNI >= 3.5x"});
  ResultTable prof({"net", "batch", "quantise scalar us", "quantise AVX2 us", "GEMM AVX2 us", "requant scalar us",
                    "requant AVX2 us", "logits us", "stages (AVX2) us", "whole net int8 AVX2 us", "GEMM share"});
  ResultTable tricks({"net", "step (batch 64 images)", "us", "x over the step it changes", "x over step 0"});
  ResultTable mem({"net", "float parameter bytes", ".mgfq8 file bytes", "ratio", "file"});
  bool sim_ok = true;
  for (const auto& m : models) run_net(args, m, data, acc, speed, tricks, mem, prof, sim_ok);
  acc.print("test errors, float vs int8 (7-bit activations, calibrated on " + args.get("--calib") + " training images)");
  speed.print("whole net, one thread, median us (thread CPU time) per call, variants taking turns");
  if (!prof.rows().empty())
    prof.print("where the int8 AVX2 net's time goes, per stage (one thread, medians, stages taking turns)");
  if (!tricks.rows().empty()) tricks.print("the paper's tricks, one at a time (one thread, medians)");
  mem.print("memory: the quantised model's file vs float32 parameters");
  if (!args.get_bool("--no-gemm")) gemm_table(args);
  if (!args.json_path().empty()) {
    acc.write_json(args.json_path());
    speed.write_json(args.json_path() + ".speed.json");
    tricks.write_json(args.json_path() + ".tricks.json");
    prof.write_json(args.json_path() + ".stages.json");
  }
  // Floors on the whole-net speed ratios, summarised from the table above.
  for (const auto& row : speed.rows())
    std::printf("floors, %s batch %s: int8 AVX2 >= 1.8x AVX2 float %s, >= 8x scalar float %s, VNNI >= 3.5x AVX2 float %s\n",
                row[0].c_str(), row[1].c_str(), row[10].c_str(), row[11].c_str(), row[12].c_str());
  if (!sim_ok) {
    std::fprintf(stderr, "int8: error: simulation != deployment: the fake-quantised float model and the integer model "
                         "disagree on some test predictions (column above)\n");
    return 1;
  }
  std::printf("simulation = deployment: the fake-quantised float model and the integer model agree on every test image\n");
  return 0;
}

int main(int argc, char** argv) { return run_main("int8", argc, argv, run); }
