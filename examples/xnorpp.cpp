// examples/xnorpp.cpp — reproduces XNOR-Net++ (Bulat & Tzimiropoulos 2019): the learned scale Γ
// in its four shapes against XNOR-Net's analytic α·K, at equal binary cost, on a small binary
// ResNet where the scale is not divided out by a batch norm. Book: book/24-xnorpp.md.
//
//   build/examples/xnorpp --threads 1                  (MNIST: alpha*K + 4 cases; lr on validation, 3 seeds)
//   build/examples/xnorpp --threads 1 --set fashion-mnist
//   build/examples/xnorpp --models xnor,case1          (only some rows)
//   build/examples/xnorpp --quick                      (seconds, for CI)
//
// Every row is the same BinaryResNet (layers/models/binary_resnet.h: real stem, binary residual
// blocks x + scale ⊙ (sign(BN(x)) ⊛ sign(W)), real classifier), the same seeds, epochs, optimizer
// and schedule; only the scale of the binary branch differs: XNOR-Net's α (from the weights) ⊙ K
// (from the input, per image), or Γ learned by back-propagation, case 1 α ∈ R^o, 2 Γ ∈ R^{o×h×w},
// 3 α ⊗ β, 4 α ⊗ β ⊗ γ. The protocol, per row: train the first seed at every --lrs value, keep the
// lr with the lowest VALIDATION error (the last --val training images, never trained on), train
// the other seeds at it; the test set is evaluated once per kept model, at the end. Finally the
// cost of the scale itself at the paper's conv shape: Γ is one multiply per output, K needs a pass
// over the input. Deployment: every kept model is exported to a packed .xnor file (version 4: one
// binary_res_block record per block, compression/quantization/packed_binary.h), reloaded and run
// over the whole test set from the file — the binary branch in xnor + popcount, the shortcut and
// scales in float; its predictions are compared one by one with the float simulation's (exit 1 on
// any difference), and the two are timed side by side at batch 1 and 64 on one thread.
// Not here: the paper's ResNet-18 / ImageNet recipe.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/bitpack.h"
#include "compression/quantization/packed_binary.h"
#include "compression/quantization/xnorpp.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/timing.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/models/binary_resnet.h"

using namespace mgf;
using WallClock = std::chrono::steady_clock;

namespace {

// The scale's share of one binary conv (c → c, 3×3, hw×hw, 1 thread): the popcount GEMM, then
// either Γ (one multiply per output, Γ materialised at load) or XNOR-Net's K = A∗k from the
// input plus α·K per output.
void scale_cost(int64_t c, int64_t hw, int samples) {
  const ConvGeom g{c, hw, hw, 3, 3, 1, 1, 1, 1};
  const int64_t O = c, K = c * 9, P = g.OH() * g.OW();
  Rng rng(5);
  std::vector<float> x(static_cast<size_t>(c * hw * hw)), w(static_cast<size_t>(O * K)), y(static_cast<size_t>(O * P)),
      gamma(static_cast<size_t>(O * P), 0.7f), alpha(static_cast<size_t>(O), 0.7f), beta(static_cast<size_t>(P));
  for (auto& v : x) v = rng.normal();
  for (auto& v : w) v = rng.normal();
  PackedSigns wb = PackedSigns::from_rows(w.data(), O, K);
  std::vector<uint64_t> xb(static_cast<size_t>(P * bit_words(K)));
  std::vector<int32_t> z(static_cast<size_t>(O * P));
  im2col_pack_signs(g, x.data(), xb.data());
  const int threads = num_threads();
  set_num_threads(1);
  const double t_gemm = median_call_us([&] { bgemm(O, P, K, wb.bits.data(), xb.data(), z.data(), P); }, samples, 10);
  const double t_gamma = median_call_us([&] {
    for (int64_t i = 0; i < O * P; ++i) y[static_cast<size_t>(i)] = gamma[static_cast<size_t>(i)] * static_cast<float>(z[static_cast<size_t>(i)]);
  }, samples, 10);
  const double t_ak = median_call_us([&] {
    xnor_beta_map(g, x.data(), beta.data());
    for (int64_t o = 0; o < O; ++o)
      for (int64_t p = 0; p < P; ++p)
        y[static_cast<size_t>(o * P + p)] = alpha[static_cast<size_t>(o)] * beta[static_cast<size_t>(p)] * static_cast<float>(z[static_cast<size_t>(o * P + p)]);
  }, samples, 10);
  set_num_threads(threads);
  ResultTable t({"step", "us", "% of the popcount GEMM"});
  t.add_row({std::string("popcount GEMM (bgemm, ") + bgemm_variant() + ")", fmt(t_gemm, 1), "100"});
  t.add_row({"XNOR-Net++: y = Gamma * z (Gamma materialised)", fmt(t_gamma, 1), fmt(100 * t_gamma / t_gemm, 1)});
  t.add_row({"XNOR-Net: K = A*k from the input, y = alpha*K*z", fmt(t_ak, 1), fmt(100 * t_ak / t_gemm, 1)});
  t.print("cost of the scale in one binary conv (c = " + std::to_string(c) + ", 3x3, " + std::to_string(hw) + "x" +
          std::to_string(hw) + ", 1 thread, median of " + std::to_string(samples) + ")");
}

}  // namespace

// --train: -1 (all) or a positive count; 0 would train on nothing.
static int64_t train_images(const ExampleArgs& args) {
  const int64_t n = args.get_int("--train", -1, 100000000);
  if (n == 0) args.fail("--train expects -1 (all) or a positive count, found 0");
  return n;
}

namespace {

// The kept model from its .xnor file on the whole test set: predictions compared with the float
// simulation's one by one (check_sim_equals_deploy: exit 1 on any difference), then both timed at
// batch 1 and 64 on one thread (medians, interleaved). One row of `dep`.
void deploy_row(BinaryResNet& model, const Dataset& test, const std::string& key, const std::string& label, bool quick,
                ResultTable& dep) {
  std::filesystem::create_directories("build");
  const std::string path = "build/xnorpp-resnet-" + key + ".xnor";
  const int64_t file_bytes = export_packed(model, {1, 28, 28}, path);
  const PackedBinaryNet packed(path);
  model.eval();
  const int64_t n = test.size();
  Tensor sim({n, 10});
  int64_t sim_errors = 0;
  double max_diff = 0;
  {
    NoGradGuard ng;
    for (int64_t b = 0; b < n; b += 1000) {
      const Dataset part = test.slice(b, std::min<int64_t>(1000, n - b));
      const Tensor l = model(Var(part.images)).value();
      sim_errors += count_errors(l, part.labels);
      std::copy(l.data(), l.data() + l.numel(), sim.data() + b * 10);
      const Tensor d = packed.forward(part.images);
      for (int64_t i = 0; i < l.numel(); ++i) max_diff = std::max(max_diff, static_cast<double>(std::fabs(d[i] - l[i])));
    }
  }
  const PackedEval pe = evaluate_packed(packed, test, &sim);
  // Timing: one thread, the same images for both; each round runs the simulation once and the
  // packed model once, and the medians over rounds are kept, so both see the same load. Batch 1
  // is wall time (a call is ~0.1 ms, rarely descheduled); batch 64 is this thread's CPU time (a
  // call lasts milliseconds, longer than a scheduler slice on a shared machine, so wall time
  // would mostly measure the other processes) — the method of examples/xnor.cpp's part 4.
  const int threads = num_threads();
  set_num_threads(1);
  double us[2][2];  // [batch 1, 64][simulation, packed], per image
  for (int bi = 0; bi < 2; ++bi) {
    const int64_t B = std::min<int64_t>(bi == 0 ? 1 : 64, n);
    const bool cpu = bi == 1;
    const Tensor x = test.slice(0, B).images;
    const int rounds = quick ? 5 : (bi == 0 ? 201 : 21);
    std::vector<double> t[2];
    for (int r = -1; r < rounds; ++r) {  // round −1 warms the caches and is not kept
      double t0 = now_us(cpu);
      {
        NoGradGuard ng;
        (void)model(Var(x));
      }
      double t1 = now_us(cpu);
      if (r >= 0) t[0].push_back((t1 - t0) / static_cast<double>(B));
      t0 = now_us(cpu);
      (void)packed.forward(x);
      t1 = now_us(cpu);
      if (r >= 0) t[1].push_back((t1 - t0) / static_cast<double>(B));
    }
    us[bi][0] = median_of(t[0]), us[bi][1] = median_of(t[1]);
  }
  set_num_threads(threads);
  dep.add_row({label, std::to_string(sim_errors), std::to_string(pe.errors), std::to_string(pe.disagreements),
               fmt(max_diff, 6), fmt(us[0][0], 1), fmt(us[0][1], 1), fmt(us[0][0] / us[0][1], 2), fmt(us[1][0], 1),
               fmt(us[1][1], 1), fmt(us[1][0] / us[1][1], 2), std::to_string(file_bytes)});
  std::printf("%s: packed from %s on %lld test images: %lld errors (simulation %lld), %lld predictions differ, max |logit "
              "difference| %.2g\n", label.c_str(), path.c_str(), static_cast<long long>(pe.count),
              static_cast<long long>(pe.errors), static_cast<long long>(sim_errors),
              static_cast<long long>(pe.disagreements), max_diff);
  std::fflush(stdout);
  check_sim_equals_deploy(path, pe.disagreements, pe.count, -1.0);  // predictions; the logit gap is printed
}

struct Trained {
  std::unique_ptr<BinaryResNet> model;
  double val_err = 0, secs = 0;
};

// One run: seed → network → training on data.train → validation error (eval mode). The test set
// is not touched here.
Trained train_one(const BinaryResNetConfig& cfg, const DataSplits& data, uint64_t seed, float lr, int epochs,
                  int64_t batch) {
  manual_seed(seed);
  Trained t;
  t.model = std::make_unique<BinaryResNet>(cfg);
  BinaryTrainOptions o;
  o.epochs = epochs;
  o.batch = batch;
  o.lr = lr;
  const auto t0 = WallClock::now();
  train_binary_resnet(*t.model, data.train, o, cfg.name() + " lr " + fmt(lr, 4) + " seed " + std::to_string(seed));
  t.secs = std::chrono::duration<double>(WallClock::now() - t0).count();
  t.val_err = evaluate(*t.model, data.val).error_rate();  // evaluate() switches to eval mode
  return t;
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("xnorpp",
                   "Reproduces XNOR-Net++ (Bulat & Tzimiropoulos 2019): a learned scale Gamma (4 shapes) vs\n"
                   "XNOR-Net's analytic alpha*K on a small binary ResNet (real shortcut, so the scale is not\n"
                   "divided out by a batch norm), at equal binary cost; learning rate chosen on the validation\n"
                   "split, test error once per kept model; the cost of the scale at the paper's conv shape; every\n"
                   "kept model run packed from a .xnor file (simulation = deployment, exit 1 on any difference).",
                   "per run (one model, one lr or seed, 50 000 images, 1 epoch, width 16, 1 thread) ~35 s of CPU, 45-90 s wall;\n"
                   "the default per set: 5 rows x (4 lrs + 2 more seeds) = 30 runs, ~17 min of CPU; each kept model is then run\n"
                   "packed from its .xnor file on the test set and timed (~10 s per model); --quick: ~6 s",
                   {"--data", "--epochs", "--val", "--json"});
  args.val_default(10000, "the learning rate of each row is chosen on them (--quick: 500)");
  args.option("--set", "mnist", "mnist or fashion-mnist");
  args.option("--train", "-1", "training images to load, before --val is held out (-1 = all 60000; --quick uses 2000)");
  args.option("--seeds", "3", "seeds per row: --seed, --seed+1, ... (--quick: 1)");
  args.option("--models", "xnor,case1,case2,case3,case4", "comma list of the rows to train (xnor = XNOR-Net's alpha*K)");
  args.option("--lrs", "0.001,0.003,0.01,0.03", "Adam learning rates tried on the first seed (cosine decay to 0); the one with "
              "the lowest validation error is kept (--quick: 0.003)");
  args.option("--batch", "64", "mini-batch size");
  args.option("--val-only", "0", "1: train the first seed at every --lrs value, print the validation errors and stop "
              "(for widening the grid without looking at the test set)");
  args.option("--width", "16", "channels of the stem and of every binary block");
  args.option("--blocks", "2", "binary residual blocks per stage (two stages: 14x14 and 7x7)");
  args.parse(argc, argv);
  const bool quick = args.quick();

  scale_cost(quick ? 64 : 256, quick ? 8 : 14, quick ? 5 : 15);

  DataSplits data;
  data = load_mnist_like(args.data_dir(), args.get("--set"), quick ? 2000 : train_images(args), quick ? 1000 : -1);  // errors: run_main, exit 1
  split_validation(data, quick && !args.given("--val") ? 500 : args.val(data.train.size()));
  if (data.val.size() == 0) args.fail("--val: the learning rate is chosen on the validation split; expected at least 1 image, found 0");
  const int epochs = args.epochs(1, 1);
  const int64_t nseeds = quick && !args.given("--seeds") ? 1 : args.get_int("--seeds", 1, 1000);
  const int64_t batch = args.get_int("--batch", 1, 100000);
  const std::vector<double> lrs = quick && !args.given("--lrs") ? std::vector<double>{0.003} : args.get_numbers("--lrs", 1e-6, 10.0);
  if (lrs.empty()) args.fail("--lrs: expected at least one learning rate, found none");
  const bool val_only = args.get_int("--val-only", 0, 1) == 1;
  BinaryResNetConfig base;
  base.width = args.get_int("--width", 1, 4096);
  base.blocks_per_stage = args.get_int("--blocks", 1, 64);
  if (quick && !args.given("--width")) base.width = 8;
  std::vector<bool> want(5, false);
  {
    const char* keys[] = {"xnor", "case1", "case2", "case3", "case4"};
    for (const std::string& item : args.get_list("--models")) {
      const auto* it = std::find(std::begin(keys), std::end(keys), item);
      if (it == std::end(keys)) args.fail("--models: unknown row '" + item + "' (expected some of xnor,case1,case2,case3,case4)");
      want[static_cast<size_t>(it - std::begin(keys))] = true;
    }
  }
  std::printf("\nBinaryResNet (width %lld, %d+%d binary blocks) on %s: %lld train / %lld validation / %lld test images, "
              "%d epochs, Adam lr in {%s} chosen on validation, batch %lld, seeds %llu..%llu\n",
              static_cast<long long>(base.width), base.blocks_per_stage, base.blocks_per_stage, data.name.c_str(),
              static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
              static_cast<long long>(data.test.size()), epochs, args.get("--lrs").c_str(), static_cast<long long>(batch),
              static_cast<unsigned long long>(args.seed()), static_cast<unsigned long long>(args.seed() + nseeds - 1));

  ResultTable dep({"model", "test errors (simulation)", "test errors (packed)", "predictions that differ",
                   "max |logit diff|", "batch 1: sim us", "packed us", "x", "batch 64: sim us/img (CPU)", "packed us/img (CPU)", "x ",
                   ".xnor bytes"});
  ResultTable table({"scale", "lr (val)", "val error per lr (seed 1)", "test error per seed", "mean +- sd",
                     "vs alpha*K (pp, means)", "learned scale values", "train s / run"});
  double xnor_err = -1;
  const auto t_all = WallClock::now();
  for (int k = 0; k <= 4; ++k) {
    if (quick && !args.given("--models") && (k == 2 || k == 3)) continue;  // CI: alpha*K, case 1 and case 4 only
    if (!want[static_cast<size_t>(k)]) continue;
    BinaryResNetConfig cfg = base;
    cfg.gamma_case = k;
    // 1. the learning rate, on validation, with the first seed
    Trained best;
    double best_lr = lrs[0], secs = 0;
    int runs = 0;
    std::string val_per_lr;
    for (double lr : lrs) {
      Trained t = train_one(cfg, data, args.seed(), static_cast<float>(lr), epochs, batch);
      secs += t.secs, ++runs;
      val_per_lr += (val_per_lr.empty() ? "" : " ") + fmt(lr, 4) + ":" + fmt(100 * t.val_err, 2);
      std::printf("%-18s lr %-6g seed %llu: validation error %s (%.0f s)\n", cfg.name().c_str(), lr,
                  static_cast<unsigned long long>(args.seed()), fmt_pct(t.val_err).c_str(), t.secs);
      std::fflush(stdout);
      if (!best.model || t.val_err < best.val_err) best = std::move(t), best_lr = lr;
    }
    if (val_only) continue;
    // 2. the other seeds at that lr; 3. the test set, once per kept model
    std::vector<double> errs;
    std::string per_seed;
    for (int64_t s = 0; s < nseeds; ++s) {
      const uint64_t seed = args.seed() + static_cast<uint64_t>(s);
      Trained t;
      if (s == 0) {
        t = std::move(best);
      } else {
        t = train_one(cfg, data, seed, static_cast<float>(best_lr), epochs, batch);
        secs += t.secs, ++runs;
      }
      const double err = evaluate(*t.model, data.test).error_rate();
      deploy_row(*t.model, data.test, std::to_string(k) + "-seed" + std::to_string(seed),
                 (k == 0 ? std::string("alpha*K") : cfg.name()) + " seed " + std::to_string(seed), quick, dep);
      errs.push_back(err);
      per_seed += (s ? " " : "") + fmt(100 * err, 2);
      std::printf("%-18s lr %-6g seed %llu: validation error %s, test error %s\n", cfg.name().c_str(), best_lr,
                  static_cast<unsigned long long>(seed), fmt_pct(t.val_err).c_str(), fmt_pct(err).c_str());
      std::fflush(stdout);
    }
    const MeanSd ms = mean_sd(errs);
    if (k == 0) xnor_err = ms.mean;
    table.add_row({k == 0 ? "XNOR-Net alpha*K (analytic)" : cfg.name(), fmt(best_lr, 4), val_per_lr, per_seed,
                   fmt(100 * ms.mean, 2) + " +- " + fmt(100 * ms.sd, 2),
                   xnor_err >= 0 ? fmt(100 * (ms.mean - xnor_err), 2) : "-",
                   k == 0 ? "0 (computed)" : std::to_string(BinaryResNet(cfg).learned_scale_count()),
                   fmt(secs / runs, 0)});
  }
  if (val_only) return 0;  // the validation errors are printed above; no test set was evaluated
  table.print("XNOR-Net++ on a binary ResNet, " + data.name + " (" + std::to_string(data.train.size()) + " images x " +
              std::to_string(epochs) + " epochs; test error in %)");
  dep.print("simulation = deployment: each kept model run from its packed .xnor file on the " +
            std::to_string(data.test.size()) + " test images; time per image, 1 thread, medians (kernels " +
            kernel_mode_name(kernel_mode()) + ", bgemm " + bgemm_variant() + ")");
  if (!args.json_path().empty()) dep.write_json(args.json_path() + ".deploy.json");
  std::printf("total training and evaluation time: %.0f s\n",
              std::chrono::duration<double>(WallClock::now() - t_all).count());
  if (!args.json_path().empty()) table.write_json(args.json_path());
  return 0;
}

// One error path (engine/cli.h): "xnorpp: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("xnorpp", argc, argv, run); }
