// examples/magnitude_pruning.cpp — reproduces Han, Pool, Tran, Dally 2015, "Learning both
// Weights and Connections for Efficient Neural Networks", Tables 1-2 on MNIST (LeNet-300-100
// 12x, LeNet-5 12x), the sensitivity analysis of Fig. 6, and the claim that the pruned layer
// really runs faster from CSR (Deep Compression §6 reports ~3x for pruned FC layers on CPU).
// Book: book/14-magnitude_pruning.md.
//
//   build/examples/magnitude_pruning --model lenet300         (about 2 min on 2 busy cores)
//   build/examples/magnitude_pruning --model lenet5           (about 25 min, + 20 min for its baseline once)
//   build/examples/magnitude_pruning --quick                  (seconds, for CI)
//   build/examples/magnitude_pruning --reg-compare            (Han Fig. 5, L1 vs L2: about 2 min per seed)
//
// Steps: (1) the trained dense baseline (layers/models/baseline.h), (2) sensitivity of each
// layer to pruning without retraining (table + SVG), (3) iterative prune → retrain with the
// per-layer keep ratios of Han's Table 1-2 (target-sparsity mode) or per-layer quality
// parameters (--quality), L2 weight decay and LR = 1/10 of the baseline's, (4) per-layer
// kept % beside the paper's, compression x, error, (5) the pruned model run from CSR on the
// test set, every Linear and Conv2d (same predictions as the masked float model, else exit 1), (6) CSR vs dense timing at fc1's shape,
// densities 100 % → 1 %, batch 1 and 64, warm and cold cache, and the break-even SVG.
// --regularization l1 retrains with L1 (add_l1_grad) instead of L2 weight decay; --reg-compare
// replaces steps 2-6 by Han's Fig. 5: L1 vs L2, pruned once with and without retraining, and
// L2 iterative, at kept fractions 50 % → 5 % (table + SVG; Han §3.1).
// Not here: Han's dropout adjustment (LeNets have no dropout; see adjusted_dropout_rate()).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "compression/coding/csr.h"
#include "compression/pruning/magnitude.h"
#include "compression/pruning/retrain.h"
#include "compression/pruning/sensitivity.h"
#include "compression/pruning/sparse_model.h"
#include "compression/deep_compression.h"  // compare_predictions
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/timing.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/linear.h"
#include "layers/models/baseline.h"
#include "layers/models/lenet.h"
#include "layers/sequential.h"

using namespace mgf;

namespace {

// ---- timing (engine/kernels/timing.h) ---------------------------------------------------------
// Warm cache: the same call repeated, so W stays in L1/L2 — a layer run over and over. Each
// sample repeats the call for about 0.3 ms only, well under a scheduler time slice, so on a
// shared machine most samples run undisturbed and the median is not the time of a preempted run.
double time_warm(const std::function<void()>& f, int samples) {
  return median_call_us(f, samples, calls_for(f, 300.0, 1000));
}

// Cold weights (median_cold_us): before each timed call, 64 MB (twice this machine's L3) are
// streamed through the caches, which evicts everything — dense W, the CSR arrays, x; then the
// input X is read once, because a layer's input has just been written by the layer before it.
// So W comes from DRAM — the situation of a network whose weights do not fit in cache, which is
// the case Han and Deep Compression argue about (AlexNet's FC layers) — and dense and sparse are
// treated alike. An empty input: the input stays evicted too (the harsher variant, also reported).

struct TimingRow {
  double density;
  int64_t batch;
  double dense_warm, sparse_warm, dense_cold, sparse_cold;  // sparse: the 16-bit-column CSR
  double sparse32_warm, sparse32_cold;                      // the same with int32 columns
  double dense_all_cold, sparse_all_cold;                   // input evicted as well (batch 1 only)
};

// CSR vs our dense AVX2 sgemm on W[R×K] (fc1's shape) at the given densities. Batch 1 also
// times every batch-1 variant (scalar, gather, loads, unrolled; 16-bit columns) warm, for the
// kernel table.
std::vector<TimingRow> csr_timing(int64_t R, int64_t K, const std::vector<double>& densities, bool quick,
                                  ResultTable& kernels_table) {
  Rng rng(7);
  Tensor w({R, K});
  for (int64_t i = 0; i < w.numel(); ++i) w[i] = rng.normal(0.0f, 0.05f);
  const int samples = quick ? 7 : 51;
  std::vector<TimingRow> rows;
  for (double d : densities) {
    Tensor m = sparsity_mask(w, d);
    Tensor wm = w.clone();
    for (int64_t i = 0; i < wm.numel(); ++i) wm[i] *= m[i];
    const CsrMatrix W = csr_from_tensor(wm);
    const CsrMatrix16 W16 = csr_narrow(W);
    for (int64_t N : {int64_t{1}, int64_t{64}}) {
      std::vector<float> X(static_cast<size_t>(N * K)), Y(static_cast<size_t>(N * R));
      for (auto& v : X) v = rng.normal();
      // Dense: Y[N×R] = X[N×K]·Wᵀ, the same call Linear makes (kernel mode as configured).
      auto dense = [&] {
        sgemm(Trans::N, Trans::T, N, R, K, 1.0f, X.data(), K, wm.data(), K, 0.0f, Y.data(), R);
      };
      auto sparse = [&] { csr_linear_forward(W16, nullptr, X.data(), N, Y.data()); };
      auto sparse32 = [&] { csr_linear_forward(W, nullptr, X.data(), N, Y.data()); };
      // Interleaved, so a burst of load from the other engineers hits both sides alike.
      TimingRow row{d, N, 0, 0, 0, 0, 0, 0, 0, 0};
      row.dense_warm = time_warm(dense, samples);
      row.sparse_warm = time_warm(sparse, samples);
      row.sparse32_warm = time_warm(sparse32, samples);
      row.dense_cold = median_cold_us(dense, samples, X);
      row.sparse_cold = median_cold_us(sparse, samples, X);
      row.sparse32_cold = median_cold_us(sparse32, samples, X);
      if (N == 1) {
        row.dense_all_cold = median_cold_us(dense, samples, {});
        row.sparse_all_cold = median_cold_us(sparse, samples, {});
      }
      rows.push_back(row);
      if (N == 1) {
        auto t = [&](void (*k)(const CsrMatrix16&, const float*, float*)) {
          return time_warm([&] { k(W16, X.data(), Y.data()); }, samples);
        };
        kernels_table.add_row({fmt_pct(d, 0), fmt(row.dense_warm, 2), fmt(t(csr_matvec_scalar), 2),
                               fmt(t(csr_matvec_avx2), 2), fmt(t(csr_matvec_avx2_loads), 2),
                               fmt(t(csr_matvec_avx2_unrolled), 2), fmt(row.sparse32_warm, 2)});
      }
    }
  }
  return rows;
}

// ---- the steps of run(), in order -----------------------------------------------------------------

// The regulariser of retraining (Han §3.1): L2 = weight decay, or L1 with weight decay 0.
// `chosen` is the one --regularization names; --reg-compare uses both.
struct Regularisers {
  Regulariser l1, l2, chosen;
};
Regularisers read_regularisers(const ExampleArgs& args) {
  Regularization reg_kind = Regularization::l2;
  try {
    reg_kind = parse_regularization(args.get("--regularization"));
  } catch (const std::invalid_argument&) {
    args.fail("--regularization expects l2 or l1, found '" + args.get("--regularization") + "'");
  }
  const double l1_strength = args.get_float_above("--l1", 0.0, 1.0);
  if (reg_kind == Regularization::l1 && args.given("--weight-decay") && args.get_float("--weight-decay") != 0.0)
    args.fail("--weight-decay is the L2 strength; with --regularization l1 expected it unset or 0, found " +
              args.get("--weight-decay"));
  const Regulariser l1_reg{Regularization::l1, static_cast<float>(l1_strength)};
  const Regulariser l2_reg{Regularization::l2, static_cast<float>(args.get_float("--weight-decay", 0.0, 1.0))};
  return {l1_reg, l2_reg, reg_kind == Regularization::l1 ? l1_reg : l2_reg};
}

// --reg-seeds (default: --seed): --reg-compare repeats every variant for each.
std::vector<uint64_t> read_seeds(const ExampleArgs& args) {
  std::vector<uint64_t> seeds;
  for (double v : args.get_numbers("--reg-seeds")) {
    if (!(v >= 0.0 && v == std::floor(v))) args.fail("--reg-seeds expects non-negative integers, found " + fmt(v, 3));
    seeds.push_back(static_cast<uint64_t>(v));
  }
  if (seeds.empty()) seeds.push_back(args.seed());
  return seeds;
}

// The retraining recipe, shared by the iterative run and --reg-compare.
struct RetrainRecipe {
  int epochs_per_step = 1;
  bool cosine = true;
  float lr = 0.01f;
};
RetrainRecipe read_retrain_recipe(const ExampleArgs& args, const std::string& model_name) {
  RetrainRecipe r;
  r.epochs_per_step = args.epochs(2, 1);
  if (args.get("--schedule") != "flat" && args.get("--schedule") != "cosine")
    args.fail("--schedule expects flat or cosine, found '" + args.get("--schedule") + "'");
  r.cosine = args.get("--schedule") == "cosine";
  // cosine rewinds each step to the baseline's peak rate (book/14: better than Han's flat
  // 1/10 on our cosine-trained baselines); flat is Han's setting.
  r.lr = args.get("--lr").empty() ? baseline_recipe(model_name, false).lr / (r.cosine ? 1.0f : 10.0f)
                                  : static_cast<float>(args.get_float_above("--lr", 0.0, 10.0));
  return r;
}

// Han Fig. 5: the table (mean ± sd over seeds) and two figures: every variant on a log error
// axis, and the retrained ones alone on a linear axis, where their differences of a tenth of a
// point can be seen. Same colour per variant. Writes --json if given.
void report_reg_compare(const ExampleArgs& args, const std::vector<std::vector<std::vector<double>>>& err,
                        const std::vector<double>& keeps, size_t n_seeds, double base_error,
                        const std::string& model_name, const RetrainRecipe& rr, const Regularisers& regs,
                        const std::string& default_path, const char* set_name) {
  const char* names[kRegVariants] = {"L1, pruned once, no retraining", "L2, pruned once, no retraining",
                                     "L1, pruned once + retrained", "L2, pruned once + retrained",
                                     "L2, iterative prune + retrain", "L1 to prune, L2 to retrain"};
  // the same, short enough for the figure's legend (150 px)
  const char* legend[kRegVariants] = {"L1, no retrain", "L2, no retrain", "L1 + retrain",
                                      "L2 + retrain",   "L2 iterative",   "L1, L2 retrain"};
  ResultTable t({"kept", names[0], names[1], names[2], names[3], names[4], names[5]});
  const std::string axis = std::string(set_name) + " error (%)";
  SvgPlot p("L1 vs L2 regularisation, " + model_name + " (Han Fig. 5)", "weights kept (%)", axis);
  SvgPlot zoom("L1 vs L2 after retraining, " + model_name, "weights kept (%)", axis);
  p.log_x = zoom.log_x = true;
  p.log_y = true;
  for (size_t k = 0; k < keeps.size(); ++k) {
    std::vector<std::string> row{fmt_pct(keeps[k], 0)};
    for (int v = 0; v < kRegVariants; ++v) {
      const MeanSd m = mean_sd(err[v][k]);
      row.push_back(n_seeds == 1 ? fmt_pct(m.mean) : fmt(100.0 * m.mean, 2) + " ± " + fmt(100.0 * m.sd, 2) + " %");
    }
    t.add_row(row);
  }
  for (int v = 0; v < kRegVariants; ++v) {
    std::vector<double> xs, ys;
    for (size_t k = 0; k < keeps.size(); ++k) {
      xs.push_back(100.0 * keeps[k]);
      ys.push_back(100.0 * mean_sd(err[v][k]).mean);
    }
    const bool retrained = v != kL1Pruned && v != kL2Pruned;
    p.line(legend[v], xs, ys, SvgPlot::palette(static_cast<size_t>(v)), !retrained);  // dashed: no retraining
    if (retrained) zoom.line(legend[v], xs, ys, SvgPlot::palette(static_cast<size_t>(v)));
  }
  p.hline(100.0 * base_error, "our dense baseline");
  zoom.hline(100.0 * base_error, "our dense baseline");
  t.print("Han Fig. 5 on " + model_name + ": " + set_name + " error" + (n_seeds > 1 ? " (mean ± sd over " + std::to_string(n_seeds) + " seeds)" : "") +
          "; every layer pruned to the kept fraction; fine-tune and each retraining " + std::to_string(rr.epochs_per_step) +
          " epoch(s), LR " + fmt(rr.lr, 4) + (rr.cosine ? " cosine to 0" : " flat") + "; " + regs.l1.name() + ", " + regs.l2.name() +
          "; row 100 % = after the fine-tune, unpruned");
  const std::string path = args.svg_path(default_path);
  // the zoom beside it: name.svg → name-retrained.svg
  const std::string zoom_path = path.substr(0, path.size() - (path.ends_with(".svg") ? 4 : 0)) + "-retrained.svg";
  p.write(path);
  zoom.write(zoom_path);
  std::printf("wrote %s and %s\n", path.c_str(), zoom_path.c_str());
  if (!args.json_path().empty()) t.write_json(args.json_path());
}

// Han Fig. 6: the table of error (on the selection set) with one layer pruned, and its figure.
void report_sensitivity(const std::vector<NamedParameter>& layers, const std::vector<double>& keeps,
                        const std::vector<SensitivityPoint>& pts, double base_error, const std::string& model_name,
                        const std::string& path, const char* set_name) {
  std::vector<std::string> cols{"kept"};
  for (auto& l : layers) cols.push_back(l.name);
  ResultTable sens(cols);
  for (size_t k = 0; k < keeps.size(); ++k) {
    std::vector<std::string> row{fmt_pct(keeps[k], 0)};
    for (size_t l = 0; l < layers.size(); ++l) row.push_back(fmt_pct(pts[l * keeps.size() + k].error));
    sens.add_row(row);
  }
  sens.print(std::string("Sensitivity: ") + set_name + " error with ONE layer pruned by magnitude, no retraining (Han Fig. 6)");
  write_sensitivity_svg(pts, base_error, "Pruning sensitivity, " + model_name + " (no retraining)", path);
  std::printf("wrote %s\n", path.c_str());
}

// The iterative run step by step, and the error-vs-compression figure beside Han's 12x point.
void report_iterations(const std::vector<PruneStepRow>& rows, const IterativePruning& ip, double base_error,
                       const std::string& model_name, const std::string& path, const char* set_name) {
  std::vector<double> curve_x{1.0}, curve_y{100.0 * base_error};
  const std::string e = std::string(set_name) + " error";
  ResultTable iters({"step", "kept", "compression", e + " after prune", e + " after retrain"});
  for (size_t s = 0; s < rows.size(); ++s) {
    const PruneStepRow& r = rows[s];
    const double ratio = static_cast<double>(r.total) / std::max<int64_t>(r.kept, 1);
    iters.add_row({r.pruned ? std::to_string(s + 1) : "final", fmt_pct(static_cast<double>(r.kept) / r.total),
                   fmt(ratio, 1) + "x", fmt_pct(r.error_pruned), fmt_pct(r.error_retrained)});
    curve_x.push_back(ratio);
    curve_y.push_back(100.0 * r.error_retrained);
  }
  iters.print("Iterative pruning: prune, then retrain the survivors (LR " + fmt(ip.lr, 4) + (ip.cosine ? " cosine to 0 per step" : " flat") + ", " +
              ip.reg.name() + ", " + std::to_string(ip.epochs_per_step) + " epoch(s) per step)");
  SvgPlot p("Error vs compression, " + model_name + " (iterative magnitude pruning)", "compression (x)",
            e + " (%)");
  p.log_x = true;
  p.line("ours, after retraining", curve_x, curve_y);
  // Han's point is a test error: drawn only on a test-error axis (a --val 0 run).
  if (std::string(set_name) == "test") p.points("Han 2015 (12x)", {12.0}, {model_name == "lenet5" ? 0.77 : 1.59});
  p.hline(100.0 * base_error, "our dense baseline");
  p.write(path);
  std::printf("wrote %s\n", path.c_str());
}

// Han Tables 1-2: weights kept per layer beside the paper's, and the summary rows.
void report_per_layer(const std::vector<NamedParameter>& layers, const std::vector<double>& paper_keep,
                      const std::vector<double>& quality_used, const EvalResult& base, const EvalResult& fin,
                      bool lenet5, ResultTable& summary) {
  ResultTable per_layer({"layer", "weights", "kept (ours)", "kept (Han)", "threshold / std (quality)"});
  for (size_t l = 0; l < layers.size(); ++l) {
    const Tensor& w = layers[l].param->var.value();
    per_layer.add_row({layers[l].name, std::to_string(w.numel()), fmt_pct(density(*layers[l].param), 1),
                       fmt_pct(paper_keep[l], 0), fmt(quality_used[l], 2)});
  }
  auto [k, n] = count_kept(layers);
  per_layer.add_row({"total", std::to_string(n), fmt_pct(static_cast<double>(k) / n, 1), "8 %", ""});
  per_layer.print("Weights kept per layer (Han Tables 1-2); quality = last pruning threshold / std of the dense layer");
  const double ratio = static_cast<double>(n) / k;
  summary.add_row({"test error, dense", fmt_pct(base.error_rate()), lenet5 ? "0.80 %" : "1.64 %"});
  summary.add_row({"test error, pruned + retrained", fmt_pct(fin.error_rate()), lenet5 ? "0.77 %" : "1.59 %"});
  summary.add_row({"weights kept", std::to_string(k) + " / " + std::to_string(n), lenet5 ? "36K / 431K" : "22K / 267K"});
  summary.add_row({"compression (weights)", fmt(ratio, 1) + "x", "12x"});
  summary.add_row({"error change", fmt(100.0 * (fin.error_rate() - base.error_rate()), 2) + " pp", lenet5 ? "-0.03 pp" : "-0.05 pp"});
}

// The pruned weights' CSR storage, 16-bit and int32 columns, beside dense float.
void add_csr_bytes_row(const std::vector<NamedParameter>& layers, ResultTable& summary) {
  int64_t csr_bytes = 0, csr16_bytes = 0;
  for (auto& l : layers) {
    const CsrMatrix c = csr_from_tensor(l.param->var.value());
    csr_bytes += c.storage_bytes();
    csr16_bytes += c.cols <= 65536 ? csr_narrow(c).storage_bytes() : c.storage_bytes();
  }
  summary.add_row({"CSR bytes of the weights, 16-bit / int32 columns, vs dense",
                   std::to_string(csr16_bytes) + " / " + std::to_string(csr_bytes) + " / " +
                       std::to_string(4 * count_kept(layers).total),
                   "-"});
}

// CSR vs dense sgemm at fc1's shape, densities 100 % -> 1 %: the batch-1 kernel table, the
// warm / cold table, batch 1 with the input evicted, and the break-even figure; the 8 % rows
// go into the summary.
void report_csr_timing(const ExampleArgs& args, const std::string& model_name, const std::string& fig_dir,
                       ResultTable& summary) {
  const bool quick = args.quick();
  const bool l5 = model_name == "lenet5";
  const int64_t R = l5 ? 500 : 300, K = l5 ? 800 : 784;
  const std::vector<double> dens = quick ? std::vector<double>{1.0, 0.08, 0.01}
                                         : std::vector<double>{1.0, 0.5, 0.3, 0.2, 0.15, 0.1, 0.08, 0.05, 0.03, 0.02, 0.01};
  // One thread for both sides: a fair per-core comparison (and the batch-1 kernels are serial).
  const int saved_threads = num_threads();
  set_num_threads(1);
  ResultTable kt({"density", "dense sgemm (us)", "CSR16 scalar", "CSR16 AVX2 gather", "CSR16 AVX2 loads",
                  "CSR16 AVX2 unrolled", "CSR32 AVX2 loads"});
  auto rows = csr_timing(R, K, dens, quick, kt);
  set_num_threads(saved_threads);
  std::string shape = std::to_string(R) + "x" + std::to_string(K);
  kt.print("Batch-1 CSR kernels, warm cache, fc1 " + shape +
           ", 1 thread, median us per call (CSR16: 16-bit columns, CSR32: int32 columns)");
  ResultTable tt({"density", "batch", "dense warm (us)", "CSR16 warm (us)", "speed-up warm", "dense cold (us)",
                  "CSR16 cold (us)", "speed-up cold", "CSR32 warm / cold (us)", "CSR32 speed-up warm / cold"});
  std::vector<double> xs, d1, s1, d64, s64, d1c, s1c, d64c, s64c;
  for (auto& r : rows) {
    tt.add_row({fmt_pct(r.density, 0), std::to_string(r.batch), fmt(r.dense_warm, 2), fmt(r.sparse_warm, 2),
                fmt(r.dense_warm / r.sparse_warm, 2) + "x", fmt(r.dense_cold, 2), fmt(r.sparse_cold, 2),
                fmt(r.dense_cold / r.sparse_cold, 2) + "x", fmt(r.sparse32_warm, 2) + " / " + fmt(r.sparse32_cold, 2),
                fmt(r.dense_warm / r.sparse32_warm, 2) + "x / " + fmt(r.dense_cold / r.sparse32_cold, 2) + "x"});
    if (r.batch == 1) {
      xs.push_back(100.0 * r.density);
      d1.push_back(r.dense_warm);
      s1.push_back(r.sparse_warm);
      d1c.push_back(r.dense_cold);
      s1c.push_back(r.sparse_cold);
    } else {
      d64.push_back(r.dense_warm);
      s64.push_back(r.sparse_warm);
      d64c.push_back(r.dense_cold);
      s64c.push_back(r.sparse_cold);
    }
    if (std::fabs(r.density - 0.08) < 1e-9)
      summary.add_row({"fc1 at 8 %, batch " + std::to_string(r.batch) + ": CSR16 speed-up warm / cold weights",
                       fmt(r.dense_warm / r.sparse_warm, 2) + "x / " + fmt(r.dense_cold / r.sparse_cold, 2) + "x",
                       r.batch == 1 ? "~3x (CPU, Deep Compression)" : "-"});
  }
  tt.print("CSR (kernel mode " + std::string(kernel_mode_name(kernel_mode())) + ") vs dense sgemm, fc1 " + shape +
           ", 1 thread, median us per call; cold = 64 MB swept through the caches before each call (weights from "
           "DRAM), then the input re-read");
  ResultTable ac({"density", "dense (us)", "CSR16 (us)", "speed-up"});
  for (auto& r : rows)
    if (r.batch == 1)
      ac.add_row({fmt_pct(r.density, 0), fmt(r.dense_all_cold, 2), fmt(r.sparse_all_cold, 2),
                  fmt(r.dense_all_cold / r.sparse_all_cold, 2) + "x"});
  ac.print("Batch 1 with the input evicted too (nothing re-read after the sweep; x's lines also come from DRAM)");
  SvgPlot p("Break-even: CSR vs dense, fc1 " + shape + " (1 thread)", "density (% of weights kept)",
            "time per call (us)");
  p.log_x = true;
  p.log_y = true;
  p.line("dense sgemm, batch 1, warm", xs, d1, "", true);
  p.line("CSR (16-bit columns), batch 1, warm", xs, s1);
  p.line("dense sgemm, batch 1, cold", xs, d1c, "", true);
  p.line("CSR, batch 1, cold", xs, s1c);
  p.line("dense sgemm, batch 64, warm", xs, d64, "", true);
  p.line("CSR, batch 64, warm", xs, s64);
  p.line("dense sgemm, batch 64, cold", xs, d64c, "", true);
  p.line("CSR, batch 64, cold", xs, s64c);
  const std::string path = args.svg_path(fig_dir + "/magnitude_pruning-breakeven.svg");
  p.write(path);
  std::printf("wrote %s\n", path.c_str());
}

// 5. The pruned net run from CSR (compression/pruning/sparse_model.h): every Linear and Conv2d
// from CSR (16-bit columns), the other layers as they are, on the whole test set against the
// masked float model. Adds its rows to the summary and returns the simulation = deployment check,
// run after the table is written (exit 1 on a mismatch). With `timing`, the deployed model
// against the dense float layers, layer by layer, batch 1 and 64, one thread.
std::function<void()> step_run_from_csr(Sequential& model, const Dataset& test, const std::string& model_name,
                                        bool timing, bool quick, ResultTable& summary) {
  SparseModel sm(model);
  int64_t differing = 0;
  double max_diff = 0.0;
  compare_predictions(sm, model, test, &differing, &max_diff);
  const int64_t sparse_errors = evaluate(sm, test).errors, float_errors = evaluate(model, test).errors;
  std::printf("CSR inference of the whole pruned %s: %lld errors (masked float model: %lld); %lld of %lld predictions "
              "differ, largest |logit difference| %.2e\n",
              model_name.c_str(), static_cast<long long>(sparse_errors), static_cast<long long>(float_errors),
              static_cast<long long>(differing), static_cast<long long>(test.size()), max_diff);
  summary.add_row({"errors from CSR inference (= masked float?)",
                   std::to_string(sparse_errors) + (differing == 0 ? " (same predictions)" : " (DIFFERENT)"), "-"});
  summary.add_row({"compression (stored CSR bytes, 16-bit columns, vs dense float32)",
                   std::to_string(sm.csr_bytes()) + " / " + std::to_string(sm.dense_bytes()) + " B = " +
                       fmt(static_cast<double>(sm.dense_bytes()) / sm.csr_bytes(), 1) + "x",
                   "-"});
  if (timing) {
    std::vector<SparseLayerTime> whole;
    sparse_timing_table(sm, model, {1, 28, 28}, quick ? 3 : 21, &whole)
        .print("The pruned " + model_name + " from CSR vs dense float layers, 1 thread, median us of CPU time per call");
    for (size_t i = 0; i < whole.size(); ++i)  // batch 1, then 64; the convs as deployed
      summary.add_row({"whole model from CSR, batch " + std::string(i == 0 ? "1" : "64") + ": speed-up vs dense (1 thread)",
                       fmt(whole[i].dense_us / whole[i].us(kDefaultSparseConvAlgo), 2) + "x",
                       "-"});
  }
  return [=, n = test.size()] { check_sim_equals_deploy("the CSR " + model_name, differing, n, max_diff); };
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("magnitude_pruning",
                   "Han et al. 2015: prune by magnitude, retrain, iterate; LeNet-300-100 and LeNet-5 on MNIST to 12x "
                   "at the baseline's error; sensitivity scan; the pruned layers run from CSR (timing vs dense).",
                   "LeNet-300-100 about 2 min, LeNet-5 about 25 min (plus about 20 min once to train its baseline) on 2 busy cores; "
                   "--timing-only 45 s; --reg-compare about 2 min per seed (LeNet-300-100); --quick a few seconds",
                   {"--data", "--epochs", "--val", "--json", "--svg"});
  args.val_default(kDefaultValidationImages,
                   "the sensitivity scan, every step's error and any choice use it; the test error is reported once, "
                   "in the final table (--val 0: the steps print test error instead)",
                   500);
  args.option("--model", "lenet300", "lenet300 | lenet5");
  args.option("--set", "mnist", "mnist | fashion-mnist");
  args.option("--keep", "", "final kept fraction per prunable layer, comma-separated (default: Han's Table 1-2)");
  args.option("--quality", "", "per-layer quality parameters q (threshold = q x std); replaces --keep");
  args.option("--steps", "", "prune → retrain iterations (default 5, quick 2)");
  args.option("--final-epochs", "", "extra retraining epochs after the last pruning step (default 4, quick 0)");
  args.option("--lr", "", "retraining learning rate (default: the baseline recipe's peak with --schedule cosine, "
                         "1/10 of it, as Han, with flat)");
  args.option("--weight-decay", "0.0005", "L2 during retraining (Han §3.1: L2 is better after retraining)");
  args.option("--regularization", "l2", "regulariser while retraining: l2 (weight decay, --weight-decay) | l1 "
                                        "(lambda x sign(w) added to the gradient, --l1; weight decay 0)");
  args.option("--l1", "0.0001", "L1 strength lambda (of lambda x sum |w|) with --regularization l1 and --reg-compare");
  args.option("--reg-compare", "false", "Han Fig. 5 instead of the iterative run: L1 vs L2, pruned once without / with "
                                        "retraining, and L2 iterative, at several kept fractions (table + SVG)");
  args.option("--reg-seeds", "", "seeds for --reg-compare, comma-separated (default: --seed); cells are mean ± sd");
  args.option("--schedule", "cosine", "retraining rate within each step: cosine (from --lr to 0 over the step) | flat");
  args.option("--timing", "true", "run the CSR vs dense timing table (--timing=false to skip)");
  args.option("--timing-only", "false", "only the CSR timing table and break-even figure (no data needed)");
  args.parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // tables and progress lines (stderr) interleave in order
  const bool quick = args.quick();
  const std::string model_name = args.get("--model");
  if (model_name != "lenet300" && model_name != "lenet5") args.fail("--model expects lenet300 or lenet5, found " + model_name);
  const Regularisers regs = read_regularisers(args);
  const std::vector<uint64_t> seeds = read_seeds(args);
  const std::string fig_dir = "build/figures";
  std::filesystem::create_directories(fig_dir);
  const auto t_start = std::chrono::steady_clock::now();

  std::printf("magnitude_pruning: model %s, kernels %s, threads %d\n", model_name.c_str(),
              kernel_mode_name(kernel_mode()), num_threads());

  ResultTable summary({"what", "ours", "paper"});
  std::function<void()> check_sim_deploy = [] {};  // run after the table is written, so it is kept
  if (!args.get_bool("--timing-only")) {
    // ---- 1. data and the trained dense baseline ---------------------------------------------
    DataSplits data;
    data = load_mnist_like(args.data_dir(), args.get("--set"), quick ? 2000 : -1, quick ? 1000 : -1);  // errors: run_main, exit 1
    split_validation(data, args.val(data.train.size()));  // held out from the (quick) slice
    auto net = trained_baseline(model_name, data, quick);
    Sequential& model = *net;
    // Every step below measures on `sel`: the validation split, or the test set with --val 0.
    const SelectionSet sel = selection_set(data);
    auto sel_error = [&] { return evaluate(model, sel.images).error_rate(); };
    const double base_sel = sel_error();
    std::printf("dense baseline: %s %s error\n", fmt_pct(base_sel).c_str(), sel.name);
    const EvalResult base = evaluate(model, data.test);  // printed once, in the final table

    auto layers = prunable_parameters(model);
    const bool lenet5 = model_name == "lenet5";
    // Han Tables 1-2: weights kept per layer.
    const std::vector<double> paper_keep = lenet5 ? std::vector<double>{0.66, 0.12, 0.08, 0.19}
                                                  : std::vector<double>{0.08, 0.09, 0.26};
    if (layers.size() != paper_keep.size()) {
      std::fprintf(stderr, "expected %zu prunable layers in %s, found %zu\n", paper_keep.size(), model_name.c_str(),
                   layers.size());
      return 1;
    }
    const RetrainRecipe rr = read_retrain_recipe(args, model_name);
    const std::string tag = model_name + "-" + args.get("--set");  // figure names: one per model and data set

    // ---- Han Fig. 5 (§3.1): L1 vs L2, without and with retraining; replaces steps 2-6 ----------
    if (args.get_bool("--reg-compare")) {
      const std::vector<double> keeps{1.0, 0.5, 0.25, 0.12, 0.08, 0.05};
      const auto err = reg_compare(model, data, baseline_recipe(model_name, quick).jitter, keeps, seeds, rr.lr, rr.cosine,
                                   rr.epochs_per_step, regs.l1, regs.l2);
      report_reg_compare(args, err, keeps, seeds.size(), base_sel, model_name, rr, regs,
                         fig_dir + "/magnitude_pruning-reg-" + tag + ".svg", sel.name);
      std::printf("wall time %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
      return 0;
    }

    // ---- 2. sensitivity: one layer at a time, no retraining (Han Fig. 6) ----------------------
    const std::vector<double> keeps = quick ? std::vector<double>{1.0, 0.2, 0.05}
                                            : std::vector<double>{1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01};
    const auto pts = sensitivity_scan(layers, keeps, sel_error);
    report_sensitivity(layers, keeps, pts, base_sel, model_name, fig_dir + "/magnitude_pruning-" + tag + "-sensitivity.svg",
                       sel.name);

    // ---- 3. iterative prune → retrain (compression/pruning/retrain.h) --------------------------
    IterativePruning ip;
    ip.final_keep = args.get("--keep").empty() ? paper_keep : args.get_numbers("--keep", 0.0, 1.0);
    ip.quality = args.get("--quality").empty() ? std::vector<double>{} : args.get_numbers("--quality", 0.0, 100.0);
    if (ip.final_keep.size() != layers.size()) args.fail("--keep expects one value per prunable layer");
    if (!ip.quality.empty() && ip.quality.size() != layers.size()) args.fail("--quality expects one value per prunable layer");
    ip.steps = static_cast<int>(args.given("--steps") ? args.get_int("--steps", 1, 100) : (quick ? 2 : 5));
    ip.final_epochs = static_cast<int>(args.given("--final-epochs") ? args.get_int("--final-epochs", 0, 1000) : (quick ? 0 : 4));
    ip.epochs_per_step = rr.epochs_per_step;
    ip.lr = rr.lr;
    ip.cosine = rr.cosine;
    ip.reg = regs.chosen;
    Rng loader_rng(args.seed());
    // The baseline's own augmentation (LeNet-5 trains on 2-pixel jitter) is kept while retraining.
    DataLoader loader(data.train, 64, true, loader_rng, baseline_recipe(model_name, quick).jitter);
    std::vector<double> quality_used;
    const auto rows = iterative_prune_retrain(model, layers, loader, ip, sel_error, quality_used);
    report_iterations(rows, ip, base_sel, model_name, fig_dir + "/magnitude_pruning-" + tag + "-error_vs_compression.svg",
                      sel.name);

    // ---- 4. per-layer result beside the paper ----------------------------------------------------
    const EvalResult fin = evaluate(model, data.test);
    if (data.val.size() > 0) {
      summary.add_row({"val error, dense", fmt_pct(base_sel), "-"});
      summary.add_row({"val error, pruned + retrained", fmt_pct(sel_error()), "-"});
    }
    report_per_layer(layers, paper_keep, quality_used, base, fin, lenet5, summary);

    // ---- 5. simulation = deployment: the pruned net from CSR ---------------------------------------
    check_sim_deploy = step_run_from_csr(model, data.test, model_name, args.get_bool("--timing"), quick, summary);
    add_csr_bytes_row(layers, summary);
  }

  // ---- 6. CSR vs dense timing at fc1's shape ---------------------------------------------------------
  if (args.get_bool("--timing") || args.get_bool("--timing-only"))
    report_csr_timing(args, model_name, fig_dir, summary);

  summary.print("magnitude_pruning (" + model_name + ", " + args.get("--set") + "), beside Han et al. 2015");
  if (!args.json_path().empty()) summary.write_json(args.json_path());
  std::printf("wall time %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  check_sim_deploy();
  return 0;
}

// One error path (engine/cli.h): "magnitude_pruning: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("magnitude_pruning", argc, argv, run); }
