// examples/xnor.cpp — reproduces XNOR-Net (Rastegari et al. 2016) on MNIST-like data and measures
// its speed claim on this CPU. Book: book/23-xnor.md.
//
//   build/examples/xnor                     (full: speed sweep + 7 LeNet-5 rows x 3 seeds, 60k images, 1 epoch)
//   build/examples/xnor --skip-speed --models xnor,xnor-cbap   (the block-order ablation of the book)
//   build/examples/xnor --quick             (seconds: small shapes, 2000 images, 1 epoch, 1 seed)
//   build/examples/xnor --set fashion-mnist
//
// Part 1, speed (§3.2 "58× faster convolutions"): one binary convolution, c = 256 channels, 3×3
// kernel, 14×14 output, against our float convolution done the paper's way (im2col + sgemm_scalar)
// and the fast way (im2col + AVX2 sgemm). Each binary variant (scalar popcount, AVX2 nibble
// table, AVX-512 VPOPCNTQ) is timed as a GEMM alone and as the whole conv (sign packing, K map,
// popcount GEMM, α·β scaling). One thread, medians, side by side in one run. Then a sweep over
// the channel count c with the paper's formula S = 64cN_W/(cN_W + 64) beside it (SVG).
// Part 2, accuracy: Caffe's LeNet-5 with real first and last layers: float, BWN (with and
// without α), XNOR in the paper's block order B-A-C-P (with, without β / α) and in the
// conventional C-B-A-P order; same epochs, optimizer and schedule for every row, each trained
// with --seeds seeds (mean ± sample sd over them).
// Part 3, deployment: each trained XNOR net (B-A-C-P, and C-B-A-P whose binary layers chain in
// bits) exported to a packed .xnor file (1 bit per binary weight), reloaded and run from it over
// the whole test set; its predictions are compared one by one with the float simulation's (exit
// 1 on any difference), and the bytes are counted.
// Part 4, the pipeline: the packed C-B-A-P LeNet-5, the packed B-A-C-P one and the float LeNet-5
// (layers/models/lenet.h) timed layer by layer at batch 1 and 64, one thread, side by side.
// Not here: ImageNet/AlexNet (CPU budget), the paper's multi-bit and binary-gradient variants.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/bitpack.h"
#include "compression/quantization/packed_binary.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/timing.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/models/baseline.h"  // report_val_error
#include "layers/models/lenet.h"     // make_lenet5: the float network part 4 compares with

using namespace mgf;
using WallClock = std::chrono::steady_clock;

namespace {

// Median times of several functions in microseconds, measured INTERLEAVED
// (median_call_us_interleaved, engine/kernels/timing.h): each of `samples` rounds runs every
// function once, each repeated until it took ~2 ms, so a burst of load from other processes on
// this shared machine hits every variant alike rather than one of them.
std::vector<double> median_us(const std::vector<std::function<void()>>& fs, int samples,
                              std::vector<double>* minimum = nullptr) {
  std::vector<int> reps;
  for (const auto& f : fs) reps.push_back(calls_for(f, 2000.0, 2000));
  return median_call_us_interleaved(fs, samples, reps, minimum);
}

// The paper's estimate (§3.2): a binary conv replaces cN_W multiply-adds per output by cN_W/64
// xnor-popcounts plus one scaling multiply per output — S = 64·c·N_W / (c·N_W + 64).
double paper_speedup(int64_t c, int64_t nw) { return 64.0 * c * nw / (static_cast<double>(c * nw) + 64.0); }

struct ConvTimes {
  double f_scalar_gemm, f_avx2_gemm, f_scalar_conv, f_avx2_conv;  // float
  double b_gemm[3], b_conv[3];                                    // binary: scalar, avx2, avx512 (−1 = n/a)
  double macs;                                                    // multiply-adds of the conv
  double f_mt_gemm = -1, b_mt_gemm = -1;                          // dispatchers sgemm / bgemm, all threads
  double f_avx2_gemm_min, b_gemm_min[3];                          // fastest sample (least disturbed)
  double pack_scalar = -1, pack_avx2 = -1, beta_map = -1, scaling = -1;  // the binary conv's non-GEMM steps
};

// One conv: c → c channels, 3×3, stride 1, pad 1, on an hw×hw input. Float and binary variants
// are checked to compute the same sign arithmetic before anything is timed.
ConvTimes time_conv(int64_t c, int64_t hw, int samples, int mt_threads = 1) {
  const ConvGeom g{c, hw, hw, 3, 3, 1, 1, 1, 1};
  const int64_t O = c, K = c * 9, P = g.OH() * g.OW(), words = bit_words(K);
  Rng rng(42);
  std::vector<float> x(static_cast<size_t>(c * hw * hw)), w(static_cast<size_t>(O * K)), col(static_cast<size_t>(K * P)),
      y(static_cast<size_t>(O * P)), beta(static_cast<size_t>(P)), alpha(static_cast<size_t>(O), 0.5f);
  for (auto& v : x) v = rng.normal();
  for (auto& v : w) v = rng.normal();
  PackedSigns wb = PackedSigns::from_rows(w.data(), O, K);  // packed once, as a deployed layer is
  std::vector<uint64_t> xb(static_cast<size_t>(P * words));
  std::vector<int32_t> z(static_cast<size_t>(O * P));
  im2col(g, x.data(), col.data());
  im2col_pack_signs(g, x.data(), xb.data());

  ConvTimes t{};
  t.macs = static_cast<double>(O) * P * K;
  using Fn = void (*)(int64_t, int64_t, int64_t, const uint64_t*, const uint64_t*, int32_t*, int64_t);
  const Fn fns[3] = {&bgemm_scalar, &bgemm_avx2, &bgemm_avx512};
  const bool have[3] = {true, cpu_has_avx2(), cpu_has_avx512()};
  std::vector<int32_t> ref(static_cast<size_t>(O * P));
  bgemm_scalar(O, P, K, wb.bits.data(), xb.data(), ref.data(), P);
  // Float: the paper's baseline is a plain float conv (im2col + sgemm_scalar); ours is AVX2 sgemm.
  // sgemm_avx2 is called directly so the float side does not depend on the kernel mode in force.
  auto fgemm = [&](bool avx2) {
    auto* fn = avx2 && cpu_has_avx2() ? &sgemm_avx2 : &sgemm_scalar;
    fn(Trans::N, Trans::N, O, P, K, 1.0f, w.data(), K, col.data(), P, 0.0f, y.data(), P);
  };
  std::vector<std::function<void()>> fs = {
      [&] { fgemm(false); }, [&] { im2col(g, x.data(), col.data()), fgemm(false); },
      [&] { fgemm(true); },  [&] { im2col(g, x.data(), col.data()), fgemm(true); }};
  std::vector<int> slot(3, -1);
  for (int v = 0; v < 3; ++v) {
    if (!have[v]) continue;
    fns[v](O, P, K, wb.bits.data(), xb.data(), z.data(), P);
    if (z != ref) {  // validated against the scalar specification before anything is timed
      std::fprintf(stderr, "xnor: binary GEMM variant %d disagrees with the scalar one; not timing it\n", v);
      continue;
    }
    slot[static_cast<size_t>(v)] = static_cast<int>(fs.size());
    fs.push_back([&, v] { fns[v](O, P, K, wb.bits.data(), xb.data(), z.data(), P); });
    // the whole binary conv: sign + pack the input, K = A∗k, popcount GEMM, y = α_o·K_p·z
    fs.push_back([&, v] {
      im2col_pack_signs(g, x.data(), xb.data());
      xnor_beta_map(g, x.data(), beta.data());
      fns[v](O, P, K, wb.bits.data(), xb.data(), z.data(), P);
      for (int64_t o = 0; o < O; ++o)
        for (int64_t p = 0; p < P; ++p)
          y[static_cast<size_t>(o * P + p)] = alpha[static_cast<size_t>(o)] * beta[static_cast<size_t>(p)] *
                                              static_cast<float>(z[static_cast<size_t>(o * P + p)]);
    });
  }
  std::vector<double> mins;
  const std::vector<double> m = median_us(fs, samples, &mins);
  t.f_avx2_gemm_min = mins[2];
  if (mt_threads > 1) {  // the dispatchers with every thread: sgemm splits its blocks, bgemm its rows
    const int one = num_threads();
    set_num_threads(mt_threads);
    KernelModeGuard kg(cpu_has_avx512() ? KernelMode::avx512 : cpu_has_avx2() ? KernelMode::avx2 : KernelMode::scalar);
    const std::vector<double> mt = median_us(
        {[&] { sgemm(Trans::N, Trans::N, O, P, K, 1.0f, w.data(), K, col.data(), P, 0.0f, y.data(), P); },
         [&] { bgemm(O, P, K, wb.bits.data(), xb.data(), z.data(), P); }},
        samples);
    t.f_mt_gemm = mt[0], t.b_mt_gemm = mt[1];
    set_num_threads(one);
  }
  t.f_scalar_gemm = m[0], t.f_scalar_conv = m[1], t.f_avx2_gemm = m[2], t.f_avx2_conv = m[3];
  {  // what the whole binary conv spends outside the GEMM, step by step (sign packing on both sides)
    std::vector<std::function<void()>> steps = {
        [&] { KernelModeGuard kg(KernelMode::scalar); im2col_pack_signs(g, x.data(), xb.data()); },
        [&] { im2col_pack_signs(g, x.data(), xb.data()); },
        [&] { xnor_beta_map(g, x.data(), beta.data()); },
        [&] {
          for (int64_t o = 0; o < O; ++o)
            for (int64_t p = 0; p < P; ++p)
              y[static_cast<size_t>(o * P + p)] = alpha[static_cast<size_t>(o)] * beta[static_cast<size_t>(p)] *
                                                  static_cast<float>(z[static_cast<size_t>(o * P + p)]);
        }};
    KernelModeGuard kg(cpu_has_avx2() ? KernelMode::avx2 : KernelMode::scalar);
    const std::vector<double> st = median_us(steps, samples);
    t.pack_scalar = st[0], t.pack_avx2 = cpu_has_avx2() ? st[1] : -1, t.beta_map = st[2], t.scaling = st[3];
  }
  for (int v = 0; v < 3; ++v) {
    const int i = slot[static_cast<size_t>(v)];
    t.b_gemm[v] = i < 0 ? -1 : m[static_cast<size_t>(i)];
    t.b_conv[v] = i < 0 ? -1 : m[static_cast<size_t>(i) + 1];
    t.b_gemm_min[v] = i < 0 ? -1 : mins[static_cast<size_t>(i)];
  }
  return t;
}

void speed_part(const ExampleArgs& args, std::vector<std::string>& notes) {
  const bool quick = args.quick();
  const int threads = num_threads();
  set_num_threads(1);  // one core for every variant: the ratios compare kernels, not thread counts
  const int64_t c = quick ? 64 : args.get_int("--channels", 1, 4096), hw = quick ? 8 : args.get_int("--hw", 1, 1024);
  const int samples = quick ? 5 : 15;
  ConvTimes t = time_conv(c, hw, samples, threads);
  const double S = paper_speedup(c, 9);
  std::printf("\n== Part 1: one binary convolution, c = %lld, 3x3, %lldx%lld output, 1 thread (median of %d) ==\n",
              static_cast<long long>(c), static_cast<long long>(hw), static_cast<long long>(hw), samples);
  std::printf("GEMM shape: M = %lld filters, N = %lld pixels, K = %lld (= %lld words of 64 bits)\n",
              static_cast<long long>(c), static_cast<long long>(hw * hw), static_cast<long long>(c * 9),
              static_cast<long long>(bit_words(c * 9)));
  std::printf("paper's formula S = 64cN_W/(cN_W+64) = %.2fx; paper measured 58x (c = 256, 3x3, CPU)\n", S);
  // medians, plus the fastest sample (min) of the GEMMs: on a loaded machine the long float calls
  // are interrupted more often than the short binary ones, which the min ratio corrects for
  ResultTable table({"variant", "GEMM us", "G MAC/s", "x sgemm_scalar", "x sgemm AVX2", "GEMM us (min)",
                     "x sgemm AVX2 (min)", "conv us", "conv x scalar", "conv x AVX2"});
  auto row = [&](const std::string& name, double gemm, double gemm_min, double conv) {
    if (gemm < 0) {
      table.add_row({name, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"});
      return;
    }
    table.add_row({name, fmt(gemm, 1), fmt(t.macs / gemm / 1e3, 1), fmt(t.f_scalar_gemm / gemm, 1),
                   fmt(t.f_avx2_gemm / gemm, 1), fmt(gemm_min, 1), fmt(t.f_avx2_gemm_min / gemm_min, 1), fmt(conv, 1),
                   fmt(t.f_scalar_conv / conv, 1), fmt(t.f_avx2_conv / conv, 1)});
  };
  row("float scalar (im2col + sgemm_scalar)", t.f_scalar_gemm, t.f_scalar_gemm, t.f_scalar_conv);
  row("float AVX2 (im2col + sgemm)", t.f_avx2_gemm, t.f_avx2_gemm_min, t.f_avx2_conv);
  row("binary scalar (popcnt)", t.b_gemm[0], t.b_gemm_min[0], t.b_conv[0]);
  row("binary AVX2 (vpshufb + vpsadbw)", t.b_gemm[1], t.b_gemm_min[1], t.b_conv[1]);
  row("binary AVX-512 (VPOPCNTQ)", t.b_gemm[2], t.b_gemm_min[2], t.b_conv[2]);
  table.print("XNOR-Net speed: binary vs float convolution (G MAC/s: binary MACs for binary rows)");
  if (t.b_mt_gemm > 0)
    std::printf("with %d threads: sgemm %.1f us (%.1f G MAC/s), bgemm (%s) %.1f us (%.1f G binary MAC/s): %.1fx\n", threads,
                t.f_mt_gemm, t.macs / t.f_mt_gemm / 1e3, cpu_has_avx512() ? "avx512" : "avx2", t.b_mt_gemm,
                t.macs / t.b_mt_gemm / 1e3, t.f_mt_gemm / t.b_mt_gemm);
  std::printf("outside the GEMM (median us): sign packing im2col_pack_signs %.1f (scalar row masks) / %.1f (AVX2 row "
              "masks), K = A*k %.1f, alpha*K scaling %.1f\n",
              t.pack_scalar, t.pack_avx2, t.beta_map, t.scaling);
  notes.push_back("speed c=" + std::to_string(c) + ": AVX2 binary GEMM " + fmt(t.f_avx2_gemm / t.b_gemm[1], 1) +
                  "x our AVX2 sgemm; formula " + fmt(S, 2) + "x");
  if (!args.json_path().empty()) table.write_json(args.json_path() + ".speed.json");

  // The sweep over c: measured GEMM speed-ups and the formula, as the figure.
  std::vector<int64_t> cs = quick ? std::vector<int64_t>{16, 32, 64} : std::vector<int64_t>{16, 32, 64, 128, 256, 512};
  std::vector<double> xs, formula, vs_scalar[3], vs_avx2[3];
  ResultTable sweep({"c", "formula S", "AVX2 x scalar", "AVX-512 x scalar", "AVX2 x AVX2 sgemm", "AVX-512 x AVX2 sgemm"});
  for (int64_t cc : cs) {
    ConvTimes s = time_conv(cc, hw, quick ? 5 : 9);
    xs.push_back(static_cast<double>(cc));
    formula.push_back(paper_speedup(cc, 9));
    for (int v = 1; v < 3; ++v) {
      vs_scalar[v].push_back(s.b_gemm[v] > 0 ? s.f_scalar_gemm / s.b_gemm[v] : 0);
      vs_avx2[v].push_back(s.b_gemm[v] > 0 ? s.f_avx2_gemm / s.b_gemm[v] : 0);
    }
    sweep.add_row({std::to_string(cc), fmt(formula.back(), 1), fmt(vs_scalar[1].back(), 1), fmt(vs_scalar[2].back(), 1),
                   fmt(vs_avx2[1].back(), 1), fmt(vs_avx2[2].back(), 1)});
  }
  sweep.print("GEMM speed-up vs channel count (3x3, " + std::to_string(hw) + "x" + std::to_string(hw) + ", 1 thread)");
  SvgPlot plot("XNOR-Net: binary vs float GEMM speed-up (3x3 conv, " + std::to_string(hw) + "x" + std::to_string(hw) + ")",
               "input channels c", "speed-up (x)");
  plot.log_x = true;
  plot.log_y = true;
  plot.line("paper's formula 64cN/(cN+64)", xs, formula, "#888", true);
  plot.line("AVX2 popcount vs scalar sgemm", xs, vs_scalar[1]);
  plot.line("AVX2 popcount vs AVX2 sgemm", xs, vs_avx2[1]);
  if (cpu_has_avx512()) {
    plot.line("AVX-512 VPOPCNTQ vs scalar sgemm", xs, vs_scalar[2]);
    plot.line("AVX-512 VPOPCNTQ vs AVX2 sgemm", xs, vs_avx2[2]);
  }
  const std::string svg = args.svg_path("build/figures/xnor-speedup.svg");
  std::filesystem::create_directories(std::filesystem::path(svg).parent_path());
  plot.write(svg);
  std::printf("figure: %s\n", svg.c_str());
  set_num_threads(threads);
}

// Part 3: a trained XNOR model exported to its .xnor file, reloaded, and run over the test set
// from the file; its predictions are compared one by one with the float simulation's
// (check_sim_equals_deploy ends the program with exit 1 on any difference). Returns the path.
std::string deploy_part(BinaryLeNet5& model, const DataSplits& data, const std::string& key) {
  const std::string name = model.config().name();
  std::printf("\n== Part 3: %s packed and run from its file on the popcount kernels ==\n", name.c_str());
  const std::string path = "build/" + key + "-lenet5-" + data.name + ".xnor";
  std::filesystem::create_directories("build");
  const int64_t file_bytes = export_packed(model, path);
  PackedBinaryNet packed(path);
  model.eval();
  Tensor sim_logits({data.test.size(), 10});
  const auto t0 = WallClock::now();
  {
    NoGradGuard ng;
    for (int64_t b = 0; b < data.test.size(); b += 1000) {
      const int64_t n = std::min<int64_t>(1000, data.test.size() - b);
      Tensor l = model(Var(data.test.slice(b, n).images)).value();
      std::copy(l.data(), l.data() + l.numel(), sim_logits.data() + b * 10);
    }
  }
  const double sim_s = std::chrono::duration<double>(WallClock::now() - t0).count();
  const int64_t sim_errors = count_errors(sim_logits, data.test.labels);
  PackedEval pe = evaluate_packed(packed, data.test, &sim_logits);
  std::string kinds;  // the layer records the runner walks
  for (const auto& l : packed.layers()) kinds += std::string(kinds.empty() ? "" : " ") + PackedBinaryNet::kind_name(l.kind) + (l.out_bits ? "(bits)" : "");
  std::printf("layers of %s: %s\n", path.c_str(), kinds.c_str());
  ResultTable dep({"path", "test errors", "disagreements with simulation", "images/s"});
  dep.add_row({"float simulation (training graph, eval mode)", std::to_string(sim_errors), "-", fmt(data.test.size() / sim_s, 0)});
  dep.add_row({std::string("packed .xnor on bgemm (") + bgemm_variant() + ")", std::to_string(pe.errors),
               std::to_string(pe.disagreements), fmt(pe.count / pe.seconds, 0)});
  dep.print(name + ": simulation = deployment on the " + std::to_string(data.test.size()) + " test images");
  check_sim_equals_deploy(path, pe.disagreements, pe.count, -1.0);  // evaluate_packed compares predictions

  ResultTable mem({"what", "fp32 bytes", "deployed bytes", "ratio"});
  for (const auto& [wname, w] : model.binary_weights()) {
    const int64_t O = w->var.value().dim(0), K = w->var.value().numel() / O;
    const int64_t fb = 4 * O * K, pb = 8 * O * bit_words(K);
    mem.add_row({wname + " " + w->var.value().str() + " signs", std::to_string(fb), std::to_string(pb), fmt(double(fb) / pb, 2) + "x"});
    mem.add_row({wname + " signs + alpha", std::to_string(fb), std::to_string(pb + 4 * O), fmt(double(fb) / (pb + 4 * O), 2) + "x"});
  }
  mem.add_row({"whole model (weights + BN statistics)", std::to_string(model.float_weight_bytes()),
               std::to_string(model.deployed_weight_bytes()),
               fmt(double(model.float_weight_bytes()) / model.deployed_weight_bytes(), 2) + "x"});
  mem.add_row({"the .xnor file (" + path + ")", std::to_string(model.float_weight_bytes()), std::to_string(file_bytes),
               fmt(double(model.float_weight_bytes()) / file_bytes, 2) + "x"});
  mem.print(name + " memory: binary layers at 1 bit per weight (conv1, fc2 and batch norm stay fp32)");
  return path;
}

Tensor random_images(int64_t n) {
  Rng r(3);
  Tensor x({n, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = r.uniform(-0.5f, 2.5f);
  return x;
}

// Part 4: the packed LeNet-5 whose binary layers chain in bits (C-B-A-P), the packed one with
// floats between its binary layers (B-A-C-P: β and the pool come before the sign), and the
// ordinary float LeNet-5 (layers/models/lenet.h), at batch 1 and 64 on one thread. Every round
// runs each network once and times each of its layers; the table shows medians over rounds, so
// the three are measured side by side under the same load. The work of these networks does not
// depend on their weights, so a model not trained in this run is timed untrained.
void pipeline_speed_part(const DataSplits& data, std::string floats_path, std::string bits_path, bool quick) {
  const int threads = num_threads();
  set_num_threads(1);
  auto standin = [](BlockOrder order, const std::string& key) {
    manual_seed(1);
    BinaryNetConfig c;
    c.mode = BinaryMode::xnor, c.order = order;
    BinaryLeNet5 m(c);
    m.eval();
    const std::string path = "build/" + key + "-lenet5-untrained.xnor";
    std::filesystem::create_directories("build");
    export_packed(m, path);
    std::printf("(%s was not trained in this run: timing an untrained one, %s)\n", c.name().c_str(), path.c_str());
    return path;
  };
  if (floats_path.empty()) floats_path = standin(BlockOrder::bacp, "xnor");
  if (bits_path.empty()) bits_path = standin(BlockOrder::cbap, "xnor-cbap");
  const PackedBinaryNet pf(floats_path), pb(bits_path);
  manual_seed(1);
  std::shared_ptr<Sequential> lenet = make_lenet5();
  lenet->eval();
  struct Net {
    std::string label;
    std::vector<std::string> layer, kind;
    std::function<void(const Tensor&, std::vector<double>&, bool)> run;  // one forward, µs per layer
  };
  std::vector<Net> nets(cpu_has_avx512() ? 4 : 3);
  nets[0].label = "float LeNet-5";
  for (const auto& [n, child] : *lenet) nets[0].layer.push_back(n), nets[0].kind.push_back(child->type_name());
  nets[0].run = [&](const Tensor& x, std::vector<double>& us, bool cpu) {
    NoGradGuard ng;
    Var h(x);
    size_t i = 0;
    for (const auto& [n, child] : *lenet) {
      const double t0 = now_us(cpu);
      h = child->forward(h);
      us[i++] = now_us(cpu) - t0;
    }
  };
  const PackedBinaryNet* packed[2] = {&pf, &pb};
  const char* labels[2] = {"packed XNOR B-A-C-P (floats between)", "packed XNOR C-B-A-P (bits between)"};
  for (int k = 0; k < 2; ++k) {
    Net& n = nets[static_cast<size_t>(k) + 1];
    n.label = labels[k];
    for (const auto& l : packed[k]->layers())
      n.layer.push_back(l.name), n.kind.push_back(std::string(PackedBinaryNet::kind_name(l.kind)) + (l.out_bits ? " -> bits" : ""));
    n.run = [p = packed[k]](const Tensor& x, std::vector<double>& us, bool cpu) {
      std::fill(us.begin(), us.end(), 0.0);
      p->forward(x, &us, cpu);
    };
  }
  if (nets.size() == 4) {  // the same bits on the third, labelled popcount variant (binary_gemm.h)
    nets[3] = nets[2];
    nets[3].label = "packed XNOR C-B-A-P, bgemm AVX-512";
    nets[3].run = [&pb](const Tensor& x, std::vector<double>& us, bool cpu) {
      KernelModeGuard kg(KernelMode::avx512);
      std::fill(us.begin(), us.end(), 0.0);
      pb.forward(x, &us, cpu);
    };
  }
  const size_t nn = nets.size();
  // Batch 1: wall time (a call is microseconds, rarely descheduled, so the median is clean).
  // Batch 64: this thread's CPU time (a layer call lasts milliseconds, longer than a scheduler
  // slice on a loaded machine, so wall time would mostly measure the other processes).
  const int64_t batches[2] = {1, 64};
  std::vector<std::vector<double>> med[2];  // [batch][net][layer], µs per image
  std::vector<double> total[2];             // [batch][net]: the sum of the layer medians
  for (int bi = 0; bi < 2; ++bi) {
    const int64_t B = batches[bi];  // test images, or random ones when no data was loaded (--skip-train)
    const Tensor x = data.test.size() >= B ? data.test.slice(0, B).images : random_images(B);
    const int rounds = quick ? 5 : (B == 1 ? 301 : 31);
    std::vector<std::vector<std::vector<double>>> samples(nn);  // [net][layer][round]
    for (size_t n = 0; n < nn; ++n) samples[n].assign(nets[n].layer.size(), {});
    for (int r = -1; r < rounds; ++r)  // round -1 warms the caches and is not kept
      for (size_t n = 0; n < nn; ++n) {
        std::vector<double> us(nets[n].layer.size(), 0.0);
        nets[n].run(x, us, B > 1);
        if (r >= 0)
          for (size_t l = 0; l < us.size(); ++l) samples[n][l].push_back(us[l] / static_cast<double>(B));
      }
    for (size_t n = 0; n < nn; ++n) {
      med[bi].push_back({});
      total[bi].push_back(0.0);
      for (auto& s : samples[n]) med[bi].back().push_back(median_of(s)), total[bi].back() += med[bi].back().back();
    }
  }
  ResultTable per({"net", "layer", "kind", "batch 1: us (wall)", "batch 64: us / image (CPU)"});
  for (size_t n = 0; n < nn; ++n) {
    for (size_t l = 0; l < nets[n].layer.size(); ++l)
      per.add_row({nets[n].label, nets[n].layer[l], nets[n].kind[l], fmt(med[0][n][l], 1), fmt(med[1][n][l], 1)});
    per.add_row({nets[n].label, "total", "", fmt(total[0][n], 1), fmt(total[1][n], 1)});
  }
  per.print("== Part 4: per layer, 1 thread, medians over rounds (kernels " + std::string(kernel_mode_name(kernel_mode())) +
            ", bgemm " + bgemm_variant() + ") ==");
  ResultTable sum({"net", "batch 1: us", "x float LeNet-5", "batch 64: us / image", "x float LeNet-5 "});
  for (size_t n = 0; n < nn; ++n)
    sum.add_row({nets[n].label, fmt(total[0][n], 1), fmt(total[0][0] / total[0][n], 2), fmt(total[1][n], 1),
                 fmt(total[1][0] / total[1][n], 2)});
  sum.print("whole network = sum of the per-layer medians");
  for (size_t n = 2; n < nn; ++n) {
    const double s1 = total[0][0] / total[0][n], s64 = total[1][0] / total[1][n];
    std::printf("floor: %s >= 3x the float LeNet-5 at batch 1 (%.2fx) and at batch 64 (%.2fx): %s\n", nets[n].label.c_str(),
                s1, s64, s1 >= 3 && s64 >= 3 ? "holds" : "MISSED (the per-layer table shows where the time goes)");
  }
  set_num_threads(threads);
}

}  // namespace

// --train: -1 (all) or a positive count; 0 would train on nothing.
static int64_t train_images(const ExampleArgs& args) {
  const int64_t n = args.get_int("--train", -1, 100000000);
  if (n == 0) args.fail("--train expects -1 (all) or a positive count, found 0");
  return n;
}

static int run(int argc, char** argv) {
  ExampleArgs args("xnor",
                   "Reproduces XNOR-Net (Rastegari et al. 2016): BWN / XNOR LeNet-5 accuracy vs float, the block\n"
                   "order ablation (B-A-C-P vs C-B-A-P), alpha / beta ablations, the packed model on popcount\n"
                   "kernels (simulation = deployment, 32x memory), and the 58x convolution speed claim measured.",
                   "about 50 s of CPU per model and seed on the full 60k set, 1 epoch, 1 thread; the book's block-order\n"
                   "run (--skip-speed --models xnor,xnor-cbap: 2 models x 3 seeds) took 5 min of CPU, 11-14 min wall\n"
                   "on the loaded 2-core VM; the default (7 models x 3 seeds + speed) ~20 min of CPU; --quick: ~15 s;\n"
                   "part 4 alone (--skip-speed --skip-train: packed vs float LeNet-5 per layer) a few seconds",
                   {"--data", "--epochs", "--val", "--json", "--svg"});
  // 0 until this chapter's headline tables are re-run with choices on validation (issue 12).
  args.val_default(0, "prints each trained model's validation error beside its test error");
  args.option("--set", "mnist", "mnist or fashion-mnist");
  args.option("--train", "-1", "training images to use (-1 = all 60000; --quick uses 2000)");
  args.option("--seeds", "3", "seeds per row: --seed, --seed+1, ... (--quick: 1)");
  args.option("--models", "float,bwn,bwn-noalpha,xnor,xnor-nobeta,xnor-noalpha,xnor-cbap",
              "comma list of the rows to train");
  args.option("--lr", "0.001", "Adam learning rate (cosine decay to 0)");
  args.option("--batch", "64", "mini-batch size");
  args.option("--channels", "256", "channels of the timed binary conv (the paper's c = 256)");
  args.option("--hw", "14", "output height = width of the timed conv");
  args.option("--skip-speed", "false", "skip part 1 (timing)");
  args.option("--skip-train", "false", "skip parts 2 and 3 (training, deployment); part 4 then times untrained nets");
  args.option("--skip-pipeline", "false", "skip part 4 (packed LeNet-5 vs float LeNet-5, per layer)");
  args.parse(argc, argv);
  const bool quick = args.quick();
  std::vector<std::string> notes;
  std::printf("xnor: kernels %s (bgemm variant %s), AVX-512 VPOPCNTDQ %s, %d threads\n", kernel_mode_name(kernel_mode()),
              bgemm_variant(), cpu_has_avx512() ? "yes" : "no", num_threads());

  // The data is loaded first, so that a data error ends the run before the timing part.
  DataSplits data;
  if (!args.get_bool("--skip-train")) {
    data = load_mnist_like(args.data_dir(), args.get("--set"), quick ? 2000 : train_images(args), quick ? 1000 : -1);
    split_validation(data, args.val(data.train.size()));  // held out from the (quick) slice
  } else if (args.given("--data") || args.given("--val")) {
    args.fail(std::string(args.given("--data") ? "--data" : "--val") + " is not used with --skip-train (it reads no data then)");
  }
  if (!args.get_bool("--skip-speed")) speed_part(args, notes);
  if (args.get_bool("--skip-train")) {  // part 4 still runs: its timing does not need trained weights
    if (!args.get_bool("--skip-pipeline")) pipeline_speed_part(data, "", "", quick);
    return 0;
  }
  const int epochs = args.epochs(1, 1);
  const int64_t nseeds = quick && !args.given("--seeds") ? 1 : args.get_int("--seeds", 1, 1000);
  if (nseeds < 1) args.fail("--seeds: expected at least 1, found " + std::to_string(nseeds));
  std::printf("\n== Part 2: LeNet-5 (real conv1 and fc2) on %s: %lld train / %lld test images, %d epochs, Adam %g, batch %lld ==\n",
              data.name.c_str(), static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()),
              epochs, args.get_float_above("--lr", 0.0, 10.0), static_cast<long long>(args.get_int("--batch", 1, 100000)));

  struct Spec {
    const char* key;
    BinaryNetConfig cfg;
    const char* paper;
  };
  auto cfg = [](BinaryMode m, BlockOrder o, bool a, bool b) {
    BinaryNetConfig c;
    c.mode = m, c.order = o, c.use_alpha = a, c.use_beta = b;
    return c;
  };
  const Spec specs[] = {
      {"float", cfg(BinaryMode::real, BlockOrder::bacp, true, true), "56.6 top-1 (AlexNet)"},
      {"bwn", cfg(BinaryMode::bwn, BlockOrder::bacp, true, true), "56.8 top-1; CIFAR-10 9.88 % err"},
      {"bwn-noalpha", cfg(BinaryMode::bwn, BlockOrder::bacp, false, true), "46.2 (alpha learned, not Eq. 6)"},
      {"xnor", cfg(BinaryMode::xnor, BlockOrder::bacp, true, true), "44.2 top-1; CIFAR-10 10.17 % err"},
      {"xnor-nobeta", cfg(BinaryMode::xnor, BlockOrder::bacp, true, false), "< 1 pp below with beta"},
      {"xnor-noalpha", cfg(BinaryMode::xnor, BlockOrder::bacp, false, true), "-"},
      {"xnor-cbap", cfg(BinaryMode::xnor, BlockOrder::cbap, true, true), "30.3 top-1 (C-B-A-P)"},
  };
  std::vector<std::string> wanted = args.get_list("--models");
  if (quick && !args.given("--models")) wanted = {"float", "bwn", "xnor", "xnor-cbap"};
  for (const auto& w : wanted)
    if (std::none_of(std::begin(specs), std::end(specs), [&](const Spec& s) { return w == s.key; }))
      args.fail("--models: unknown row '" + w + "' (expected some of float,bwn,bwn-noalpha,xnor,xnor-nobeta,xnor-noalpha,xnor-cbap)");

  ResultTable table({"model", "test error per seed", "mean +- sd", "vs float (pp)", "deployed KB", "fp32 KB",
                     "train s / seed", "paper (ImageNet AlexNet / CIFAR-10)"});
  double float_err = -1;
  std::unique_ptr<BinaryLeNet5> xnor_model, cbap_model;
  for (const Spec& s : specs) {
    if (std::find(wanted.begin(), wanted.end(), s.key) == wanted.end()) continue;
    std::vector<double> errs;
    std::string per_seed;
    double secs = 0;
    int64_t deployed = 0, fp32 = 0;
    for (int64_t k = 0; k < nseeds; ++k) {  // the same seeds for every row
      manual_seed(args.seed() + static_cast<uint64_t>(k));
      auto m = std::make_unique<BinaryLeNet5>(s.cfg);
      BinaryTrainOptions o;
      o.epochs = epochs;
      o.batch = args.get_int("--batch", 1, 100000);
      o.lr = static_cast<float>(args.get_float_above("--lr", 0.0, 10.0));
      const auto t0 = WallClock::now();
      EvalResult r = train_binary_lenet(*m, data, o, s.cfg.name());
      secs += std::chrono::duration<double>(WallClock::now() - t0).count();
      errs.push_back(r.error_rate());
      per_seed += (k ? " " : "") + fmt(100 * r.error_rate(), 2);
      std::printf("%-22s seed %llu: test error %s (%lld / %lld)\n", s.cfg.name().c_str(),
                  static_cast<unsigned long long>(args.seed() + static_cast<uint64_t>(k)), fmt_pct(r.error_rate()).c_str(),
                  static_cast<long long>(r.errors), static_cast<long long>(r.count));
      report_val_error(s.cfg.name() + " seed " + std::to_string(args.seed() + static_cast<uint64_t>(k)), *m, data);
      std::fflush(stdout);
      deployed = m->deployed_weight_bytes(), fp32 = m->float_weight_bytes();
      if (std::string(s.key) == "xnor" && k == 0) xnor_model = std::move(m);  // the first seed is packed
      if (std::string(s.key) == "xnor-cbap" && k == 0) cbap_model = std::move(m);
    }
    const MeanSd ms = mean_sd(errs);
    if (std::string(s.key) == "float") float_err = ms.mean;
    table.add_row({s.cfg.name(), per_seed, fmt(100 * ms.mean, 2) + " +- " + fmt(100 * ms.sd, 2),
                   float_err >= 0 ? fmt(100 * (ms.mean - float_err), 2) : "-", fmt(deployed / 1024.0, 1),
                   fmt(fp32 / 1024.0, 1), fmt(secs / static_cast<double>(nseeds), 0), s.paper});
  }
  table.print("XNOR-Net on " + data.name + " (LeNet-5, " + std::to_string(data.train.size()) + " images x " +
              std::to_string(epochs) + " epochs, seeds " + std::to_string(args.seed()) + ".." +
              std::to_string(args.seed() + static_cast<uint64_t>(nseeds) - 1) + "; test error in %)");
  if (!args.json_path().empty()) table.write_json(args.json_path());

  // Part 3: each XNOR model packed, reloaded and run on the test set; Part 4: how fast, per layer.
  std::string bits_path, floats_path;
  if (xnor_model) floats_path = deploy_part(*xnor_model, data, "xnor");
  if (cbap_model) bits_path = deploy_part(*cbap_model, data, "xnor-cbap");
  if (!args.get_bool("--skip-pipeline")) pipeline_speed_part(data, floats_path, bits_path, quick);
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
  return 0;
}

// One error path (engine/cli.h): "xnor: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("xnor", argc, argv, run); }
