// examples/lowrank_svd.cpp — Denton et al. 2014 on LeNet-5 / MNIST (book/12-lowrank_svd.md):
//   (a) fc1 (800 → 500) by a truncated SVD, plain Frobenius and ‖W‖_data, run as two Linear
//       layers, K = 10 / 20 / 50; fc2 (the layer above) fine-tuned; fc1 timed factored vs dense;
//   (b) conv2 (20 → 50, 5×5) biclustered, G = H = 2, rank K per block, run as grouped d×d conv,
//       channel shuffle, grouped 1×1 conv; fc1 and fc2 fine-tuned; conv2 timed against dense.
// Every choice is made on the validation split (the last 10 000 training images) by a rule fixed
// in advance; the test error of each row is printed once beside it.
//   build/examples/lowrank_svd --quick                        (seconds)
//   build/examples/lowrank_svd --threads 1 --checkpoint checkpoints/lenet5-mnist-val10000-e5.mgf
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "compression/lowrank/denton.h"
#include "compression/lowrank/experiment.h"
#include "compression/lowrank/svd.h"
#include "engine/checkpoint.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/ops.h"
#include "engine/svg.h"
#include "engine/train.h"
#include "layers/models/baseline.h"
#include "layers/models/lenet.h"

using namespace mgf;

namespace {

std::shared_ptr<Linear> copy_linear(const Linear& l) {
  auto c = std::make_shared<Linear>(l.in_features, l.out_features, l.bias != nullptr);
  c->weight.var.value() = l.weight.var.value().clone();
  if (l.bias) c->bias->var.value() = l.bias->var.value().clone();
  return c;
}

std::vector<Parameter*> params_of(std::initializer_list<Module*> ms) {
  std::vector<Parameter*> out;
  for (Module* m : ms)
    for (Parameter* p : m->parameters()) out.push_back(p);
  return out;
}

int run(int argc, char** argv) {
  ExampleArgs args("lowrank_svd",
                   "Reproduces Denton et al. 2014 on LeNet-5 / MNIST: fc1 by truncated SVD (Frobenius and\n"
                   "data-covariance norm) as two Linear layers, conv2 by biclustering + per-block SVD as grouped\n"
                   "convolutions; the layers above fine-tuned; factored vs dense timed side by side.",
                   "full run (one thread, cached dense checkpoint): about 10 min on a busy core; --quick: about 25 s of CPU\n(fc1's 500x800 SVD and 800x800 eigen-decomposition run at full size even then)",
                   {"--data", "--epochs", "--val", "--json", "--svg"});
  args.val_default(kDefaultValidationImages, "every choice (norm, conv2 K) is made on it", 500);
  args.option("--checkpoint", "", "dense LeNet-5 to start from (default: trained_baseline(), i.e. checkpoints/ or a fresh run)");
  args.option("--ks", "10,20,50", "fc1 ranks K");
  args.option("--conv-ks", "2,4,6,8", "conv2 ranks K per bicluster block (G = H = 2)");
  args.option("--ft-lr", "0.005", "fine-tuning learning rate (SGD, momentum 0.9, batch 64), fixed in advance");
  args.option("--ft-train", "20000", "training images the fine-tuning sees (the first N of the 50 000)");
  args.option("--ft-factors", "false", "fc1: fine-tune the two factor layers too (still factored), not only fc2 above");
  args.option("--part", "all", "all | fc1 | conv2: which experiment to run");
  args.option("--samples", "9", "timing samples (median)");
  args.parse(argc, argv);
  const bool quick = args.quick();
  const int ft_epochs = args.epochs(1, 1);
  const float ft_lr = static_cast<float>(args.get_float("--ft-lr", 1e-5, 1.0));
  const int samples = static_cast<int>(args.get_int("--samples", 3, 1000));
  const bool ft_factors = args.get("--ft-factors") == "true";
  const std::string part = args.get("--part");
  if (part != "all" && part != "fc1" && part != "conv2") args.fail("--part expects all, fc1 or conv2, found " + part);
  std::vector<int64_t> ks, conv_ks;
  for (double k : args.get_numbers("--ks", 1, 500)) ks.push_back(static_cast<int64_t>(k));
  for (double k : args.get_numbers("--conv-ks", 1, 25)) conv_ks.push_back(static_cast<int64_t>(k));
  if (part == "fc1") conv_ks.clear();
  if (part == "conv2") ks.clear();

  DataSplits data = load_mnist_like(args.data_dir(), "mnist", quick ? 3000 : -1, quick ? 1000 : -1);
  split_validation(data, args.val(data.train.size()));
  auto model = load_lenet5(args.get("--checkpoint"), data, quick);
  const int64_t ft_n = std::min<int64_t>(quick ? 1000 : args.get_int("--ft-train", 100, 1000000), data.train.size());
  const Dataset ft_train = data.train.slice(0, ft_n);
  std::printf("mnist: %lld training (fine-tuning sees %lld), %lld validation, %lld test images; fine-tuning %d epoch(s), lr %g\n",
              (long long)data.train.size(), (long long)ft_n, (long long)data.val.size(), (long long)data.test.size(),
              ft_epochs, ft_lr);
  const EvalResult base_val = evaluate(*model, data.val), base_test = evaluate(*model, data.test);
  std::printf("dense LeNet-5: validation error %s, test error %s\n\n", fmt_pct(base_val.error_rate()).c_str(),
              fmt_pct(base_test.error_rate()).c_str());
  ResultTable all({"layer", "method", "K", "params", "fewer params", "rel. weight error", "val before FT",
                   "val after FT", "test after FT", "speed-up b1", "speed-up b64"});
  all.add_row({"-", "dense", "-", "-", "1.0x", "0", fmt_pct(base_val.error_rate()), "-",
               fmt_pct(base_test.error_rate()), "1.00x", "1.00x"});

  // ---- (a) fc1 ----
  const Linear& fc1 = model->at<Linear>("fc1");
  const Linear& fc2 = model->at<Linear>("fc2");
  auto below_fc1 = sub_sequential(*model, {"conv1", "pool1", "conv2", "pool2"});
  const Dataset f_train = cached_features(*below_fc1, ft_train), f_val = cached_features(*below_fc1, data.val),
                f_test = cached_features(*below_fc1, data.test);
  // ‖W‖_data needs Σ of fc1's inputs: the flattened pool2 maps of (up to) 10 000 training images.
  const int64_t cov_n = std::min<int64_t>(ft_n, 10000);
  const Tensor x_cov = f_train.images.reshape({f_train.size(), 800}).clone();
  Tensor x_cov_n({cov_n, 800});
  std::copy(x_cov.data(), x_cov.data() + cov_n * 800, x_cov_n.data());
  std::vector<double> w1(fc1.weight.var.value().data(), fc1.weight.var.value().data() + 500 * 800);
  const Svd fc1_svd = svd(w1.data(), 500, 800);
  const LinearDataSvd fc1_data = ks.empty() ? LinearDataSvd{} : prepare_linear_data(fc1, x_cov_n);
  double fro = 0;
  for (double s : fc1_svd.s) fro += s * s;
  fro = std::sqrt(fro);
  const int64_t dense_fc1 = 800 * 500 + 500;
  std::map<int64_t, std::map<std::string, double>> fc1_val_after, fc1_test_after;
  std::vector<double> fig_k, fig_val;
  for (int64_t k : ks) {
    auto fc1_dense_copy = copy_linear(fc1);
    for (const std::string method : {"frobenius", "data"}) {
      auto f = method == "frobenius" ? factor_linear_svd(fc1, k) : factor_linear_data(fc1, k, fc1_data);
      auto fc2c = copy_linear(fc2);
      auto head = lenet5_head(*model, f, fc2c);
      const double val_before = evaluate(*head, f_val).error_rate();
      finetune_on_features(*head, ft_factors ? params_of({f.get(), fc2c.get()}) : params_of({fc2c.get()}), f_train,
                           ft_epochs, ft_lr, args.seed());
      const double val_after = evaluate(*head, f_val).error_rate(), test_after = evaluate(*head, f_test).error_rate();
      const double werr = method == "frobenius" ? svd_truncation_error(fc1_svd, k) / fro
                                                : linear_output_error(fc1, *f, x_cov_n);
      const PairTiming t1 = time_pair(*fc1_dense_copy, *f, {800}, 1, samples);
      const PairTiming t64 = time_pair(*fc1_dense_copy, *f, {800}, 64, samples);
      const int64_t p = f->num_parameters();
      all.add_row({"fc1", std::string(method == "frobenius" ? "SVD, Frobenius" : "SVD, ||W||_data (output error)") +
                              (ft_factors ? "; FT factors + fc2" : "; FT fc2"), std::to_string(k),
                   std::to_string(p), fmt(double(dense_fc1) / double(p), 1) + "x", fmt(werr, 3), fmt_pct(val_before),
                   fmt_pct(val_after), fmt_pct(test_after), fmt(t1.speedup(), 2) + "x (" + fmt(t1.dense_us, 1) + "/" +
                   fmt(t1.factored_us, 1) + " us)", fmt(t64.speedup(), 2) + "x (" + fmt(t64.dense_us, 0) + "/" +
                   fmt(t64.factored_us, 0) + " us)"});
      fc1_val_after[k][method] = val_after;
      fc1_test_after[k][method] = test_after;
      if (method == "frobenius") {
        fig_k.push_back(double(k));
        fig_val.push_back(100.0 * val_after);
      }
      std::printf("fc1 K=%lld %s: val %s -> %s after fine-tuning, test %s\n", (long long)k, method.c_str(),
                  fmt_pct(val_before).c_str(), fmt_pct(val_after).c_str(), fmt_pct(test_after).c_str());
      std::fflush(stdout);
    }
  }

  // ---- (b) conv2 biclustered ----
  auto& conv2 = model->at<Conv2d>("conv2");
  std::map<int64_t, double> conv_val, conv_test, conv_speed64;
  for (int64_t k : conv_ks) {
    auto bc = std::make_shared<BiclusteredConv>(conv2, 2, 2, k, args.seed());
    // Deployed form: the channel permutations folded into copies of conv1 and fc1, so conv2 runs
    // as grouped 5x5, shuffle, grouped 1x1 only (fold_permutations()).
    const Conv2d& conv1 = model->at<Conv2d>("conv1");
    auto conv1c = std::make_shared<Conv2d>(conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.options);
    conv1c->weight.var.value() = conv1.weight.var.value().clone();
    conv1c->bias->var.value() = conv1.bias->var.value().clone();
    auto fc1c = copy_linear(fc1), fc2c = copy_linear(fc2);
    bc->fold_permutations(*conv1c, *fc1c, 16);   // fc1 reads pool2's [50, 4, 4]: 16 inputs per channel
    auto prefix = sub_sequential(*model, {"conv1", "pool1", "conv2", "pool2"}, {{"conv1", conv1c}, {"conv2", bc}});
    const Dataset c_train = cached_features(*prefix, ft_train), c_val = cached_features(*prefix, data.val),
                  c_test = cached_features(*prefix, data.test);
    auto head = lenet5_head(*model, fc1c, fc2c);
    const double val_before = evaluate(*head, c_val).error_rate();
    finetune_on_features(*head, params_of({fc1c.get(), fc2c.get()}), c_train, ft_epochs, ft_lr, args.seed());
    const double val_after = evaluate(*head, c_val).error_rate(), test_after = evaluate(*head, c_test).error_rate();
    double be = 0;
    for (double e : bc->block_error) be += e * e;
    be = std::sqrt(be / double(bc->block_error.size()));
    const PairTiming t1 = time_pair(conv2, *bc, {20, 12, 12}, 1, samples);
    const PairTiming t64 = time_pair(conv2, *bc, {20, 12, 12}, 64, samples);
    all.add_row({"conv2", "bicluster G=H=2 + SVD (theory " + fmt(25000.0 / double(bc->factored_macs_per_pixel()), 2) + "x)",
                 std::to_string(k), std::to_string(bc->num_parameters()),
                 fmt(25050.0 / double(bc->num_parameters()), 1) + "x", fmt(be, 3), fmt_pct(val_before), fmt_pct(val_after),
                 fmt_pct(test_after), fmt(t1.speedup(), 2) + "x (" + fmt(t1.dense_us, 1) + "/" + fmt(t1.factored_us, 1) + " us)",
                 fmt(t64.speedup(), 2) + "x (" + fmt(t64.dense_us, 0) + "/" + fmt(t64.factored_us, 0) + " us)"});
    conv_val[k] = val_after;
    conv_test[k] = test_after;
    conv_speed64[k] = t64.speedup();
    std::printf("conv2 K=%lld: val %s -> %s after fine-tuning, test %s, speed-up b1 %.2fx b64 %.2fx\n", (long long)k,
                fmt_pct(val_before).c_str(), fmt_pct(val_after).c_str(), fmt_pct(test_after).c_str(), t1.speedup(),
                t64.speedup());
    std::fflush(stdout);
  }
  std::printf("\n");
  all.print("Denton et al. 2014 on LeNet-5 (rel. weight error: Frobenius ||W-W~||/||W||; ||W||_data rows: relative "
            "output error on 10k training inputs; conv2: RMS over blocks); timing one call, median, dense/factored");

  // The rules fixed in advance, applied on validation.
  ResultTable floors({"floor", "choice on validation", "val", "test", "dense test", "met"});
  for (int64_t k : ks) {
    const std::string best = fc1_val_after[k]["data"] < fc1_val_after[k]["frobenius"] ? "data" : "frobenius";
    const double test = fc1_test_after[k][best];
    const int64_t p = (800 + 500) * k + 500;
    const bool met = double(dense_fc1) / double(p) >= 10.0 && test - base_test.error_rate() <= 0.001 + 1e-12;
    floors.add_row({"fc1 K=" + std::to_string(k) + ": >= 10x fewer params, <= +0.1 pp", "norm: " + best,
                    fmt_pct(fc1_val_after[k][best]), fmt_pct(test), fmt_pct(base_test.error_rate()), met ? "yes" : "no"});
  }
  int64_t kbest = -1;   // lowest validation error among the K with >= 2x measured at batch 64
  for (int64_t k : conv_ks)
    if (conv_speed64[k] >= 2.0 && (kbest < 0 || conv_val[k] < conv_val[kbest])) kbest = k;
  if (conv_ks.empty()) {
    // --part fc1: no conv2 row
  } else if (kbest > 0) {
    const bool met = conv_test[kbest] - base_test.error_rate() <= 0.003 + 1e-12;
    floors.add_row({"conv2 biclustered: >= 2x measured, <= +0.3 pp", "K=" + std::to_string(kbest) + " (" +
                    fmt(conv_speed64[kbest], 2) + "x at b64)", fmt_pct(conv_val[kbest]), fmt_pct(conv_test[kbest]),
                    fmt_pct(base_test.error_rate()), met ? "yes" : "no"});
  } else {
    floors.add_row({"conv2 biclustered: >= 2x measured, <= +0.3 pp", "no K reached 2x at b64", "-", "-",
                    fmt_pct(base_test.error_rate()), "no"});
  }
  floors.print("Floors (papers.md section 9); paper: fc 5-13x fewer weights, conv ~2x within 1 % (ImageNet)");
  if (!args.json_path().empty()) all.write_json(args.json_path());

  // Figure: fc1's relative reconstruction error against K (from the singular values), and the
  // validation error after fine-tuning at the K run.
  std::vector<double> kk, err;
  for (int64_t k = 1; k <= std::min<int64_t>(fc1_svd.rank - 1, 100); ++k) {
    kk.push_back(double(k));
    err.push_back(100.0 * svd_truncation_error(fc1_svd, k) / fro);
  }
  SvgPlot p("LeNet-5 fc1 by truncated SVD: reconstruction error and accuracy against rank K", "rank K",
            "percent (log)");
  p.log_y = true;
  p.line("relative reconstruction error ||W - W_K||_F / ||W||_F (%)", kk, err);
  p.points(ft_factors ? "validation error after fine-tuning the factors and fc2 (%)"
                      : "validation error after fine-tuning fc2 (%)", fig_k, fig_val);
  p.set_x_range(0, 100);
  p.set_y_range(0.5, 100);
  p.hline(100.0 * base_val.error_rate(), "dense validation error");
  const std::string svg = args.svg_path(quick ? "build/figures/lowrank_svd-quick.svg" : "book/figures/lowrank_svd-lenet5-mnist.svg");
  std::filesystem::path sp(svg);
  if (sp.has_parent_path()) std::filesystem::create_directories(sp.parent_path());
  p.write(svg);
  std::printf("figure: %s\n", svg.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_main("lowrank_svd", argc, argv, run); }
