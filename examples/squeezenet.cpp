// examples/squeezenet.cpp — SqueezeNet (Iandola et al. 2016) at small scale on Fashion-MNIST.
//
//   1. A Fire-net beside the plain 3×3 CNN of the same depth (layers/models/squeezenet.h):
//      parameter ratio and accuracy (the paper's 50× vs AlexNet, §4; floor here ≥ 8×, ≤ 1 pp).
//   2. The design space of §5: squeeze ratio SR (pct3x3 = 0.5) and pct3x3 (SR = 0.5), accuracy
//      vs size (figure; the paper's plateaus: SR ≈ 0.75, pct3x3 ≈ 50 %), and the simple bypass
//      of §6 vs none over 3 seeds.
//   3. SqueezeNet + Deep Compression (§4, Table 2): the Fire-net of step 1 pruned, weight-shared
//      and Huffman-coded by compression/deep_compression.h, written to a .mgfdc file and run
//      from it — every convolution, the Fire stages included, as a CompressedConv2d. The run
//      exits 1 when the file's predictions differ from the simulated model's.
// Every row: parameters, MACs per image, float bytes, latency at batch 1 and 64 (the thread
// count of --threads; the book's runs use 1) and validation / test error. Training: Adam,
// cosine decay to 0; epochs, rate and the Fire-net's pool placement are flags, chosen on the
// validation split (--experiments 0 trains the Fire-net alone for that search); no choice is
// made on the test set.
//
//   build/examples/squeezenet --quick
//   build/examples/squeezenet --threads 1 --train 20000    (the book's budget 1; see --help for its length)
//   build/examples/squeezenet --threads 1 --train 20000 --epochs 8 --lr 0.01 --sr none --pct none   (budget 2)
// Book: book/04-squeezenet.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compression/deep_compression.h"
#include "engine/checkpoint.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/timing.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/summary.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/fire.h"
#include "layers/models/squeezenet.h"

using namespace mgf;
using WallClock = std::chrono::steady_clock;

namespace {

struct Recipe {
  int epochs = 3;
  int64_t batch = 64;
  float lr = 3e-3f;
  int timing_repeats = 20;
};

struct Row {
  std::string experiment, model;
  int64_t params = 0, nonzero = 0, macs = 0, bytes = 0;
  double lat1_us = 0, lat64_us = 0, val_err = -1, test_err = -1, train_s = 0;
};

// Median forward time of `m` at batch `n` (eval, no graph), in microseconds.
double latency_us(Module& m, int64_t n, int repeats) {
  m.eval();
  NoGradGuard ng;
  Var x(Tensor({n, 1, 28, 28}, 0.5f));
  return median_call_us([&] { m.forward(x); }, std::max(3, n == 1 ? repeats : repeats / 4));
}

// Trains a fresh model from `make` with the fixed recipe and measures it.
Row train_row(const std::string& experiment, const std::string& name, const std::function<std::shared_ptr<Sequential>()>& make,
              const DataSplits& data, const Recipe& rc, uint64_t seed, std::shared_ptr<Sequential>* keep = nullptr) {
  manual_seed(seed);
  auto model = make();
  Rng rng(seed + 1000);
  DataLoader loader(data.train, rc.batch, true, rng);
  Adam opt(model->parameters(), AdamOptions{rc.lr});
  BatchSchedule sched(cosine_schedule(rc.lr, rc.epochs), loader.num_batches());
  TrainHooks hooks;
  hooks.schedule = &sched;
  sched.reset(opt);
  const auto t0 = WallClock::now();
  for (int e = 0; e < rc.epochs; ++e)
    train_epoch(*model, opt, loader, hooks, name + " seed " + std::to_string(seed) + " epoch " + std::to_string(e + 1));
  Row r;
  r.train_s = std::chrono::duration<double>(WallClock::now() - t0).count();
  r.experiment = experiment;
  r.model = name + (seed != 1 ? " (seed " + std::to_string(seed) + ")" : "");
  ModelSummary s = summarize(*model, {1, 1, 28, 28}, 1);
  r.params = s.params;
  r.nonzero = s.nonzero;
  r.macs = s.macs;
  r.bytes = s.bytes;
  r.lat1_us = latency_us(*model, 1, rc.timing_repeats);
  r.lat64_us = latency_us(*model, 64, rc.timing_repeats);
  r.val_err = evaluate(*model, data.val).error_rate();
  r.test_err = evaluate(*model, data.test).error_rate();
  std::printf("%-34s params %7lld  MACs %9lld  val %s  test %s  (%.0f s)\n", r.model.c_str(),
              static_cast<long long>(r.params), static_cast<long long>(r.macs), fmt_pct(r.val_err).c_str(),
              fmt_pct(r.test_err).c_str(), r.train_s);
  std::fflush(stdout);
  if (keep) *keep = model;
  return r;
}

ResultTable rows_table(const std::vector<Row>& rows) {
  ResultTable t({"experiment", "model", "params", "non-zero", "MACs/image", "bytes", "latency b1 (us)", "latency b64 (us)",
                 "val error", "test error", "train s"});
  for (const Row& r : rows)
    t.add_row({r.experiment, r.model, std::to_string(r.params), std::to_string(r.nonzero), std::to_string(r.macs),
               std::to_string(r.bytes), fmt(r.lat1_us, 1), fmt(r.lat64_us, 0), r.val_err < 0 ? "-" : fmt_pct(r.val_err),
               fmt_pct(r.test_err), fmt(r.train_s, 0)});
  return t;
}

// Output pixels per filter of a Fire-net layer (conv1 and the Fires before the pool at 14×14,
// the rest and conv10 at 7×7) — for the MACs the compressed net really does.
int64_t fire_net_pixels(const FireNetConfig& c, const std::string& param) {
  if (param.rfind("conv1.", 0) == 0) return 196;
  if (param.rfind("conv10.", 0) == 0) return 49;   // after the pool, wherever it is
  const int64_t k = std::stoll(param.substr(4, param.find('.') - 4));   // "fire<k>." → Fire index k − 2
  return k - 2 < c.pool_index() ? 196 : 49;
}

int64_t checkpoint_bytes(Module& m, const std::string& path) {
  save_checkpoint(path, m);
  const int64_t b = file_size_bytes(path);
  std::remove(path.c_str());
  return b;
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("squeezenet",
                   "SqueezeNet (Iandola et al. 2016) on Fashion-MNIST: (1) a Fire-net vs the plain 3x3 CNN of the same\n"
                   "depth, parameters and accuracy; (2) the squeeze ratio and pct3x3 sweeps of section 5 (figure) and\n"
                   "simple bypass vs none over --seeds seeds; (3) the Fire-net through Deep Compression (prune, share,\n"
                   "Huffman), written to a .mgfdc file and run from it, predictions checked against the simulation.",
                   "full run (--threads 1, 3 epochs per model, 15 models + Deep Compression): with --train 20000 (the\n"
                   "book's budget 1) 21 min on one shared core; the default, all 50 000 images, about 50 min; the book's\n"
                   "budget 2 (--train 20000 --epochs 8 --lr 0.01 --sr none --pct none, 9 models + DC) 37 min; --quick: ~20 s",
                   {"--data", "--epochs", "--val", "--json", "--svg"});
  args.val_default(10000, "every curve and the bypass comparison are read on them; test error is reported once per row "
                   "(--quick: 500)");
  args.option("--set", "fashion-mnist", "mnist or fashion-mnist");
  args.option("--train", "-1", "training images kept after --val is held out (-1 = all 50 000; --quick: 2000)");
  args.option("--lr", "0.003", "Adam learning rate, cosine decay to 0 (budget 1; the book chose 0.01 for budget 2 on validation)");
  args.option("--batch", "64", "mini-batch size");
  args.option("--seeds", "3", "seeds of experiment 1 (both nets) and of the bypass comparison (--quick: 1)");
  args.option("--sr", "0.125,0.25,0.5,0.75,1", "squeeze ratios of the SR sweep (pct3x3 = 0.5; none: no sweep)");
  args.option("--pct", "0.125,0.25,0.5,0.75,0.875", "pct3x3 values of the pct3x3 sweep (SR = 0.5; none: no sweep)");
  args.option("--experiments", "1,2,3", "which experiments to run; 0 alone trains only the Fire-net (seed --seed), for a "
              "search on validation (the Fire-net is always trained: 2 and 3 start from it; the plain CNN for 1 and 3)");
  args.option("--base-e", "32", "expand filters of the first Fire (incr_e is the same, freq 2, 4 Fires)");
  args.option("--pool-after", "-1", "Fires before the Fire-net's 2x2 max-pool (-1: half of them; 4: after the last, "
              "downsample late); the plain CNN keeps its pool after half");
  args.option("--keep", "0.6,0.5,0.5,0.3", "Deep Compression keep fractions: conv1+conv10, squeeze, expand1x1, expand3x3");
  args.option("--bits", "4", "Deep Compression bits per weight index, every conv (the paper: 6 for SqueezeNet)");
  args.option("--dc-epochs", "1", "retraining epochs per pruning step (3 steps) and of centroid training");
  args.option("--dc-floats", "f16", "how the .mgfdc (version 2) stores biases and codebooks: f16 (binary16; the model is "
              "rounded to it before the file is written, so file and memory agree) or f32");
  args.output("--file", "build/squeezenet.mgfdc", "the compressed Fire-net (.mgfdc) written and run in experiment 3");
  args.parse(argc, argv);
  const bool quick = args.quick();

  DataSplits data = load_mnist_like(args.data_dir(), args.get("--set"), quick ? 2500 : -1, quick ? 1000 : -1);
  split_validation(data, quick && !args.given("--val") ? 500 : args.val(data.train.size()));
  if (data.val.size() == 0) args.fail("--val: the curves are read on the validation split; expected at least 1 image, found 0");
  const int64_t ntrain = quick && !args.given("--train") ? 2000 : args.get_int("--train", -1, 10000000);
  if (ntrain > 0 && ntrain < data.train.size()) data.train = data.train.slice(0, ntrain);

  Recipe rc;
  rc.epochs = args.epochs(3, 1);
  rc.batch = args.get_int("--batch", 1, 100000);
  rc.lr = static_cast<float>(args.get_float_above("--lr", 0.0, 10.0));
  rc.timing_repeats = quick ? 5 : 30;
  const int64_t nseeds = quick && !args.given("--seeds") ? 1 : args.get_int("--seeds", 1, 100);
  std::vector<double> srs, pcts;
  if (args.get("--sr") != "none") srs = args.get_numbers("--sr", 0.01, 4.0);
  if (args.get("--pct") != "none") pcts = args.get_numbers("--pct", 0.01, 0.99);
  if (quick && !args.given("--sr")) srs = {0.125, 0.5};
  if (quick && !args.given("--pct")) pcts = {0.25, 0.5};
  std::vector<bool> want(4, false);
  for (double e : args.get_numbers("--experiments", 0, 3)) {
    if (e != static_cast<int>(e)) args.fail("--experiments: expected some of 0,1,2,3, found " + fmt(e, 3));
    want[static_cast<size_t>(e)] = true;
  }
  const std::vector<double> keep = args.get_numbers("--keep", 0.01, 1.0);
  if (args.get("--dc-floats") != "f16" && args.get("--dc-floats") != "f32")
    args.fail("--dc-floats: expected f16 or f32, found '" + args.get("--dc-floats") + "'");
  if (keep.size() != 4) args.fail("--keep: expected 4 fractions (conv1+conv10, squeeze, expand1x1, expand3x3), found " +
                                  std::to_string(keep.size()));
  FireNetConfig base;
  base.base_e = base.incr_e = args.get_int("--base-e", 2, 4096);
  base.stem = base.base_e;
  base.pool_after = args.get_int("--pool-after", -1, base.fires);
  const uint64_t seed = args.seed() == 0 ? 1 : args.seed();

  std::printf("\n%s: %lld train / %lld validation / %lld test images; Adam lr %g cosine, %d epochs, batch %lld; "
              "Fire-net base_e = incr_e = %lld, freq 2, 4 Fires, pool after %lld\n\n",
              data.name.c_str(), static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
              static_cast<long long>(data.test.size()), rc.lr, rc.epochs, static_cast<long long>(rc.batch),
              static_cast<long long>(base.base_e), static_cast<long long>(base.pool_index()));
  const auto t_all = WallClock::now();
  std::vector<Row> all;

  // ---- 1. Fire-net vs plain CNN, over --seeds seeds -----------------------------------------
  // The plain CNN is built from the same widths but keeps the default pool placement: it is
  // the fixed reference, the Fire-net the design searched on validation (--pool-after, --lr,
  // --epochs; the book lists the search).
  FireNetConfig plain_cfg = base;
  plain_cfg.pool_after = -1;
  const bool need_plain = want[1] || want[3];
  const int64_t seeds1 = want[1] ? nseeds : 1;
  std::shared_ptr<Sequential> fire_model, plain_model;
  std::vector<Row> plains, fires;   // seed, seed + 1, ...
  for (int64_t k = 0; k < seeds1; ++k) {
    const uint64_t s = seed + static_cast<uint64_t>(k);
    if (need_plain)
      plains.push_back(train_row("1", "plain 3x3 CNN", [&] { return make_plain_cnn(plain_cfg); }, data, rc, s,
                                 k == 0 ? &plain_model : nullptr));
    fires.push_back(train_row("1", base.name(), [&] { return make_fire_net(base); }, data, rc, s, k == 0 ? &fire_model : nullptr));
  }
  const Row fire = fires.front();
  const Row plain = need_plain ? plains.front() : Row{};
  for (const Row& r : plains) all.push_back(r);
  for (const Row& r : fires) all.push_back(r);
  if (want[1]) {
    auto col = [](const std::vector<Row>& rows, bool test) {
      std::vector<double> v;
      for (const Row& r : rows) v.push_back(100 * (test ? r.test_err : r.val_err));
      return mean_sd(v);
    };
    const MeanSd pv = col(plains, false), pt = col(plains, true), fv = col(fires, false), ft = col(fires, true);
    const double param_ratio = static_cast<double>(plain.params) / static_cast<double>(fire.params);
    const double acc_gap_pp = ft.mean - pt.mean;
    ResultTable t({"model", "params", "MACs/image", "latency b1 (us)", "latency b64 (us)", "seeds", "val error (mean +- sd)",
                   "test error (mean +- sd)"});
    auto ms = [](const MeanSd& m) { return fmt(m.mean) + " ± " + fmt(m.sd) + " %"; };
    t.add_row({plain.model, std::to_string(plain.params), std::to_string(plain.macs), fmt(plain.lat1_us, 1),
               fmt(plain.lat64_us, 0), std::to_string(seeds1), ms(pv), ms(pt)});
    t.add_row({fire.model, std::to_string(fire.params), std::to_string(fire.macs), fmt(fire.lat1_us, 1), fmt(fire.lat64_us, 0),
               std::to_string(seeds1), ms(fv), ms(ft)});
    t.add_row({"paper: AlexNet -> SqueezeNet", "240 MB -> 4.8 MB (50x)", "", "", "", "1", "", "top-1 57.2 -> 57.5 %"});
    t.print("1. Fire-net vs plain CNN of the same depth");
    std::printf("parameter ratio %.1fx (floor >= 8x: %s); mean test error gap %+.2f pp, validation %+.2f pp (floor <= 1 pp: %s)\n",
                param_ratio, param_ratio >= 8 ? "met" : "MISSED", acc_gap_pp, fv.mean - pv.mean,
                acc_gap_pp <= 1.0 ? "met" : "MISSED");
  }

  // ---- 2. design space: SR, pct3x3, bypass ---------------------------------------------------
  if (want[2]) {
    std::vector<double> sr_kb, sr_acc, pct_kb, pct_acc;
    for (double sr : srs) {
      FireNetConfig c = base;
      c.sr = sr;
      Row r = (sr == base.sr && c.pct3x3 == base.pct3x3) ? fire
                                                          : train_row("2 SR", c.name(), [&] { return make_fire_net(c); }, data, rc, seed);
      if (!(sr == base.sr)) all.push_back(r);
      sr_kb.push_back(r.bytes / 1024.0);
      sr_acc.push_back(100 * (1 - r.val_err));
    }
    for (double pct : pcts) {
      FireNetConfig c = base;
      c.sr = 0.5;
      c.pct3x3 = pct;
      // SR 0.5, pct 0.5 is already in the SR sweep when 0.5 is one of its values
      auto it = std::find(srs.begin(), srs.end(), 0.5);
      Row r;
      if (pct == 0.5 && it != srs.end()) {
        r.bytes = static_cast<int64_t>(sr_kb[static_cast<size_t>(it - srs.begin())] * 1024.0);
        r.val_err = 1 - sr_acc[static_cast<size_t>(it - srs.begin())] / 100;
      } else {
        r = train_row("2 pct3x3", c.name(), [&] { return make_fire_net(c); }, data, rc, seed);
        all.push_back(r);
      }
      pct_kb.push_back(r.bytes / 1024.0);
      pct_acc.push_back(100 * (1 - r.val_err));
    }
    // simple bypass vs none, same SR 0.125 net, seeds seed .. seed + nseeds − 1
    std::vector<double> err_none, err_bypass, val_none, val_bypass;
    for (int64_t k = 0; k < nseeds; ++k) {
      const uint64_t s = seed + static_cast<uint64_t>(k);
      FireNetConfig c = base;
      const bool have = static_cast<size_t>(k) < fires.size();   // experiment 1's runs of the same seed
      Row none = have ? fires[static_cast<size_t>(k)] : train_row("2 bypass", c.name(), [&] { return make_fire_net(c); }, data, rc, s);
      c.bypass = true;
      Row byp = train_row("2 bypass", c.name(), [&] { return make_fire_net(c); }, data, rc, s);
      if (!have) all.push_back(none);
      all.push_back(byp);
      err_none.push_back(100 * none.test_err), err_bypass.push_back(100 * byp.test_err);
      val_none.push_back(100 * none.val_err), val_bypass.push_back(100 * byp.val_err);
    }
    if (!srs.empty()) {
      ResultTable t({"SR sweep (pct3x3 0.5)", "KB", "val accuracy"});
      for (size_t i = 0; i < srs.size(); ++i) t.add_row({fmt(srs[i], 3), fmt(sr_kb[i], 1), fmt(sr_acc[i], 2) + " %"});
      t.print("2a. squeeze ratio (paper, Fig. 3a: top-5 80.3 % at SR 0.125, 4.8 MB -> plateau 86.0 % at SR 0.75, 19 MB)");
    }
    if (!pcts.empty()) {
      ResultTable p({"pct3x3 sweep (SR 0.5)", "KB", "val accuracy"});
      for (size_t i = 0; i < pcts.size(); ++i) p.add_row({fmt(pcts[i], 3), fmt(pct_kb[i], 1), fmt(pct_acc[i], 2) + " %"});
      p.print("2b. share of 3x3 filters (paper, Fig. 3b: plateau 85.6 % top-5 at 50 % 3x3)");
    }
    const MeanSd vn = mean_sd(val_none), vb = mean_sd(val_bypass), tn = mean_sd(err_none), tb = mean_sd(err_bypass);
    ResultTable b({"Fire-net", "seeds", "val error (mean +- sd)", "test error (mean +- sd)"});
    b.add_row({"no bypass", std::to_string(nseeds), fmt(vn.mean) + " ± " + fmt(vn.sd) + " %", fmt(tn.mean) + " ± " + fmt(tn.sd) + " %"});
    b.add_row({"simple bypass", std::to_string(nseeds), fmt(vb.mean) + " ± " + fmt(vb.sd) + " %", fmt(tb.mean) + " ± " + fmt(tb.sd) + " %"});
    b.add_row({"paper (Table 3)", "1", "", "top-1 error 42.5 -> 39.6 %"});
    b.print("2c. simple bypass vs none");
    std::printf("bypass >= none in mean test accuracy: %s (%+.2f pp)\n", tb.mean <= tn.mean ? "met" : "MISSED", tn.mean - tb.mean);

    if (!srs.empty() && !pcts.empty()) {   // the figure needs both sweeps
      SvgPlot fig("SqueezeNet design space on " + data.name, "model size (KB of float parameters)", "validation accuracy (%)");
      fig.line("SR " + fmt(srs.front(), 3) + " .. " + fmt(srs.back(), 3) + " (pct3x3 0.5)", sr_kb, sr_acc);
      fig.line("pct3x3 " + fmt(pcts.front(), 3) + " .. " + fmt(pcts.back(), 3) + " (SR 0.5)", pct_kb, pct_acc);
      if (need_plain) fig.points("plain 3x3 CNN", {plain.bytes / 1024.0}, {100 * (1 - plain.val_err)}, "", 4);
      fig.log_x = true;
      const std::string svg = args.svg_path(quick ? "build/squeezenet-quick.svg" : "book/figures/squeezenet-" + data.name + ".svg");
      fig.write(svg);
      std::printf("figure: %s\n", svg.c_str());
    }
  }

  // ---- 3. SqueezeNet + Deep Compression -------------------------------------------------------
  if (want[3]) {
    DeepCompressionConfig cfg;
    const int dc_epochs = static_cast<int>(args.get_int("--dc-epochs", 1, 100));
    for (auto& np : fire_model->named_parameters()) {
      if (np.param->var.value().ndim() != 4) continue;
      const std::string& n = np.name;
      const double k = n.find(".squeeze.") != std::string::npos     ? keep[1]
                       : n.find(".expand1x1.") != std::string::npos ? keep[2]
                       : n.find(".expand3x3.") != std::string::npos ? keep[3]
                                                                    : keep[0];
      if (k < 1.0) cfg.keep.push_back({n, k});
    }
    cfg.prune_steps = 3;
    cfg.prune_epochs = dc_epochs;
    cfg.prune_lr = 0.01f;   // SGD momentum 0.9, cosine per step (the pipeline's retraining)
    cfg.conv_bits = cfg.fc_bits = static_cast<int>(args.get_int("--bits", 1, 8));
    cfg.quant_epochs = dc_epochs;
    cfg.batch = rc.batch;
    cfg.file = args.get("--file");
    cfg.arch = "firenet";
    cfg.coding.version = 2;   // the lean per-tensor record (compression/deep_compression.h)
    cfg.coding.half_floats = args.get("--dc-floats") == "f16";
    cfg.seed = seed;
    const double fire_val = fire.val_err, fire_test = fire.test_err;
    DeepCompressionResult r = compress_and_measure(*fire_model, [&] { return make_fire_net(base); }, data, cfg);
    const CompressedModel from_file = load_compressed(cfg.file);
    CompressedRunner runner(from_file, make_fire_net(base));
    // The same tensors in the other layouts: version 1 (f32, the original record) and version 2
    // with f32 floats — the bytes the lean record and the binary16 floats each save.
    auto bytes_as = [&](uint32_t version, bool half) {
      CompressedModel cm = from_file;
      cm.version = version;
      for (auto& t : cm.tensors) t.half = half;
      return static_cast<int64_t>(serialize_compressed(cm, true).size());
    };
    const int64_t bytes_v1 = bytes_as(1, false), bytes_v2_f32 = bytes_as(2, false);
    check_sim_equals_deploy("Fire-net from " + cfg.file, r.prediction_mismatches, data.test.size(), r.max_logit_diff);
    // the work the file's model does: the kept weights of each conv times its output pixels
    int64_t nnz = 0, sparse_macs = 0, w4 = 0;
    for (auto& np : fire_model->named_parameters()) {
      if (np.param->var.value().ndim() != 4) continue;
      w4 += np.param->var.value().numel();
      int64_t kept = 0;
      const Tensor& w = np.param->var.value();
      for (int64_t i = 0; i < w.numel(); ++i) kept += w[i] != 0.0f;
      nnz += kept;
      sparse_macs += kept * fire_net_pixels(base, np.name);
    }
    Row dc;
    dc.experiment = "3";
    dc.model = "Fire-net + Deep Compression (.mgfdc)";
    dc.params = fire.params;
    dc.nonzero = nnz + (fire.params - w4);   // kept weights + every bias
    dc.macs = sparse_macs;
    dc.bytes = r.file_bytes;
    dc.lat1_us = latency_us(runner, 1, rc.timing_repeats);
    dc.lat64_us = latency_us(runner, 64, rc.timing_repeats);
    dc.val_err = r.val_deployed;
    dc.test_err = r.error_deployed;
    all.push_back(dc);
    const int64_t fire_ckpt = r.float_checkpoint_bytes, plain_ckpt = checkpoint_bytes(*plain_model, cfg.file + ".plain.mgf");
    const double ratio = static_cast<double>(fire_ckpt) / static_cast<double>(r.file_bytes);
    const double combined = static_cast<double>(plain_ckpt) / static_cast<double>(r.file_bytes);
    const double loss_pp = 100 * (r.error_deployed - fire_test);
    ResultTable t({"stage", "bytes", "vs float Fire-net", "vs plain CNN", "val error", "test error"});
    t.add_row({"plain 3x3 CNN (float checkpoint)", std::to_string(plain_ckpt), "", "1.0x", fmt_pct(plain.val_err), fmt_pct(plain.test_err)});
    t.add_row({"Fire-net (float checkpoint)", std::to_string(fire_ckpt), "1.0x",
               fmt(static_cast<double>(plain_ckpt) / static_cast<double>(fire_ckpt), 1) + "x", fmt_pct(fire_val), fmt_pct(fire_test)});
    t.add_row({"pruned (float)", "", "", "", fmt_pct(r.val_pruned), fmt_pct(r.error_pruned)});
    t.add_row({std::string("pruned + shared") + (cfg.coding.half_floats ? ", rounded to f16" : "") + ", fixed-width (P+Q file)", std::to_string(r.pq_file_bytes),
               fmt(static_cast<double>(fire_ckpt) / static_cast<double>(r.pq_file_bytes), 1) + "x",
               fmt(static_cast<double>(plain_ckpt) / static_cast<double>(r.pq_file_bytes), 1) + "x", fmt_pct(r.val_quantized),
               fmt_pct(r.error_quantized)});
    auto vs = [](int64_t ref, int64_t b) { return fmt(static_cast<double>(ref) / static_cast<double>(b), 1) + "x"; };
    t.add_row({"+ Huffman, file version 1 (f32)", std::to_string(bytes_v1), vs(fire_ckpt, bytes_v1), vs(plain_ckpt, bytes_v1), "", ""});
    if (cfg.coding.half_floats)
      t.add_row({"+ Huffman, file version 2 (f32)", std::to_string(bytes_v2_f32), vs(fire_ckpt, bytes_v2_f32), vs(plain_ckpt, bytes_v2_f32),
                 "", ""});
    t.add_row({std::string("+ Huffman, file version 2 (") + (cfg.coding.half_floats ? "f16" : "f32") + ", run from it)",
               std::to_string(r.file_bytes), fmt(ratio, 1) + "x", fmt(combined, 1) + "x", fmt_pct(r.val_deployed),
               fmt_pct(r.error_deployed)});
    t.add_row({"paper: SqueezeNet + DC 6-bit vs AlexNet", "0.47 MB", "10.2x (4.8 MB)", "510x (240 MB)", "", "57.5 % top-1"});
    t.print("3. SqueezeNet + Deep Compression (" + std::to_string(cfg.conv_bits) + "-bit codes, " + std::to_string(nnz) +
            " weights kept)");
    std::printf("file runs every conv compressed: %lld CompressedConv2d, %lld re-inflated; %lld of %lld test predictions "
                "differ from the simulation, max logit diff %.2e\n",
                static_cast<long long>(runner.compressed_conv_layers()), static_cast<long long>(runner.reinflated_layers()),
                static_cast<long long>(r.prediction_mismatches), static_cast<long long>(data.test.size()), r.max_logit_diff);
    {  // where the bytes go: at 8 610 parameters the fixed per-tensor costs weigh as much as the streams
      int64_t idx = 0, gaps = 0, books = 0, tables = 0, raw = 0, heads = r.layout.header_bytes;
      for (const TensorLayout& L : r.layout.tensors) {
        idx += L.code_bytes, gaps += L.gap_bytes, books += L.codebook_bytes;
        tables += L.code_table_bytes + L.gap_table_bytes, raw += L.raw_bytes, heads += L.header_bytes;
      }
      std::printf("where the %lld bytes go: weight-index bits %lld, gap bits %lld, codebooks %lld, Huffman tables %lld, "
                  "raw biases %lld, names/shapes/headers %lld; the float checkpoint's weights alone vs the two streams: %.1fx\n",
                  static_cast<long long>(r.file_bytes), static_cast<long long>(idx), static_cast<long long>(gaps),
                  static_cast<long long>(books), static_cast<long long>(tables), static_cast<long long>(raw),
                  static_cast<long long>(heads), 4.0 * static_cast<double>(w4) /
                                                     static_cast<double>(idx + gaps));
    }
    std::printf("file %.1fx smaller than the float Fire-net (floor >= 8x: %s), test error %+.2f pp (floor <= +0.5 pp: %s); "
                "combined vs the plain CNN %.0fx (paper vs AlexNet: 510x)\n",
                ratio, ratio >= 8 ? "met" : "MISSED", loss_pp, loss_pp <= 0.5 ? "met" : "MISSED", combined);
  }

  ResultTable t = rows_table(all);
  t.print("every model: parameters, work, time, accuracy (latency: median forward, " + std::to_string(num_threads()) +
          " thread(s))");
  std::printf("total wall time %.0f s\n", std::chrono::duration<double>(WallClock::now() - t_all).count());
  if (!args.json_path().empty()) t.write_json(args.json_path());
  return 0;
}

int main(int argc, char** argv) { return run_main("squeezenet", argc, argv, run); }
