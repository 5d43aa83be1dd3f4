// examples/mobilenet_v2.cpp — MobileNetV2 (Sandler et al. 2018) at small scale on Fashion-MNIST.
//
// A mini-MobileNetV2 (stem + 6 inverted residual blocks + 1×1 head, layers/models/mobilenet.h):
//   (7) the ablations of §6.3 / Fig. 6: linear vs ReLU6 bottleneck (mean ± sd over --seeds),
//       shortcut between bottlenecks vs between expansions, and the expansion t ∈ {1, 3, 6, 10}
//       (§6.1: "expansion rates 5 to 10 give nearly identical performance"), those over
//       --sweep-seeds;
//   (8) the memory argument of §5: the peak activation memory of one inference, measured by the
//       engine's tensor-storage accounting (peak_activation_bytes, engine/summary.h), for the
//       mini-MobileNetV2 and a MobileNet-v1-style net, each beside its accuracy, with plain
//       inference and with §5.1's piecewise inference (the one the paper's Table 3 assumes).
// Every table row has params, MACs, measured latency at batch 1 and 64, and accuracy. Every
// choice is fixed in advance; the validation split is held out and reported beside the test
// error. Book: book/07-mobilenet_v2.md.
//   build/examples/mobilenet_v2 --threads 1    # full run, see --help for duration
//   build/examples/mobilenet_v2 --threads 1 --sweep-seeds 3   # every row over 3 seeds, as book 07 reports (18 min under load)
//   build/examples/mobilenet_v2 --quick
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/cli.h"
#include "engine/data.h"
#include "engine/rng.h"
#include "engine/summary.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "layers/models/baseline.h"
#include "layers/models/mobilenet.h"

using namespace mgf;

namespace {
// (8) without training: peak activation memory does not depend on the weights' values, so
// this table needs no data. The V2 net as our engine runs it by default (every wide tensor
// materialised), and in t pieces (§5.1), beside the V1-style net.
ResultTable memory_table(int samples) {
  ResultTable t({"net", "params", "MACs", "latency b1 (ms)", "peak act. (KiB)"});
  auto add = [&](const std::string& name, Sequential& net) {
    const ModelSummary s = summarize(net, {1, 1, 28, 28}, 1);
    t.add_row({name, std::to_string(s.params), std::to_string(s.macs),
               fmt(forward_latency_us(net, {1, 1, 28, 28}, samples) / 1000.0, 3),
               fmt(peak_activation_bytes(net, {1, 1, 28, 28}) / 1024.0, 1)});
  };
  auto v1 = make_mobilenet_v1(1.0, true);
  add("MobileNet-v1-style (book 05)", *v1);
  auto v2 = make_mobilenet_v2();
  add("mini-MobileNetV2, t = 6, whole blocks", *v2);
  set_inference_pieces(*v2, 6);
  add("mini-MobileNetV2, t = 6, in 6 pieces (5.1)", *v2);
  return t;
}
}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("mobilenet_v2",
                   "MobileNetV2 (Sandler et al. 2018) on Fashion-MNIST with a mini-MobileNetV2 of 6 inverted residual\n"
                   "blocks: linear vs ReLU6 bottleneck (seeds), shortcut between bottlenecks vs between expansions,\n"
                   "expansion t in {1, 3, 6, 10}, and the measured peak activation memory of one inference against a\n"
                   "MobileNet-v1-style net.",
                   "full run (defaults, --threads 1): 6 min measured on the shared 2-core VM at load 3 (longer under more load); --memory-only: seconds; --quick: about 25 s",
                   {"--data", "--epochs", "--val", "--json", "--svg"});
  declare_mobile_flags(args, 5000, 1000, 3000, "seeds for linear vs ReLU6 bottleneck",
                       "SGD learning rate (momentum 0.9, weight decay 4e-5, cosine, 0.5 warm-up epoch, batch 64)");
  args.option("--sweep-seeds", "1", "seeds for the shortcut and t comparisons and the V1-style net of (8) (at most --seeds; "
              "the t = 6 / bottleneck-shortcut rows reuse the first seeds of the linear run)");
  args.option("--memory-only", "false", "only experiment 8's peak-memory table on untrained nets (seconds)");
  args.parse(argc, argv);
  const bool quick = args.quick();
  if (args.get_bool("--memory-only")) {
    memory_table(quick ? 3 : 15).print("(8) peak activation memory of one 28x28 inference, untrained nets (the peak does not depend on the weights)");
    return 0;
  }
  set_training_output(isatty(2));
  const auto wall0 = std::chrono::steady_clock::now();

  const int sweep_seeds = static_cast<int>(args.get_int("--sweep-seeds", 1, 10));
  if (sweep_seeds > args.get_int("--seeds", 1, 10))   // checked before the data is loaded
    args.fail("--sweep-seeds expects at most --seeds (" + args.get("--seeds") + "), found " + std::to_string(sweep_seeds));
  MobileRun mr = load_mobile_run(args, 3, 4e-5f);   // weight decay 4e-5: MobileNetV2 §6.1
  const DataSplits& data = mr.data;
  const BaselineRecipe& recipe = mr.recipe;
  const int seeds = mr.seeds;
  const std::string set = args.get("--set");

  struct Result {
    std::vector<double> val, test;   // % error per seed
    ModelSummary summary;
    double lat1 = 0, lat64 = 0;      // ms
    int64_t peak = 0;                // bytes, one image
  };
  auto train_eval = [&](const std::string& label, const std::function<std::shared_ptr<Sequential>()>& make, int n_seeds) {
    Result r;
    std::shared_ptr<Sequential> net;
    for (int s = 0; s < n_seeds; ++s) {
      std::printf("\n%s, seed %d\n", label.c_str(), s);
      manual_seed(args.seed() + s);
      net = make();
      auto logs = train_with_recipe(*net, data, recipe, args.seed() + s, [&](const EpochLog& l) {
        std::printf("  epoch %d  train loss %.4f  val error %s  %.1f s\n", l.epoch, l.train.loss,
                    fmt_pct(l.val.error_rate()).c_str(), l.train.seconds);
        std::fflush(stdout);
      });
      r.val.push_back(100.0 * logs.back().val.error_rate());
      r.test.push_back(100.0 * logs.back().test.error_rate());
    }
    r.summary = summarize(*net, {1, 1, 28, 28}, 1);
    r.lat1 = forward_latency_us(*net, {1, 1, 28, 28}, quick ? 3 : 15) / 1000.0;
    r.lat64 = forward_latency_us(*net, {64, 1, 28, 28}, quick ? 2 : 5) / 1000.0;
    r.peak = peak_activation_bytes(*net, {1, 1, 28, 28});
    return r;
  };
  auto row = [](ResultTable& t, const std::string& name, const Result& r) {
    const MeanSd v = mean_sd(r.val), te = mean_sd(r.test);
    const bool many = r.test.size() > 1;
    t.add_row({name, std::to_string(r.summary.params), std::to_string(r.summary.macs), fmt(r.lat1, 3), fmt(r.lat64, 2),
               fmt(r.peak / 1024.0, 1), many ? fmt(v.mean) + " ± " + fmt(v.sd) + " %" : fmt(v.mean) + " %",
               many ? fmt(te.mean) + " ± " + fmt(te.sd) + " %" : fmt(te.mean) + " %", std::to_string(r.test.size())});
  };
  const std::vector<std::string> cols = {"net", "params", "MACs", "latency b1 (ms)", "latency b64 (ms)", "peak act. (KiB)",
                                         "val error", "test error", "seeds"};
  auto v2 = [](int64_t t, bool linear, Shortcut sc) {
    return [=] {
      MobileNetV2Options o;
      o.t = t;
      o.linear_bottleneck = linear;
      o.shortcut = sc;
      return make_mobilenet_v2(o);
    };
  };

  // ---- (7a) linear vs ReLU6 bottleneck ------------------------------------------------------
  Result linear = train_eval("(7a) linear bottleneck, t = 6", v2(6, true, Shortcut::bottleneck), seeds);
  Result relu6b = train_eval("(7a) ReLU6 bottleneck, t = 6", v2(6, false, Shortcut::bottleneck), seeds);
  ResultTable t7a(cols);
  row(t7a, "linear bottleneck (MobileNetV2)", linear);
  row(t7a, "ReLU6 after the projection", relu6b);
  t7a.add_row({"paper Fig. 6a (ImageNet)", "", "", "", "", "", "", "linear > ReLU6 (curves, no number)", ""});
  std::printf("\n");
  t7a.print("(7a) linear vs ReLU6 bottleneck");
  const double d7a = mean_sd(relu6b.test).mean - mean_sd(linear.test).mean;
  std::printf("ReLU6 minus linear test error: %+.2f pp (floor: linear <= ReLU6 in the mean, i.e. >= 0)\n", d7a);

  // ---- (7b) shortcut placement -------------------------------------------------------------
  Result expansion = train_eval("(7b) shortcut between expansions, t = 6", v2(6, true, Shortcut::expansion), sweep_seeds);
  Result none = train_eval("(7b) no shortcut, t = 6", v2(6, true, Shortcut::none), sweep_seeds);
  Result bottleneck1 = linear;   // the first seeds of (7a) are the same net and seeds
  bottleneck1.val.resize(sweep_seeds);
  bottleneck1.test.resize(sweep_seeds);
  ResultTable t7b(cols);
  row(t7b, "shortcut between bottlenecks (seeds of 7a)", bottleneck1);
  row(t7b, "shortcut between expansions", expansion);
  row(t7b, "no shortcut", none);
  t7b.add_row({"paper Fig. 6b (ImageNet)", "", "", "", "", "", "", "bottleneck > expansion > none (curves)", ""});
  std::printf("\n");
  t7b.print("(7b) where the shortcut joins");

  // ---- (7c) expansion factor t -------------------------------------------------------------
  ResultTable t7c(cols);
  std::vector<double> tx, ty;
  for (int64_t t : {1, 3, 6, 10}) {
    Result r = t == 6 ? bottleneck1 : train_eval("(7c) t = " + std::to_string(t), v2(t, true, Shortcut::bottleneck), sweep_seeds);
    row(t7c, "t = " + std::to_string(t), r);
    tx.push_back(static_cast<double>(t));
    ty.push_back(100.0 - mean_sd(r.test).mean);
  }
  t7c.add_row({"paper §6.1 (ImageNet)", "", "", "", "", "", "", "t = 5..10 nearly identical", ""});
  std::printf("\n");
  t7c.print("(7c) expansion factor t (linear bottleneck, bottleneck shortcut)");

  // ---- (8) peak activation memory --------------------------------------------------------
  Result v1 = train_eval("(8) MobileNet-v1-style net (depthwise separable, alpha 1)",
                         [] { return make_mobilenet_v1(1.0, true); }, sweep_seeds);
  ResultTable t8(cols);
  row(t8, "MobileNet-v1-style (book 05)", v1);
  row(t8, "mini-MobileNetV2, t = 6, whole blocks", bottleneck1);
  std::printf("\n");
  t8.print("(8) peak activation memory of one 28x28 inference (tensor storage alive at the peak, minus parameters and input)");
  std::printf("peak ratio v1 / v2 with whole blocks: %.2fx (paper, Table 3: the largest tensors to materialise with §5.1's "
              "split inference, V1 vs V2, fall 4x; the split is measured in the next table)\n",
              double(v1.peak) / double(bottleneck1.peak));

  std::printf("\n");
  memory_table(quick ? 3 : 15).print("(8) the same, with MobileNetV2 5.1's split inference (untrained nets: the peak does not depend on the weights)");

  const std::string svg = args.svg_path("build/figures/mobilenet_v2-t.svg");
  SvgPlot p("mini-MobileNetV2 on " + set + ": accuracy vs expansion t", "expansion factor t", "test accuracy (%)");
  p.line("linear bottleneck, mean of " + std::to_string(sweep_seeds) + " seed(s)", tx, ty);
  std::filesystem::path sp(svg);
  if (sp.has_parent_path()) std::filesystem::create_directories(sp.parent_path());
  p.write(svg);
  if (!args.json_path().empty()) t7c.write_json(args.json_path());
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("\nfigure: %s\nwall time: %.1f s\n", svg.c_str(), wall);
  return 0;
}

int main(int argc, char** argv) { return run_main("mobilenet_v2", argc, argv, run); }
