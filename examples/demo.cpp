// examples/demo.cpp — `make demo`, the project's front door: one table of accuracy, size and
// speed for each technique in the book, run on real MNIST.
//
// The demo is a list of steps (kSteps below). Each step is one small function that takes the
// shared DemoContext — the data, the trained baseline, the table — does its chapter's thing
// and adds one row with add_row(). Today there is one step, the baseline itself; the
// compression chapters (prune → share → Huffman → binarize → distill) each add a function
// and one line to kSteps.
// Book: book/03-training.md (and every later chapter adds its row).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "engine/cli.h"
#include "engine/data.h"
#include "engine/summary.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/models/baseline.h"

using namespace mgf;

namespace {

struct DemoContext {
  const ExampleArgs& args;
  DataSplits data;
  std::shared_ptr<Sequential> baseline;   // set by the first step; later steps start from it
  int64_t baseline_bytes = 0;
  ResultTable table{{"step", "model", "test error", "size", "vs dense", "ms/epoch", "batch-1 latency (us)", "wall (s)"}};
};

// One row: test error on the demo's test set, size from parameter_bytes() (so a compressed
// layer reports its real bytes through ReportsBytes), latency from summarize().
void add_row(DemoContext& ctx, const std::string& step, Module& model, double ms_per_epoch, double wall_s) {
  const EvalResult r = evaluate(model, ctx.data.test);
  const int64_t bytes = parameter_bytes(model);
  const double lat = summarize(model, {1, 1, 28, 28}, 50).latency_us;
  const double ratio = ctx.baseline_bytes > 0 ? static_cast<double>(ctx.baseline_bytes) / static_cast<double>(bytes) : 1.0;
  ctx.table.add_row({step, model.type_name(), fmt_pct(r.error_rate()) + " (" + std::to_string(r.errors) + "/" + std::to_string(r.count) + ")",
                     fmt(static_cast<double>(bytes) / 1024.0, 1) + " KB", fmt(ratio, 1) + "x",
                     ms_per_epoch > 0 ? fmt(ms_per_epoch, 0) : "-", fmt(lat, 1), fmt(wall_s, 1)});
}

// Step 1 (book/03-training.md): train LeNet-300-100, a short version of the baseline recipe.
void step_train_baseline(DemoContext& ctx) {
  BaselineRecipe r = baseline_recipe("lenet300", ctx.args.quick());
  r.epochs = ctx.args.epochs(8, r.epochs);   // about a minute on 2 busy cores
  r.max_test = -1;                           // the test set was already sliced by main()
  ctx.baseline = make_model("lenet300");
  std::printf("[1] training LeNet-300-100: %d epochs on %lld images\n", r.epochs,
              static_cast<long long>(r.max_train < 0 ? ctx.data.train.size() : r.max_train));
  const auto t0 = std::chrono::steady_clock::now();
  double train_s = 0.0;
  train_with_recipe(*ctx.baseline, ctx.data, r, ctx.args.seed(), [&](const EpochLog& l) {
    train_s += l.train.seconds;
    std::printf("    epoch %d: test error %.2f %%\n", l.epoch, 100.0 * l.test.error_rate());
    std::fflush(stdout);
  });
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ctx.baseline_bytes = parameter_bytes(*ctx.baseline);
  add_row(ctx, "1 train (dense float32)", *ctx.baseline, 1000.0 * train_s / std::max(r.epochs, 1), wall);
}

// The tour, in order. A chapter adds its step here: {"prune", step_prune}, ...
const std::vector<std::pair<const char*, std::function<void(DemoContext&)>>> kSteps = {
    {"train", step_train_baseline},
};

}  // namespace

int main(int argc, char** argv) {
  ExampleArgs args("demo",
                   "The tour: trains LeNet-300-100 on MNIST and prints accuracy, size and speed in one table;\n"
                   "each compression chapter adds a row (prune, share, Huffman, binarize, distill).",
                   "about a minute on 2 cores; --quick: a few seconds");
  args.parse(argc, argv);
  set_training_output(isatty(2));
  const auto t0 = std::chrono::steady_clock::now();
  DemoContext ctx{args, {}, nullptr, 0};
  try {
    ctx.data = load_mnist_like(args.data_dir(), "mnist", args.quick() ? 10000 : -1, args.quick() ? 2000 : -1);
  } catch (const DataNotFound& e) {
    std::fprintf(stderr,
                 "demo: the demo needs MNIST.\n%s\n"
                 "After `make data` (or with ../shared/data present) run `make demo` again.\n",
                 e.what());
    return 1;
  }
  std::printf("mustgofast demo: MNIST from %s (%lld train, %lld test images), %d threads\n\n", ctx.data.dir.c_str(),
              static_cast<long long>(ctx.data.train.size()), static_cast<long long>(ctx.data.test.size()), num_threads());
  for (const auto& [name, step] : kSteps) step(ctx);
  std::printf("\n");
  ctx.table.print("mustgofast: accuracy, size and speed per technique (LeNet-300-100, MNIST" +
                  std::string(args.quick() ? ", quick slice" : "") + ")");
  if (!args.json_path().empty()) ctx.table.write_json(args.json_path());
  std::printf("\nsize = bytes of parameters as stored; latency = median forward of one image; "
              "total wall time %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
