// examples/lowrank_svd.cpp — Denton et al. 2014 on LeNet-5 / MNIST (book/12-lowrank_svd.md):
//   (a) fc1 (800 → 500) by a truncated SVD, plain Frobenius and ‖W‖_data, run as two Linear
//       layers, K = 10 / 20 / 50; the layers above fine-tuned (fc2 alone, or the two factors
//       and fc2); fc1 timed factored vs dense at batch 1 and 64;
//   (b) conv2 (20 → 50, 5×5) biclustered into G input and H output groups, rank K per block, run
//       as grouped d×d conv, channel shuffle, grouped 1×1 conv; fc1 and fc2 fine-tuned; conv2
//       timed against dense at batch 1 and 64.
// Every choice is made on the validation split (the last 10 000 training images) by a rule fixed
// in advance — fc1: the norm, what is fine-tuned and for how many epochs; conv2: G, H, K and the
// epochs — and the test error is evaluated once, on the chosen setting only. The last lines
// ("summary ...") are one line per floor, for averaging runs over several dense checkpoints.
//   build/examples/lowrank_svd --quick                        (seconds)
//   MGF_CHECKPOINTS=<dir of seed S> build/examples/lowrank_svd --seed S --val 10000 --threads 1
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

struct GHK { int64_t g, h, k; };

std::vector<GHK> parse_configs(const ExampleArgs& args) {
  std::vector<GHK> out;
  for (const std::string& item : args.get_list("--conv-configs")) {
    GHK c{};
    char x1 = 0, x2 = 0;
    long long g = 0, h = 0, k = 0;
    int used = 0;
    if (std::sscanf(item.c_str(), "%lld%c%lld%c%lld%n", &g, &x1, &h, &x2, &k, &used) != 5 || x1 != 'x' || x2 != 'x' ||
        used != static_cast<int>(item.size()))
      args.fail("--conv-configs expects items GxHxK such as 2x2x6, found '" + item + "'");
    c.g = g;
    c.h = h;
    c.k = k;
    if (c.g < 1 || c.h < 1 || 20 % c.g != 0 || 50 % c.h != 0 || c.k < 1 || c.k > 50 / c.h)
      args.fail("--conv-configs: expected G | 20, H | 50, 1 <= K <= 50/H, found '" + item + "'");
    out.push_back(c);
  }
  return out;
}

std::string timing_cell(const PairTiming& t, int decimals) {
  return fmt(t.speedup(), 2) + "x (" + fmt(t.dense_us, decimals) + "/" + fmt(t.factored_us, decimals) + " us)";
}

int run(int argc, char** argv) {
  ExampleArgs args("lowrank_svd",
                   "Reproduces Denton et al. 2014 on LeNet-5 / MNIST: fc1 by truncated SVD (Frobenius and\n"
                   "data-covariance norm) as two Linear layers, conv2 by biclustering + per-block SVD as grouped\n"
                   "convolutions; the layers above fine-tuned; factored vs dense timed side by side.",
                   "full run (one thread, cached dense checkpoint): about 5 min of CPU; --quick: about 35 s of CPU\n"
                   "(fc1's 500x800 SVD and 800x800 eigen-decomposition run at full size even then)",
                   {"--data", "--epochs", "--val", "--json", "--svg"});
  args.val_default(kDefaultValidationImages, "every choice (norm, what is fine-tuned, epochs, G, H, K) is made on it", 500);
  args.option("--checkpoint", "", "dense LeNet-5 to start from (default: trained_baseline(), i.e. $MGF_CHECKPOINTS or checkpoints/)");
  args.option("--ks", "10,20,50", "fc1 ranks K");
  args.option("--conv-configs", "1x1x12,1x1x14,2x1x10,2x1x12,2x1x13,4x1x10,4x1x11,1x2x8,2x2x6",
              "conv2 settings GxHxK (input groups x output groups x rank per block); G = H = 1 is the plain SVD, a reference");
  args.option("--ft-lr", "0.005", "fine-tuning learning rate (SGD, momentum 0.9, batch 64), fixed in advance");
  args.option("--ft-train", "50000", "training images the fine-tuning sees (the first N of the training split)");
  args.option("--ft-factors", "both", "fc1: fine-tune fc2 only (false), the two factor layers and fc2 (true), or both as candidates");
  args.option("--part", "all", "all | fc1 | conv2: which experiment to run");
  args.option("--samples", "15", "timing samples (median)");
  args.parse(argc, argv);
  const bool quick = args.quick();
  const int max_epochs = args.epochs(5, 1);   // the fine-tuning length is chosen on validation, 0..max
  const float ft_lr = static_cast<float>(args.get_float("--ft-lr", 1e-5, 1.0));
  const int samples = static_cast<int>(args.get_int("--samples", 3, 1000));
  const std::string ftf = args.get("--ft-factors");
  if (ftf != "both" && ftf != "true" && ftf != "false") args.fail("--ft-factors expects both, true or false, found " + ftf);
  std::vector<bool> ft_modes;
  if (ftf != "true") ft_modes.push_back(false);
  if (ftf != "false") ft_modes.push_back(true);
  const std::string part = args.get("--part");
  if (part != "all" && part != "fc1" && part != "conv2") args.fail("--part expects all, fc1 or conv2, found " + part);
  std::vector<int64_t> ks;
  for (double k : args.get_numbers("--ks", 1, 500)) ks.push_back(static_cast<int64_t>(k));
  std::vector<GHK> configs = parse_configs(args);
  if (part == "fc1") configs.clear();
  if (part == "conv2") ks.clear();

  DataSplits data = load_mnist_like(args.data_dir(), "mnist", quick ? 3000 : -1, quick ? 1000 : -1);
  split_validation(data, args.val(data.train.size()));
  if (data.val.size() == 0) args.fail("--val 0: every choice here is made on the validation split; give --val N > 0");
  auto model = load_lenet5(args.get("--checkpoint"), data, quick);
  const int64_t ft_n = std::min<int64_t>(quick ? 1000 : args.get_int("--ft-train", 100, 1000000), data.train.size());
  const Dataset ft_train = data.train.slice(0, ft_n);
  std::printf("mnist: %lld training (fine-tuning sees %lld), %lld validation, %lld test images; fine-tuning 0..%d "
              "epoch(s) chosen on validation, lr %g\n",
              (long long)data.train.size(), (long long)ft_n, (long long)data.val.size(), (long long)data.test.size(),
              max_epochs, ft_lr);
  const double base_val = evaluate(*model, data.val).error_rate(), base_test = evaluate(*model, data.test).error_rate();
  std::printf("dense LeNet-5: validation error %s, test error %s\n\n", fmt_pct(base_val).c_str(), fmt_pct(base_test).c_str());
  // "summary" lines: one per floor, numbers only, in percentage points against the dense net,
  // so that runs over several checkpoints can be averaged line by line.
  std::vector<std::string> summary;
  ResultTable floors({"floor", "choice on validation", "val", "test", "dense test", "test change", "met"});

  // ---- (a) fc1 ----
  const Linear& fc1 = model->at<Linear>("fc1");
  const Linear& fc2 = model->at<Linear>("fc2");
  const int64_t dense_fc1 = 800 * 500 + 500;
  std::vector<double> fig_k, fig_val, kk, err;
  if (!ks.empty()) {
    auto below_fc1 = sub_sequential(*model, {"conv1", "pool1", "conv2", "pool2"});
    const Dataset f_train = cached_features(*below_fc1, ft_train), f_val = cached_features(*below_fc1, data.val),
                  f_test = cached_features(*below_fc1, data.test);
    // ‖W‖_data needs Σ of fc1's inputs: the flattened pool2 maps of (up to) 10 000 training images.
    const int64_t cov_n = std::min<int64_t>(ft_n, 10000);
    Tensor x_cov({cov_n, 800});
    std::copy(f_train.images.data(), f_train.images.data() + cov_n * 800, x_cov.data());
    std::vector<double> w1(fc1.weight.var.value().data(), fc1.weight.var.value().data() + 500 * 800);
    const Svd fc1_svd = svd(w1.data(), 500, 800);
    const LinearDataSvd fc1_data = prepare_linear_data(fc1, x_cov);
    double fro = 0;
    for (double s : fc1_svd.s) fro += s * s;
    fro = std::sqrt(fro);
    std::vector<std::vector<std::string>> cand_rows;   // the table's rows; test filled in for the choice
    ResultTable cand({"K", "norm", "fine-tuned", "params", "fewer params", "rel. weight error", "val before FT",
                      "FT epochs (val)", "val after FT", "test (chosen only)"});
    ResultTable timing({"K", "theory (MACs)", "measured b1 (dense/factored)", "measured b64 (dense/factored)"});
    for (int64_t k : ks) {
      auto fc1_dense_copy = copy_linear(fc1);
      const PairTiming t1 = time_pair(*fc1_dense_copy, *factor_linear_svd(fc1, k), {800}, 1, samples);
      const PairTiming t64 = time_pair(*fc1_dense_copy, *factor_linear_svd(fc1, k), {800}, 64, samples);
      const int64_t p = (800 + 500) * k + 500;
      timing.add_row({std::to_string(k), fmt(400000.0 / double(1300 * k), 2) + "x", timing_cell(t1, 1), timing_cell(t64, 0)});
      struct Cand { std::string norm; bool factors; double val; int epochs; std::shared_ptr<Sequential> head; };
      std::vector<Cand> cands;
      for (const std::string method : {"frobenius", "data"})
        for (bool factors : ft_modes) {
          auto f = method == "frobenius" ? factor_linear_svd(fc1, k) : factor_linear_data(fc1, k, fc1_data);
          const double werr = method == "frobenius" ? svd_truncation_error(fc1_svd, k) / fro
                                                    : linear_output_error(fc1, *f, x_cov);
          auto fc2c = copy_linear(fc2);
          auto head = lenet5_head(*model, f, fc2c);
          const double val_before = evaluate(*head, f_val).error_rate();
          const FinetuneChoice c = finetune_choose_epochs(
              *head, factors ? params_of({f.get(), fc2c.get()}) : params_of({fc2c.get()}), f_train, f_val, max_epochs,
              ft_lr, args.seed());
          cands.push_back({method, factors, c.val_error, c.epochs, head});
          cand_rows.push_back({std::to_string(k), method == "frobenius" ? "Frobenius" : "||W||_data (output error)",
                        factors ? "factors + fc2" : "fc2", std::to_string(p), fmt(double(dense_fc1) / double(p), 1) + "x",
                        fmt(werr, 3), fmt_pct(val_before), std::to_string(c.epochs), fmt_pct(c.val_error), "-"});
          std::printf("fc1 K=%lld %s, fine-tuning %s: val %s -> %s after %d epoch(s) (chosen on validation)\n",
                      (long long)k, method.c_str(), factors ? "factors + fc2" : "fc2", fmt_pct(val_before).c_str(),
                      fmt_pct(c.val_error).c_str(), c.epochs);
          std::fflush(stdout);
        }
      // The rule: the candidate with the lowest validation error (ties: the first, Frobenius, fc2 only).
      size_t best = 0;
      for (size_t i = 1; i < cands.size(); ++i)
        if (cands[i].val < cands[best].val) best = i;
      const Cand& b = cands[best];
      const double test = evaluate(*b.head, f_test).error_rate();   // the one test evaluation for this K
      cand_rows[cand_rows.size() - cands.size() + best].back() = fmt_pct(test);
      const double fewer = double(dense_fc1) / double(p);
      const bool met = fewer >= 10.0 && test - base_test <= 0.001 + 1e-12;
      const std::string choice = std::string(b.norm == "frobenius" ? "Frobenius" : "||W||_data") + ", FT " +
                                 (b.factors ? "factors + fc2" : "fc2") + ", " + std::to_string(b.epochs) + " ep";
      floors.add_row({"fc1 K=" + std::to_string(k) + " (" + fmt(fewer, 1) + "x fewer): >= 10x fewer params, <= +0.1 pp",
                      choice, fmt_pct(b.val), fmt_pct(test), fmt_pct(base_test), fmt(100 * (test - base_test), 2) + " pp",
                      met ? "yes" : "no"});
      char line[256];
      std::snprintf(line, sizeof line, "summary fc1-K%lld dval %+.2f dtest %+.2f b1 %.2f b64 %.2f fewer %.1f",
                    (long long)k, 100 * (b.val - base_val), 100 * (test - base_test), t1.speedup(), t64.speedup(), fewer);
      summary.push_back(line);
      fig_k.push_back(double(k));
      fig_val.push_back(100.0 * b.val);
    }
    std::printf("\n");
    for (auto& r : cand_rows) cand.add_row(r);
    cand.print("fc1 candidates per K (rel. weight error: Frobenius ||W-W~||/||W||; ||W||_data rows: relative output "
               "error on 10k training inputs); test evaluated for the validation choice only");
    timing.print("fc1 timing: one call, one thread, median of interleaved samples, speed-up = dense/factored");
    for (int64_t k = 1; k <= std::min<int64_t>(fc1_svd.rank - 1, 100); ++k) {
      kk.push_back(double(k));
      err.push_back(100.0 * svd_truncation_error(fc1_svd, k) / fro);
    }
  }

  // ---- (b) conv2 biclustered ----
  if (!configs.empty()) {
    auto& conv2 = model->at<Conv2d>("conv2");
    const Conv2d& conv1 = model->at<Conv2d>("conv1");
    std::vector<std::vector<std::string>> ct_rows;
    ResultTable ct({"G", "H", "K", "params", "theory (MACs)", "measured b1 (dense/factored)",
                    "measured b64 (dense/factored)", "block error (RMS)", "val before FT", "FT epochs (val)",
                    "val after FT", "test (chosen only)"});
    struct Trial { GHK c; bool eligible; double val; std::shared_ptr<Sequential> prefix, head; double b1, b64, theory; };
    std::vector<Trial> trials;
    for (const GHK& c : configs) {
      auto bc = std::make_shared<BiclusteredConv>(conv2, c.g, c.h, c.k, args.seed());
      // Deployed form: the channel permutations folded into copies of conv1 and fc1, so conv2 runs
      // as grouped 5x5, shuffle, grouped 1x1 only (fold_permutations()).
      auto conv1c = std::make_shared<Conv2d>(conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.options);
      conv1c->weight.var.value() = conv1.weight.var.value().clone();
      conv1c->bias->var.value() = conv1.bias->var.value().clone();
      auto fc1c = copy_linear(fc1), fc2c = copy_linear(fc2);
      bc->fold_permutations(*conv1c, *fc1c, 16);   // fc1 reads pool2's [50, 4, 4]: 16 inputs per channel
      const PairTiming t1 = time_pair(conv2, *bc, {20, 12, 12}, 1, samples);
      const PairTiming t64 = time_pair(conv2, *bc, {20, 12, 12}, 64, samples);
      const double theory = 25000.0 / double(bc->factored_macs_per_pixel());
      // Eligible for the floor: biclustered (G·H >= 2) and >= 2x measured at batch 1 and 64.
      const bool fast = t1.speedup() >= 2.0 && t64.speedup() >= 2.0;
      const bool eligible = fast && c.g * c.h >= 2;
      auto prefix = sub_sequential(*model, {"conv1", "pool1", "conv2", "pool2"}, {{"conv1", conv1c}, {"conv2", bc}});
      const Dataset c_val = cached_features(*prefix, data.val);
      auto head = lenet5_head(*model, fc1c, fc2c);
      const double val_before = evaluate(*head, c_val).error_rate();
      double be = 0;
      for (double e : bc->block_error) be += e * e;
      be = std::sqrt(be / double(bc->block_error.size()));
      std::vector<std::string> row{std::to_string(c.g), std::to_string(c.h), std::to_string(c.k),
                                   std::to_string(bc->num_parameters()), fmt(theory, 2) + "x", timing_cell(t1, 1),
                                   timing_cell(t64, 0), fmt(be, 3), fmt_pct(val_before), "-", "-", "-"};
      double val_after = 1.0;
      if (fast) {   // fine-tuning only where the speed rule admits the setting (saves the CPU budget)
        const Dataset c_train = cached_features(*prefix, ft_train);
        const FinetuneChoice fc = finetune_choose_epochs(*head, params_of({fc1c.get(), fc2c.get()}), c_train, c_val,
                                                         max_epochs, ft_lr, args.seed());
        val_after = fc.val_error;
        row[9] = std::to_string(fc.epochs);
        row[10] = fmt_pct(val_after);
      }
      ct_rows.push_back(row);
      trials.push_back({c, eligible, val_after, prefix, head, t1.speedup(), t64.speedup(), theory});
      std::printf("conv2 G=%lld H=%lld K=%lld: theory %.2fx, measured b1 %.2fx b64 %.2fx; val %s -> %s%s\n",
                  (long long)c.g, (long long)c.h, (long long)c.k, theory, t1.speedup(), t64.speedup(),
                  fmt_pct(val_before).c_str(), fast ? fmt_pct(val_after).c_str() : "- (not fine-tuned: < 2x measured)",
                  eligible || !fast ? "" : " (reference: not biclustered)");
      std::fflush(stdout);
    }
    // The rule: among the eligible settings, the lowest validation error after fine-tuning.
    int best = -1;
    for (size_t i = 0; i < trials.size(); ++i)
      if (trials[i].eligible && (best < 0 || trials[i].val < trials[best].val)) best = static_cast<int>(i);
    if (best >= 0) {
      const Trial& b = trials[best];
      const Dataset c_test = cached_features(*b.prefix, data.test);
      const double test = evaluate(*b.head, c_test).error_rate();   // the one test evaluation of conv2
      ct_rows[best].back() = fmt_pct(test);
      const bool met = test - base_test <= 0.003 + 1e-12;
      floors.add_row({"conv2 biclustered: >= 2x measured (b1 and b64), <= +0.3 pp",
                      "G=" + std::to_string(b.c.g) + " H=" + std::to_string(b.c.h) + " K=" + std::to_string(b.c.k) + " (" +
                          fmt(b.b1, 2) + "x b1, " + fmt(b.b64, 2) + "x b64)",
                      fmt_pct(b.val), fmt_pct(test), fmt_pct(base_test), fmt(100 * (test - base_test), 2) + " pp",
                      met ? "yes" : "no"});
      char line[256];
      std::snprintf(line, sizeof line, "summary conv2 dval %+.2f dtest %+.2f b1 %.2f b64 %.2f theory %.2f G %lld H %lld K %lld",
                    100 * (b.val - base_val), 100 * (test - base_test), b.b1, b.b64, b.theory, (long long)b.c.g,
                    (long long)b.c.h, (long long)b.c.k);
      summary.push_back(line);
    } else {
      floors.add_row({"conv2 biclustered: >= 2x measured (b1 and b64), <= +0.3 pp", "no setting reached 2x", "-", "-",
                      fmt_pct(base_test), "-", "no"});
      summary.push_back("summary conv2 none");
    }
    std::printf("\n");
    for (auto& r : ct_rows) ct.add_row(r);
    ct.print("conv2 settings (theory: 25000 / (d^2 C H K + G K N) MACs per pixel; timing one call, one thread, median, "
             "speed-up = dense/factored; fine-tuned: fc1 and fc2 above); test evaluated for the validation choice only");
    if (!args.json_path().empty()) ct.write_json(args.json_path() + ".conv2.json");
  }
  floors.print("Floors (papers.md section 9); paper: fc 5-13x fewer weights, conv ~2x within 1 % (ImageNet)");
  std::printf("dense val %.2f test %.2f\n", 100 * base_val, 100 * base_test);
  for (const std::string& l : summary) std::printf("%s\n", l.c_str());
  if (!args.json_path().empty()) floors.write_json(args.json_path());

  if (!kk.empty()) {
    // Figure: fc1's relative reconstruction error against K (from the singular values), and the
    // validation error of the setting chosen at each K.
    SvgPlot p("LeNet-5 fc1 by truncated SVD: reconstruction error and accuracy against rank K", "rank K",
              "percent (log)");
    p.log_y = true;
    p.line("relative reconstruction error ||W - W_K||_F / ||W||_F (%)", kk, err);
    p.points("validation error after fine-tuning, setting chosen on validation (%)", fig_k, fig_val);
    p.set_x_range(0, 100);
    p.set_y_range(0.3, 100);
    p.hline(100.0 * base_val, "dense validation error");
    const std::string svg =
        args.svg_path(quick ? "build/figures/lowrank_svd-quick.svg" : "book/figures/lowrank_svd-lenet5-mnist.svg");
    std::filesystem::path sp(svg);
    if (sp.has_parent_path()) std::filesystem::create_directories(sp.parent_path());
    p.write(svg);
    std::printf("figure: %s\n", svg.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_main("lowrank_svd", argc, argv, run); }
