// examples/demo.cpp — `make demo`, the project's front door: one table of accuracy, size and
// speed for each technique in the book, run on real MNIST.
//
// The demo is a list of steps (kSteps below). Each step is one small function that takes the
// shared DemoContext — the data, the trained baseline, the table — does its chapter's thing
// and adds rows. The tour today: train (book/03-training.md) → prune, share, Huffman (Deep
// Compression's pipeline, book/14 and book/15, run from its real compressed file) → binarize
// (XNOR-Net, book/23, run on the packed popcount kernels) → distill (a 7x smaller student on the
// baseline's soft targets, book/25).
// Every size in the table is bytes of a real format: float32 parameters, CSR arrays, the
// compressed file on disk, the packed binary file on disk.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "compression/coding/csr.h"
#include "compression/deep_compression.h"
#include "compression/quantization/packed_binary.h"
#include "distill/kd.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/rng.h"
#include "engine/summary.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/models/baseline.h"
#include "layers/shape.h"

using namespace mgf;

namespace {

struct DemoContext {
  const ExampleArgs& args;
  DataSplits data;
  std::shared_ptr<Sequential> baseline;   // set by the first step; later steps start from it
  int64_t baseline_bytes = 0;
  std::shared_ptr<Sequential> dense = nullptr;   // a copy of the trained baseline before compression (the distillation teacher)
  ResultTable table{{"step", "model", "test error", "size", "vs dense", "ms/epoch", "batch-1 latency (us)", "wall (s)"}};
};

// One row: test error on the demo's test set, size from parameter_bytes() (so a compressed
// layer reports its real bytes through ReportsBytes), latency from summarize().
void add_row(DemoContext& ctx, const std::string& step, Module& model, double ms_per_epoch, double wall_s) {
  const EvalResult r = evaluate(model, ctx.data.test);
  const int64_t bytes = parameter_bytes(model);
  const double lat = summarize(model, {1, 1, 28, 28}, 50).latency_us;
  const double ratio = ctx.baseline_bytes > 0 ? static_cast<double>(ctx.baseline_bytes) / static_cast<double>(bytes) : 1.0;
  ctx.table.add_row({step, model.type_name() + ", in memory", fmt_pct(r.error_rate()) + " (" + std::to_string(r.errors) + "/" + std::to_string(r.count) + ")",
                     fmt(static_cast<double>(bytes) / 1024.0, 1) + " KB", fmt(ratio, 1) + "x",
                     ms_per_epoch > 0 ? fmt(ms_per_epoch, 0) : "-", fmt(lat, 1), fmt(wall_s, 1)});
}

// A row from numbers a chapter measured itself (no model object to evaluate here).
void add_measured_row(DemoContext& ctx, const std::string& step, const std::string& model, double error,
                      int64_t errors, int64_t count, int64_t bytes, int64_t dense_bytes, double wall_s,
                      const std::string& latency = "-") {
  ctx.table.add_row({step, model, fmt_pct(error) + " (" + std::to_string(errors) + "/" + std::to_string(count) + ")",
                     fmt(static_cast<double>(bytes) / 1024.0, 1) + " KB",
                     fmt(static_cast<double>(dense_bytes) / static_cast<double>(bytes), 1) + "x", "-", latency,
                     fmt(wall_s, 1)});
}

// Steps 2-4 (book/14-magnitude_pruning.md, book/15-deep_compression.md): Deep Compression's
// pipeline on the trained baseline. Pruning keeps the paper's 8/9/26 %; its size is the CSR
// arrays of the pruned weights (values + column indices + row pointers) plus float biases.
// Sharing and Huffman sizes are the compressed file on disk (fixed-width codes, then
// Huffman-coded), and their error is measured by running the model loaded from that file.
void step_deep_compression(DemoContext& ctx) {
  DeepCompressionConfig cfg = deep_compression_paper_config("lenet300");
  cfg.prune_steps = ctx.args.quick() ? 1 : 3;
  cfg.prune_epochs = 1;
  cfg.quant_epochs = 1;
  cfg.seed = ctx.args.seed();
  cfg.file = "build/demo-lenet300.mgfdc";
  int64_t csr_bytes = 0;
  double pruned_wall = 0;
  const auto t0 = std::chrono::steady_clock::now();
  cfg.after_prune = [&](Module& m) {
    pruned_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const NamedParameter& np : m.named_parameters()) {
      const Tensor& w = np.param->var.value();
      if (w.ndim() == 2)   // 16-bit column indices, as SparseLinear stores them (6 bytes per nonzero)
        csr_bytes += csr_narrow(csr_from_dense(w.data(), w.dim(0), w.dim(1))).storage_bytes();
      else csr_bytes += w.numel() * static_cast<int64_t>(sizeof(float));   // biases stay dense
    }
  };
  std::printf("\n[2-4] Deep Compression of the baseline: prune to 8/9/26 %% (%d step%s), k-means %d bits, "
              "Huffman; then run from the file\n",
              cfg.prune_steps, cfg.prune_steps > 1 ? "s" : "", cfg.fc_bits);
  std::fflush(stdout);
  const DeepCompressionResult r = compress_and_measure(*ctx.baseline, [] { return make_model("lenet300"); }, ctx.data, cfg);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t n = ctx.data.test.size();
  auto errs = [&](double e) { return static_cast<int64_t>(e * static_cast<double>(n) + 0.5); };
  // Each row names the model its error comes from. Row 2 is the pruned float model in memory
  // (its size is what CSR would store); rows 3 and 4 each run the model loaded from its own
  // file: the fixed-width P+Q file that compress_and_measure writes beside the Huffman one,
  // and the Huffman-coded P+Q+H file. *ctx.baseline is now the simulated (pruned, shared) model.
  add_measured_row(ctx, "2 prune (size as CSR)", "pruned float, in memory", r.error_pruned, errs(r.error_pruned), n,
                   csr_bytes, ctx.baseline_bytes, pruned_wall);
  const std::string pq_file = cfg.file + ".pq";
  CompressedRunner pq_runner(load_compressed(pq_file), make_model("lenet300"));
  const EvalResult pq = evaluate(pq_runner, ctx.data.test);
  int64_t pq_mismatches = 0;
  double pq_max_diff = 0;
  compare_predictions(pq_runner, *ctx.baseline, ctx.data.test, &pq_mismatches, &pq_max_diff);
  add_measured_row(ctx, "3 + share (k-means), P+Q file", "CompressedRunner <- " + pq_file, pq.error_rate(), pq.errors,
                   pq.count, r.pq_file_bytes, ctx.baseline_bytes, wall);
  add_measured_row(ctx, "4 + Huffman, P+Q+H file", "CompressedRunner <- " + cfg.file, r.error_deployed,
                   errs(r.error_deployed), n, r.file_bytes, ctx.baseline_bytes, wall);
  std::printf("    simulated model (in memory): test error %s; of %lld predictions, %lld differ from the P+Q file's "
              "and %lld from the P+Q+H file's\n",
              fmt_pct(r.error_quantized).c_str(), static_cast<long long>(n), static_cast<long long>(pq_mismatches),
              static_cast<long long>(r.prediction_mismatches));
  check_sim_equals_deploy(pq_file, pq_mismatches, n, pq_max_diff);
  check_sim_equals_deploy(cfg.file, r.prediction_mismatches, n, r.max_logit_diff);
}

// The demo's "binarize" row in one call: trains an XNOR-Net (B-A-C-P) LeNet-5 for `epochs`,
// writes it packed to `packed_path`, reloads it and runs the packed model (popcount kernels)
// on the test set.
struct BinarizeRow {
  double sim_error = 0, packed_error = 0;          // test error of the float simulation / packed model
  int64_t float_bytes = 0, deployed_bytes = 0, file_bytes = 0;
  double train_seconds = 0, packed_images_per_s = 0;
};
BinarizeRow xnor_binarize_row(const DataSplits& data, int epochs, const std::string& packed_path) {
  BinaryNetConfig cfg;  // XNOR-Net, B-A-C-P, α and β
  BinaryLeNet5 model(cfg);
  BinarizeRow row;
  const auto t0 = std::chrono::steady_clock::now();
  BinaryTrainOptions o;
  o.epochs = epochs;
  row.sim_error = train_binary_lenet(model, data, o, "xnor").error_rate();
  row.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.float_bytes = model.float_weight_bytes();
  row.deployed_bytes = model.deployed_weight_bytes();
  row.file_bytes = export_packed(model, packed_path);
  PackedBinaryNet packed(packed_path);
  PackedEval pe = evaluate_packed(packed, data.test);
  row.packed_error = static_cast<double>(pe.errors) / static_cast<double>(std::max<int64_t>(1, pe.count));
  row.packed_images_per_s = pe.seconds > 0 ? static_cast<double>(pe.count) / pe.seconds : 0;
  return row;
}

// Step 5 (book/23-xnor.md): an XNOR-Net LeNet-5 (binary weights and inputs in conv2 and fc1,
// real first and last layers), trained here, exported packed and run on popcount kernels.
// Its "vs dense" is against the same network in float32.
void step_binarize(DemoContext& ctx) {
  DataSplits d = ctx.data;
  const int64_t n_train = ctx.args.quick() ? 2000 : 20000;
  if (d.train.size() > n_train) d.train = d.train.slice(0, n_train);
  const int epochs = ctx.args.quick() ? 1 : 2;
  std::printf("\n[5] binarize: XNOR-Net LeNet-5, %d epoch%s on %lld images, packed to build/demo-lenet5.xnor\n", epochs,
              epochs > 1 ? "s" : "", static_cast<long long>(d.train.size()));
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  const BinarizeRow b = xnor_binarize_row(d, epochs, "build/demo-lenet5.xnor");
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t n = d.test.size();
  add_measured_row(ctx, "5 binarize (XNOR), packed file", "PackedBinaryNet <- build/demo-lenet5.xnor", b.packed_error,
                   static_cast<int64_t>(b.packed_error * static_cast<double>(n) + 0.5), n, b.file_bytes, b.float_bytes,
                   wall);
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
  ctx.dense = make_model("lenet300");   // later steps compress ctx.baseline in place
  auto src = ctx.baseline->parameters(), dst = ctx.dense->parameters();
  for (size_t i = 0; i < src.size(); ++i) dst[i]->var.value() = src[i]->var.value().clone();
}

// Step 6 (book/25-distillation.md): the trained dense baseline (ctx.dense) as teacher, its logits for the
// training images computed once (distill/kd.h), a 784-50-50-10 student trained on them at
// T = 4 with soft weight 0.9: a network 7x smaller than the teacher, in memory.
void step_distill(DemoContext& ctx) {
  const int epochs = ctx.args.quick() ? 1 : 4;
  std::printf("\n[6] distill: LeNet-300-100 -> 784-50-50-10 student, T = 4, %d epoch%s on cached teacher logits\n", epochs,
              epochs > 1 ? "s" : "");
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  const Tensor logits = compute_logits(*ctx.dense, ctx.data.train);
  auto student = std::make_shared<Sequential>();
  student->add("flatten", std::make_shared<Flatten>());
  student->add("fc1", std::make_shared<Linear>(784, 50));
  student->add("relu1", std::make_shared<ReLU>());
  student->add("fc2", std::make_shared<Linear>(50, 50));
  student->add("relu2", std::make_shared<ReLU>());
  student->add("fc3", std::make_shared<Linear>(50, 10));
  Rng rng(ctx.args.seed() + 60);
  DataLoader loader(ctx.data.train, 64, true, rng);
  SGD opt(student->parameters(), {.lr = 0.05f, .momentum = 0.9f});
  BatchSchedule sched(cosine_schedule(0.05f, epochs), loader.num_batches());
  sched.reset(opt);
  TrainHooks hooks;
  hooks.schedule = &sched;
  double train_s = 0;
  for (int e = 0; e < epochs; ++e) train_s += train_epoch_kd(*student, opt, loader, logits, 4.0f, 0.9f, hooks, "distill").seconds;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  add_row(ctx, "6 distill (KD, T = 4)", *student, 1000.0 * train_s / epochs, wall);
}

// The tour, in order. A chapter adds its step here: {"prune", step_prune}, ...
const std::vector<std::pair<const char*, std::function<void(DemoContext&)>>> kSteps = {
    {"train", step_train_baseline},
    {"deep compression", step_deep_compression},
    {"binarize", step_binarize},
    {"distill", step_distill},
};

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("demo",
                   "The tour: trains LeNet-300-100 on MNIST, then prunes, shares and Huffman-codes it (Deep\n"
                   "Compression, run from its compressed file) and binarizes a LeNet-5 (XNOR-Net, run on packed\n"
                   "popcount kernels), and distils it into a 784-50-50-10 student; prints accuracy, size and speed in one table.",
                   "about 2-3 minutes on 2 idle cores; --quick: a few seconds",
                   {"--data", "--epochs", "--json"});
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
  // Each step draws from its own seeded stream (seed + its index), so what one step draws (a
  // skeleton model built to load a file, say) cannot move another step's numbers.
  for (size_t i = 0; i < kSteps.size(); ++i) {
    manual_seed(args.seed() + i);
    kSteps[i].second(ctx);
  }
  std::printf("\n");
  ctx.table.print("mustgofast: accuracy, size and speed per technique (LeNet-300-100, MNIST" +
                  std::string(args.quick() ? ", quick slice" : "") + ")");
  if (!args.json_path().empty()) ctx.table.write_json(args.json_path());
  std::printf("\nsize = bytes as stored (float32 parameters; CSR arrays; the compressed or packed file on disk);\n"
              "vs dense = the same network's float32 bytes / this size; latency = median forward of one image;\n"
              "model = where each error is measured: rows 1-2 and 6 in memory, rows 3-5 by running the model loaded\n"
              "from the file named. Rows 2-5 use short schedules (one retraining epoch per step); the\n"
              "chapters' full runs are in book/14, book/15, book/23 and book/25.\n"
              "Total wall time %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

// One error path (engine/cli.h): "demo: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("demo", argc, argv, run); }
