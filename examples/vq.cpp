// examples/vq.cpp — reproduces the shape of Gong, Liu, Yang, Bourdev 2014 ("Compressing Deep
// Convolutional Networks using Vector Quantization"), Fig. 2: classification error against
// compression rate of the dense layers, for binarization, scalar k-means, product quantization,
// residual quantization and truncated SVD at equal size, on a trained net WITHOUT retraining.
// Book: book/22-vq.md.
//
//   build/examples/vq --model lenet300 --set mnist        (full run: ~2 min on 2 busy cores)
//   build/examples/vq --model lenet5 --set fashion-mnist  (full run: ~4 min)
//   build/examples/vq --quick                             (seconds, for CI)
//
// Steps: (1) the trained dense baseline (layers/models/baseline.h, trained on 50 000 images with
// the last 10 000 held out for validation); (2) every method and setting quantizes the dense
// layers (LeNet-300-100: fc1 + fc2; LeNet-5: fc1) from the same trained weights; the simulated
// model (float weights Ŵ) is evaluated on validation and test; (3) the quantized model is written
// to a .mgfvq file, read back and run FROM IT (VqLinear: the lookup-table kernel) on the test set,
// and must give the simulated model's predictions (else exit 1); (4) truncated SVD of the same
// layers at the same bytes; (5) the choices (which PQ setting in the 16-24x window) are made on
// validation, test errors of the chosen settings reported once; (6) fc1's timing at batch 1 and
// 64: dense sgemm against the lookup-table kernels, one thread.
// Not here: ImageNet/AlexNet (the paper's setting), retraining.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>

#include "compression/lowrank/svd.h"
#include "compression/quantization/vq.h"
#include "compression/quantization/vq_file.h"
#include "compression/quantization/vq_lut.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/timing.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/linear.h"
#include "layers/models/baseline.h"

using namespace mgf;

namespace {

// One quantization setting of every target layer.
struct Setting {
  VqMethod method;
  int bits = 0;
  int64_t d = 1;       // segment width (0 = the whole row, d = n: the paper's RQ)
  int stages = 1;
  std::string name() const {
    switch (method) {
      case VqMethod::binary: return "binary";
      case VqMethod::scalar: return "kmeans k=" + std::to_string(1 << bits);
      case VqMethod::product: return "PQ d=" + std::to_string(d) + " k=" + std::to_string(1 << bits);
      case VqMethod::residual:
        return "RQ " + (d == 0 ? std::string("rows") : "d=" + std::to_string(d)) + " k=" + std::to_string(1 << bits) + " t=" + std::to_string(stages);
    }
    return "?";
  }
  std::string series() const {   // the figure's line
    switch (method) {
      case VqMethod::binary: return "binarization";
      case VqMethod::scalar: return "k-means (scalar)";
      case VqMethod::product: return "PQ, d = " + std::to_string(d);
      case VqMethod::residual: return d == 0 ? "RQ (rows), k = " + std::to_string(1 << bits) : "RQ, d = " + std::to_string(d) + ", k = " + std::to_string(1 << bits);
    }
    return "?";
  }
};

std::vector<Setting> settings(bool quick) {
  std::vector<Setting> s = {{VqMethod::binary, 1, 1, 1}};
  for (int b : quick ? std::vector<int>{2, 4} : std::vector<int>{1, 2, 3, 4, 5, 6, 8}) s.push_back({VqMethod::scalar, b, 1, 1});
  for (int64_t d : quick ? std::vector<int64_t>{2, 4} : std::vector<int64_t>{2, 4, 8, 16})
    for (int b : quick ? std::vector<int>{2, 4} : std::vector<int>{1, 2, 3, 4, 5, 6})
      s.push_back({VqMethod::product, b, d, 1});
  if (quick) {
    s.push_back({VqMethod::residual, 2, 4, 2});
  } else {
    for (int t : {1, 2, 4}) s.push_back({VqMethod::residual, 4, 0, t});   // the paper's RQ: whole rows
    for (int t : {2, 3}) s.push_back({VqMethod::residual, 2, 4, t});     // RQ on PQ's segments
  }
  return s;
}

VqMatrix quantize(const Setting& st, const Tensor& W, Rng& rng) {
  const int64_t m = W.dim(0), n = W.dim(1);
  switch (st.method) {
    case VqMethod::binary: return vq_binarize(W.data(), m, n);
    case VqMethod::scalar: return vq_scalar(W.data(), m, n, st.bits, rng);
    case VqMethod::product: return vq_product(W.data(), m, n, st.bits, std::min(st.d, n), rng);
    case VqMethod::residual: return vq_residual(W.data(), m, n, st.bits, st.d == 0 ? n : std::min(st.d, n), st.stages, rng);
  }
  throw std::logic_error("quantize: unknown method");
}

// Logits of a model on a dataset, in batches of 500, no graph.
Tensor logits_of(Module& m, const Dataset& d) {
  NoGradGuard ng;
  m.eval();
  const int64_t B = 500;
  Tensor out;
  std::vector<float> all;
  int64_t C = 0;
  for (int64_t s = 0; s < d.size(); s += B) {
    Tensor y = m.forward(Var(d.slice(s, std::min(B, d.size() - s)).images)).value();
    C = y.dim(1);
    all.insert(all.end(), y.data(), y.data() + y.numel());
  }
  return Tensor({d.size(), C}, all);
}

// Truncated SVD of W [m, n] to rank r: W_r = U_r diag(s_r) V_rᵀ (compression/lowrank/svd.h).
Tensor svd_truncate(const Svd& d, int64_t r) {
  const std::vector<double> w = svd_reconstruct(d, std::min(r, d.rank));
  return Tensor({d.rows, d.cols}, std::vector<float>(w.begin(), w.end()));
}

struct Row {
  std::string name, series;
  bool vq = true;
  int64_t bytes = 0;            // the target layers' bytes (file records for VQ; r(m+n) floats for SVD)
  double rate = 0, val = 0, test = 0, deployed = -1, rel_err = 0;
  int64_t mismatches = 0;
  double max_logit = 0;
  std::vector<int64_t> layer_bytes;
};

std::string pct(double e) { return fmt(100.0 * e, 2) + " %"; }
std::string met(bool ok) { return ok ? "MET" : "NOT MET"; }

// Timing of fc1 at batch 1 and 64, one thread: dense sgemm (AVX2 and scalar) against the lookup-
// table kernel for a few settings, variants taking turns sample after sample (medians).
void print_timing(const Tensor& W, bool quick, ResultTable& out) {
  const int threads = num_threads();
  set_num_threads(1);
  const int64_t m = W.dim(0), n = W.dim(1);
  Rng rng(17);
  struct Variant { std::string name; std::function<void(int64_t)> fn; };
  std::vector<VqMatrix> qs;
  std::vector<std::string> qnames;
  const std::vector<Setting> ts = {{VqMethod::product, 2, 2, 1}, {VqMethod::product, 4, 4, 1}, {VqMethod::product, 4, 8, 1},
                                   {VqMethod::product, 4, 16, 1}, {VqMethod::product, 8, 8, 1}, {VqMethod::scalar, 4, 1, 1}};
  for (const Setting& s : ts) {
    qs.push_back(quantize(s, W, rng));
    qnames.push_back(s.name());
  }
  std::vector<float> X = uniform_floats(64 * n, 5), Y(static_cast<size_t>(64 * m));
  std::vector<float> T(static_cast<size_t>(std::max<int64_t>(1, [&] {
    int64_t mx = 0;
    for (auto& q : qs) mx = std::max(mx, vq_lut_scratch_floats(q));
    return mx;
  }())));
  std::vector<Variant> vs;
  vs.push_back({"dense sgemm, AVX2", [&](int64_t B) {
                  KernelModeGuard g(cpu_has_avx2() ? KernelMode::avx2 : KernelMode::scalar);
                  sgemm(Trans::N, Trans::T, B, m, n, 1.0f, X.data(), n, W.data(), n, 0.0f, Y.data(), m);
                }});
  vs.push_back({"dense sgemm, scalar", [&](int64_t B) {
                  sgemm_scalar(Trans::N, Trans::T, B, m, n, 1.0f, X.data(), n, W.data(), n, 0.0f, Y.data(), m);
                }});
  for (size_t i = 0; i < qs.size(); ++i) {
    for (KernelMode mode : {KernelMode::avx2, KernelMode::scalar}) {
      if (mode == KernelMode::avx2 && !cpu_has_avx2()) continue;
      vs.push_back({"LUT " + qnames[i] + ", " + kernel_mode_name(mode), [&, i, mode](int64_t B) {
                      KernelModeGuard g(mode);
                      vq_linear_forward(qs[i], nullptr, X.data(), B, Y.data(), T.data());
                    }});
    }
  }
  const int samples = quick ? 5 : 41;
  for (int64_t B : {int64_t{1}, int64_t{64}}) {
    std::vector<std::vector<double>> t(vs.size());
    for (int s = 0; s < samples; ++s)
      for (size_t i = 0; i < vs.size(); ++i) {
        vs[i].fn(B);   // untimed: its data back in cache
        const double t0 = now_us();
        vs[i].fn(B);
        t[i].push_back(now_us() - t0);
      }
    const double base = median_of(t[0]);
    for (size_t i = 0; i < vs.size(); ++i) {
      const double us = median_of(t[i]);
      out.add_row({std::to_string(B), vs[i].name, fmt(us, 1), fmt(base / us, 2) + "x"});
    }
  }
  set_num_threads(threads);
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("vq",
                   "Gong et al. 2014: binarization, scalar k-means, product and residual quantization of the dense layers\n"
                   "of a trained LeNet (no retraining) against truncated SVD at equal size; every quantized model written\n"
                   "to a .mgfvq file and run from it with the lookup-table kernel; error vs compression rate (Fig. 2 shape).",
                   "full run (2 busy cores, baseline cached): lenet300 ~2 min, lenet5 ~4 min; a missing baseline is\n"
                   "trained first (+2 / +17 min); --quick: seconds",
                   {"--data", "--val", "--json", "--svg"});
  args.val_default(kDefaultValidationImages, "the PQ setting of the 16-24x floor is chosen on it; test errors reported once", 500);
  args.option("--model", "lenet300", "lenet300 (fc1 + fc2 quantized) | lenet5 (fc1 quantized)");
  args.option("--set", "mnist", "mnist | fashion-mnist");
  args.option("--out-dir", "build/vq", "directory for the .mgfvq files (one per setting; created when missing)");
  args.option("--no-timing", "false", "skip the fc1 timing table");
  args.parse(argc, argv);
  const std::string model_name = args.get("--model"), set = args.get("--set");
  if (model_name != "lenet300" && model_name != "lenet5") args.fail("--model expects lenet300 or lenet5, found '" + model_name + "'");
  if (set != "mnist" && set != "fashion-mnist") args.fail("--set expects mnist or fashion-mnist, found '" + set + "'");
  const bool quick = args.quick(), lenet5 = model_name == "lenet5";
  const auto wall0 = std::chrono::steady_clock::now();

  // ---- 1. data and the trained dense baseline ----
  DataSplits data = load_mnist_like(args.data_dir(), set, quick ? (lenet5 ? 1000 : 2000) : -1, quick ? 1000 : -1);
  split_validation(data, args.val(data.train.size()));
  std::printf("vector quantization on %s, %s: %lld training / %lld validation / %lld test images%s\n", model_name.c_str(),
              data.name.c_str(), static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
              static_cast<long long>(data.test.size()), quick ? " (--quick: a slice)" : "");
  std::shared_ptr<Sequential> model = trained_baseline(model_name, data, quick);
  const SelectionSet sel = selection_set(data);
  const std::vector<std::string> targets = lenet5 ? std::vector<std::string>{"fc1"} : std::vector<std::string>{"fc1", "fc2"};
  std::vector<Linear*> layers;
  std::vector<Tensor> original;
  int64_t dense_bytes = 0;
  for (auto& [name, child] : model->children())
    if (std::find(targets.begin(), targets.end(), name) != targets.end()) {
      layers.push_back(dynamic_cast<Linear*>(child.get()));
      original.push_back(layers.back()->weight.var.value().clone());
      dense_bytes += 4 * original.back().numel();
    }
  auto restore = [&] {
    for (size_t l = 0; l < layers.size(); ++l) std::copy(original[l].data(), original[l].data() + original[l].numel(), layers[l]->weight.var.value().data());
  };
  const Tensor base_sel_logits = logits_of(*model, sel.images);
  const double base_val = static_cast<double>(count_errors(base_sel_logits, sel.images.labels)) / static_cast<double>(sel.images.size());
  const double base_test = static_cast<double>(count_errors(logits_of(*model, data.test), data.test.labels)) / static_cast<double>(data.test.size());
  std::printf("dense baseline: %s error %s, test error %s; quantized layers %s: %lld weights, %lld bytes as float\n", sel.name,
              pct(base_val).c_str(), pct(base_test).c_str(), lenet5 ? "fc1" : "fc1, fc2",
              static_cast<long long>(dense_bytes / 4), static_cast<long long>(dense_bytes));

  // ---- 2-3. every setting: quantize, simulate, write, read back, run from the file ----
  std::filesystem::create_directories(args.get("--out-dir"));
  std::vector<Row> rows;
  int64_t sim_deploy_failures = 0;
  std::string first_failure;
  for (const Setting& st : settings(quick)) {
    Rng rng(args.seed() + 1);
    std::vector<std::pair<std::string, VqMatrix>> qs;
    Row r;
    r.name = st.name();
    r.series = st.series();
    double num = 0, den = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
      VqMatrix q = quantize(st, original[l], rng);
      Tensor w = q.decode();
      for (int64_t i = 0; i < w.numel(); ++i) {
        num += (w[i] - original[l][i]) * (w[i] - original[l][i]);
        den += original[l][i] * original[l][i];
      }
      std::copy(w.data(), w.data() + w.numel(), layers[l]->weight.var.value().data());   // the simulation: float weights Ŵ
      qs.push_back({targets[l] + ".weight", std::move(q)});
    }
    r.rel_err = std::sqrt(num / den);
    const Tensor sel_logits = logits_of(*model, sel.images), sim_test = logits_of(*model, data.test);
    r.val = static_cast<double>(count_errors(sel_logits, sel.images.labels)) / static_cast<double>(sel.images.size());
    r.test = static_cast<double>(count_errors(sim_test, data.test.labels)) / static_cast<double>(data.test.size());
    // The file, read back, and the model that runs from it.
    std::string fname = r.name;
    for (char& c : fname)
      if (c == ' ' || c == '=') c = '_';
    const std::string path = args.get("--out-dir") + "/" + model_name + "-" + data.name + "-" + fname + ".mgfvq";
    save_vq(path, make_vq_model(*model, qs, model_name));
    VqFileLayout layout;
    VqRunner runner(load_vq(path, &layout), make_model(model_name));
    for (auto& t : layout.tensors)
      if (t.quantized) r.bytes += t.bytes, r.layer_bytes.push_back(t.bytes);
    r.rate = static_cast<double>(dense_bytes) / static_cast<double>(r.bytes);
    const Tensor dep_test = logits_of(runner, data.test);
    r.deployed = static_cast<double>(count_errors(dep_test, data.test.labels)) / static_cast<double>(data.test.size());
    const int64_t C = dep_test.dim(1);
    for (int64_t i = 0; i < data.test.size(); ++i) {
      const float* a = sim_test.data() + i * C;
      const float* b = dep_test.data() + i * C;
      if (std::max_element(a, a + C) - a != std::max_element(b, b + C) - b) ++r.mismatches;
      for (int64_t c = 0; c < C; ++c) r.max_logit = std::max(r.max_logit, static_cast<double>(std::fabs(a[c] - b[c])));
    }
    if ((r.mismatches > 0 || r.max_logit > kSimDeployLogitBudget) && sim_deploy_failures++ == 0) first_failure = r.name;
    std::printf("  %-22s %7.2fx  %s error %6s  test %6s  from file %6s  (%lld mismatches, max |dlogit| %.1e)\n", r.name.c_str(), r.rate,
                sel.name, pct(r.val).c_str(), pct(r.test).c_str(), pct(r.deployed).c_str(), static_cast<long long>(r.mismatches), r.max_logit);
    std::fflush(stdout);
    rows.push_back(r);
    restore();
  }

  // ---- 4. truncated SVD at equal size: rank r per layer with r·(m + n) floats ----
  // Chapter 12's thin SVD of each quantized layer, once; every rank below truncates it.
  std::vector<Svd> svds;
  for (auto& W : original) svds.push_back(svd(W.data(), W.dim(0), W.dim(1)));
  auto svd_row = [&](const std::vector<int64_t>& ranks, const std::string& name) {
    Row r;
    r.vq = false;
    r.name = name;
    r.series = "truncated SVD";
    for (size_t l = 0; l < layers.size(); ++l) {
      const int64_t m = original[l].dim(0), n = original[l].dim(1);
      const Tensor wr = svd_truncate(svds[l], ranks[l]);
      std::copy(wr.data(), wr.data() + wr.numel(), layers[l]->weight.var.value().data());
      r.bytes += 4 * ranks[l] * (m + n);
      r.layer_bytes.push_back(4 * ranks[l] * (m + n));
    }
    r.rate = static_cast<double>(dense_bytes) / static_cast<double>(r.bytes);
    r.val = static_cast<double>(count_errors(logits_of(*model, sel.images), sel.images.labels)) / static_cast<double>(sel.images.size());
    r.test = static_cast<double>(count_errors(logits_of(*model, data.test), data.test.labels)) / static_cast<double>(data.test.size());
    restore();
    return r;
  };
  // The SVD curve: ranks giving 2x .. 64x on every layer.
  std::vector<Row> svd_rows;
  for (double rate : quick ? std::vector<double>{8, 16} : std::vector<double>{2, 4, 6, 8, 12, 16, 24, 32, 48, 64}) {
    std::vector<int64_t> ranks;
    for (auto& W : original) ranks.push_back(std::max<int64_t>(1, static_cast<int64_t>(W.dim(0) * W.dim(1) / (rate * (W.dim(0) + W.dim(1))))));
    std::string nm = "SVD rank";
    for (int64_t k : ranks) nm += " " + std::to_string(k);
    svd_rows.push_back(svd_row(ranks, nm));
  }
  // ... and one at the size of each VQ setting, layer by layer (the largest rank that fits).
  std::map<std::string, Row> svd_equal;
  for (const Row& v : rows) {
    std::vector<int64_t> ranks;
    for (size_t l = 0; l < layers.size(); ++l)
      ranks.push_back(std::max<int64_t>(1, v.layer_bytes[l] / (4 * (original[l].dim(0) + original[l].dim(1)))));
    std::string nm = "SVD rank";
    for (int64_t k : ranks) nm += " " + std::to_string(k);
    svd_equal[v.name] = svd_row(ranks, nm);
  }

  // ---- 5. the table, the choices, the floors ----
  ResultTable t({"method", "setting", "rate (x)", "layer bytes", "rel. error", std::string(sel.name) + " error", "test error",
                 "test from file", "SVD at equal size: rank", "SVD test error"});
  t.add_row({"dense", "float32", "1.00", std::to_string(dense_bytes), "0", pct(base_val), pct(base_test), "", "", ""});
  for (const Row& r : rows) {
    const Row& s = svd_equal[r.name];
    t.add_row({r.series, r.name, fmt(r.rate, 2), std::to_string(r.bytes), fmt(r.rel_err, 3), pct(r.val), pct(r.test), pct(r.deployed),
               s.name.substr(9), pct(s.test)});
  }
  for (const Row& r : svd_rows)
    t.add_row({r.series, r.name, fmt(r.rate, 2), std::to_string(r.bytes), "", pct(r.val), pct(r.test), "", "", ""});
  std::printf("\n");
  t.print("Error vs compression rate of the dense layers (" + std::string(lenet5 ? "fc1" : "fc1 + fc2") + "), no retraining; " +
          "rate = float bytes / bytes of the layers' records in the .mgfvq file");
  if (!args.json_path().empty()) t.write_json(args.json_path());

  // Floors (issue 17).
  std::printf("\nFloors (test errors; the PQ setting chosen on %s):\n", sel.name);
  const Row* k16 = nullptr;
  for (const Row& r : rows)
    if (r.name == "kmeans k=16") k16 = &r;
  if (k16)
    std::printf("  scalar k-means k = 16 (%.1fx): test %s vs dense %s, %+.2f pp (<= +0.1 pp: %s)\n", k16->rate, pct(k16->test).c_str(),
                pct(base_test).c_str(), 100 * (k16->test - base_test), met(k16->test - base_test <= 0.001 + 1e-12).c_str());
  const Row* best = nullptr;
  for (const Row& r : rows)
    if (r.series.rfind("PQ", 0) == 0 && r.rate >= 16 && r.rate <= 24 && (!best || r.val < best->val)) best = &r;
  if (best) {
    std::printf("  PQ at 16-24x, chosen on %s: %s (%.1fx): test %s, %+.2f pp (<= +1 pp: %s)\n", sel.name, best->name.c_str(), best->rate,
                pct(best->test).c_str(), 100 * (best->test - base_test), met(best->test - base_test <= 0.01 + 1e-12).c_str());
    const Row& s = svd_equal[best->name];
    std::printf("  the same bytes as truncated SVD (%s, %.1fx): test %s (PQ better: %s)\n", s.name.c_str(), s.rate, pct(s.test).c_str(),
                  met(best->test < s.test).c_str());
  } else {
    std::printf("  PQ at 16-24x: no PQ setting in that window\n");
  }
  int wins = 0, total = 0;
  for (const Row& r : rows)
    if (r.rate >= 4) ++total, wins += r.test < svd_equal[r.name].test;
  std::printf("  every VQ setting at >= 4x against SVD at its size: VQ lower test error in %d of %d\n", wins, total);
  std::printf("  paper (abstract; ImageNet, the dense layers of a CNN): 16-24x with about 1 %% loss of accuracy\n");

  // ---- the figure: error vs compression rate (Fig. 2's shape) ----
  const std::string svg = args.svg_path("build/figures/vq-" + model_name + "-" + data.name + ".svg");
  {
    // Settings that break the net (binarization, k = 2, ... at 40-90 % error) would squash the
    // interesting part; those above 5x the dense error are listed in the table, not drawn.
    const double cap = std::min(0.5, 5 * base_test);
    SvgPlot p("Gong et al. 2014 on " + std::string(lenet5 ? "LeNet-5 fc1" : "LeNet-300-100 fc1+fc2") + ", " + data.name +
                  ", no retraining (test error above " + fmt(100 * cap, 0) + " % not drawn)",
              "compression rate of the dense layers (x)", "test error (%)");
    p.log_x = true;
    p.log_y = true;
    p.set_x_range(2, 100);
    p.set_y_range(100 * base_test * 0.9, 100 * cap);
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> series;
    std::vector<std::string> order;
    for (const Row& r : rows) {
      if (r.test > cap) continue;
      if (!series.count(r.series)) order.push_back(r.series);
      series[r.series].first.push_back(r.rate);
      series[r.series].second.push_back(100 * r.test);
    }
    order.push_back("truncated SVD");
    for (const Row& r : svd_rows) {
      if (r.test > cap) continue;
      series["truncated SVD"].first.push_back(r.rate);
      series["truncated SVD"].second.push_back(100 * r.test);
    }
    for (const std::string& s : order) {
      auto xy = series[s];
      if (xy.first.empty()) continue;
      std::vector<size_t> idx(xy.first.size());
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
      std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return xy.first[a] < xy.first[b]; });
      std::vector<double> x, y;
      for (size_t i : idx) x.push_back(xy.first[i]), y.push_back(xy.second[i]);
      if (x.size() == 1) p.points(s, x, y, "", 4.0);
      else p.line(s, x, y, "", s == "truncated SVD");
    }
    p.hline(100 * base_test, "dense " + pct(base_test));
    std::filesystem::path sp(svg);
    if (sp.has_parent_path()) std::filesystem::create_directories(sp.parent_path());
    p.write(svg);
    std::printf("\nfigure: %s\n", svg.c_str());
  }

  // ---- 6. timing ----
  if (!args.get_bool("--no-timing")) {
    ResultTable tt({"batch", "fc1 " + std::to_string(original[0].dim(0)) + "x" + std::to_string(original[0].dim(1)) + ", one thread",
                    "median us", "speed-up vs dense AVX2"});
    print_timing(original[0], quick, tt);
    std::printf("\n");
    tt.print("fc1 at batch 1 and 64: dense sgemm vs the lookup-table kernel (table + lookups), variants taking turns, medians");
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("\nwall time: %.1f s\n", wall);
  // Simulation = deployment, for every quantized model run from its file.
  if (sim_deploy_failures > 0)
    check_sim_equals_deploy("vq: " + std::to_string(sim_deploy_failures) + " settings (first: " + first_failure + ") from their files", 1,
                            data.test.size(), -1);
  for (const Row& r : rows) check_sim_equals_deploy("vq " + r.name + " from its .mgfvq file", r.mismatches, data.test.size(), r.max_logit);
  return 0;
}

int main(int argc, char** argv) { return run_main("vq", argc, argv, run); }
