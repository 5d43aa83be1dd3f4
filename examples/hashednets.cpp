// examples/hashednets.cpp — reproduces HashedNets (Chen et al. 2015, Table 1 / Fig. 2's shape):
// MNIST 784-1000-10 with both layers hashed, at compression 1/8 .. 1/64, against three nets of
// the same parameter budget (NN: a smaller plain net; RER: the dense net with a fixed random
// mask; LRD: each layer a trained rank-r factorisation), and the dense net (1/1).
// Book: book/16-hashednets.md.
//
//   build/examples/hashednets --threads 1                         (the book's grid, ~1 hour)
//   build/examples/hashednets --threads 1 --factors 64,8 --methods hashnet,nn
//   build/examples/hashednets --timing-only                        (the kernel table only)
//   build/examples/hashednets --quick                              (seconds, for CI)
//
// Protocol, per cell (method × factor): train seed 1 at every --lrs value, keep the lr with the
// lowest VALIDATION error (the last --val training images, never trained on), train the other
// seeds at it; the test set is evaluated once per kept model. Cells run in the order of
// --factors (the floors' cells, 1/64 and 1/8, first); the table, JSON and figure are rewritten
// after every cell, so a run stopped early leaves the cells it finished.
// First, the kernel table: the hashed layer run on the fly (batch 1: hashed_matvec; batch 64:
// hashed tiles + sgemm) against the materialised dense matrix, time and bytes.
// Not here: the paper's DK variant (dark-knowledge targets: the distillation chapter), the
// 5-layer nets, the MNIST variants, Bayesian optimisation of the hyper-parameters.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>

#include "compression/hashing/hashed_linear.h"
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
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "layers/shape.h"

using namespace mgf;
using WallClock = std::chrono::steady_clock;

namespace {

constexpr int64_t kIn = 784, kHidden = 1000, kOut = 10;

// ---- the kernel table -------------------------------------------------------------------
void kernel_table(const std::vector<int>& factors, int samples) {
  ResultTable t({"layer 784->1000", "real weights", "weight bytes", "batch", "kernel", "us / call (median)",
                 "us (min)", "vs dense (median)", "vs dense (min)", "scratch bytes"});
  const int threads = num_threads();
  set_num_threads(1);
  Rng rng(3);
  std::vector<float> Vd(static_cast<size_t>(kIn * kHidden));
  for (auto& v : Vd) v = rng.uniform(-0.05f, 0.05f);
  // Every kernel of one batch size is timed interleaved (median_call_us_interleaved): each sample
  // runs all of them in turn, so a burst of load from other processes hits them alike.
  for (int64_t batch : {int64_t{1}, int64_t{64}}) {
    std::vector<float> A(static_cast<size_t>(batch * kIn)), Z(static_cast<size_t>(batch * kHidden));
    for (auto& v : A) v = rng.uniform(-1.0f, 1.0f);
    const auto dense = [&] {
      sgemm(Trans::N, Trans::T, batch, kHidden, kIn, 1.0f, A.data(), kIn, Vd.data(), kIn, 0.0f, Z.data(), kHidden);
    };
    std::vector<HashedGeom> geoms;
    std::vector<std::vector<float>> ws, scratches;
    for (int f : factors) {
      geoms.push_back(hashed_geom(kIn, kHidden, hashed_buckets_for(kIn, kHidden, 1.0 / f), 11));
      ws.emplace_back(static_cast<size_t>(geoms.back().K));
      for (auto& v : ws.back()) v = rng.uniform(-0.05f, 0.05f);
      scratches.emplace_back(static_cast<size_t>(hashed_scratch_floats(geoms.back())));
    }
    // The scalar side is timed at batch 1 only: at batch 64 it is ~0.3 s a call, longer than a
    // scheduler slice on a shared machine, and says nothing the batch-1 row does not.
    std::vector<KernelMode> kmodes;
    if (batch == 1 || !cpu_has_avx2()) kmodes.push_back(KernelMode::scalar);
    if (cpu_has_avx2()) kmodes.push_back(KernelMode::avx2);
    std::vector<std::function<void()>> fns{dense};
    std::vector<int> inner{batch == 1 ? 20 : 2};
    for (size_t k = 0; k < geoms.size(); ++k)
      for (KernelMode m : kmodes) {
        fns.push_back([&, k, m] {
          KernelModeGuard guard(m);
          hashed_forward(geoms[k], ws[k].data(), A.data(), batch, Z.data(), scratches[k].data());
        });
        inner.push_back(1);
      }
    std::vector<double> mins;
    const std::vector<double> us = median_call_us_interleaved(fns, samples, inner, &mins);
    t.add_row({"dense (materialised V)", std::to_string(kIn * kHidden), std::to_string(4 * kIn * kHidden),
               std::to_string(batch), std::string("sgemm ") + kernel_mode_name(kernel_mode()), fmt(us[0], 1),
               fmt(mins[0], 1), "1.00", "1.00", "0"});
    size_t next = 1;
    for (size_t k = 0; k < geoms.size(); ++k)
      for (KernelMode m : kmodes) {
        const double u = us[next], umin = mins[next];
        ++next;
        t.add_row({"hashed 1/" + std::to_string(factors[k]), std::to_string(geoms[k].K), std::to_string(4 * geoms[k].K),
                   std::to_string(batch),
                   std::string(batch == 1 ? "hashed_matvec " : "hashed tiles + sgemm ") + kernel_mode_name(m),
                   fmt(u, 1), fmt(umin, 1), fmt(u / us[0], 2), fmt(umin / mins[0], 2),
                   batch == 1 ? "0" : std::to_string(4 * hashed_scratch_floats(geoms[k]))});
      }
    if (batch != 1) continue;
    // Cold caches (64 MB written through them before each call, the input then read once): a
    // deployed net's weights are not all in cache; here the dense matrix comes from memory and
    // the hashed layer's K weights do too.
    const double t_cold = median_cold_us(dense, samples, A);
    t.add_row({"dense (materialised V), cold", std::to_string(kIn * kHidden), std::to_string(4 * kIn * kHidden), "1",
               std::string("sgemm ") + kernel_mode_name(kernel_mode()), fmt(t_cold, 1), "-", fmt(t_cold / us[0], 2), "-",
               "0"});
    for (size_t k = 0; k < geoms.size(); ++k) {
      const double u = median_cold_us([&] { hashed_matvec(geoms[k], ws[k].data(), A.data(), Z.data()); }, samples, A);
      t.add_row({"hashed 1/" + std::to_string(factors[k]) + ", cold", std::to_string(geoms[k].K),
                 std::to_string(4 * geoms[k].K), "1", std::string("hashed_matvec ") + kernel_mode_name(kernel_mode()),
                 fmt(u, 1), "-", fmt(u / us[0], 2), "-", "0"});
    }
  }
  set_num_threads(threads);
  t.print("hashed layer on the fly vs the materialised dense matrix (1 thread, median of " + std::to_string(samples) +
          "; forward only; vs dense = time / the warm dense time at that batch, both medians or both minima)");
}

// ---- the models ---------------------------------------------------------------------------
enum class Method { dense, hashnet, nn, rer, lrd };
const char* method_key(Method m) {
  switch (m) {
    case Method::dense: return "dense";
    case Method::hashnet: return "hashnet";
    case Method::nn: return "nn";
    case Method::rer: return "rer";
    case Method::lrd: return "lrd";
  }
  return "?";
}
const char* method_label(Method m) {
  switch (m) {
    case Method::dense: return "dense 784-1000-10";
    case Method::hashnet: return "HashNet";
    case Method::nn: return "NN (equal parameters)";
    case Method::rer: return "RER (random edge removal)";
    case Method::lrd: return "LRD (trained rank r)";
  }
  return "?";
}

// The hashed net's parameter count at factor 1/f: K1 + K2 real weights + 1010 biases — the
// budget every other method is held to.
int64_t budget(int f) {
  return hashed_buckets_for(kIn, kHidden, 1.0 / f) + hashed_buckets_for(kHidden, kOut, 1.0 / f) + kHidden + kOut;
}

struct Built {
  std::shared_ptr<Sequential> net;
  int64_t params = 0;   // stored parameters (RER: kept weights + biases)
  std::string shape;    // "784-17-10", "rank 7 / 1", ...
};

// A fixed random mask keeping exactly `keep` of p's entries (RER): a partial Fisher–Yates.
void random_mask(Parameter& p, int64_t keep, Rng& rng) {
  const int64_t n = p.var.value().numel();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  Tensor m(p.var.value().shape(), 0.0f);
  for (int64_t i = 0; i < keep; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(n - i));
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
    m[idx[static_cast<size_t>(i)]] = 1.0f;
  }
  p.set_mask(std::move(m));
}

Built build(Method m, int f, uint64_t seed) {
  Built b;
  b.net = std::make_shared<Sequential>();
  b.net->add("flat", std::make_shared<Flatten>());
  const int64_t K1 = hashed_buckets_for(kIn, kHidden, 1.0 / f), K2 = hashed_buckets_for(kHidden, kOut, 1.0 / f);
  switch (m) {
    case Method::dense:
    case Method::rer: {
      auto fc1 = b.net->add("fc1", std::make_shared<Linear>(kIn, kHidden));
      b.net->add("relu", std::make_shared<ReLU>());
      auto fc2 = b.net->add("fc2", std::make_shared<Linear>(kHidden, kOut));
      b.shape = "784-1000-10";
      if (m == Method::rer) {
        Rng mask_rng(seed * 7919 + 17);
        random_mask(fc1->weight, K1, mask_rng);
        random_mask(fc2->weight, K2, mask_rng);
        b.params = K1 + K2 + kHidden + kOut;
        b.shape += ", mask " + fmt(100.0 / f, 2) + " %";
      } else {
        b.params = b.net->num_parameters();
      }
      break;
    }
    case Method::hashnet:
      // Each layer its own hash seed, from the run's seed (§4.1: "a different hash function per layer").
      b.net->add("fc1", std::make_shared<HashedLinear>(kIn, kHidden, K1, seed * 2 + 1));
      b.net->add("relu", std::make_shared<ReLU>());
      b.net->add("fc2", std::make_shared<HashedLinear>(kHidden, kOut, K2, seed * 2 + 2));
      b.params = b.net->num_parameters();
      b.shape = "K = " + std::to_string(K1) + " / " + std::to_string(K2);
      break;
    case Method::nn: {
      // The hidden width whose plain net (795·H + 10 parameters) is nearest the budget.
      const int64_t H = std::max<int64_t>(1, std::llround(static_cast<double>(budget(f) - kOut) / (kIn + 1 + kOut)));
      b.net->add("fc1", std::make_shared<Linear>(kIn, H));
      b.net->add("relu", std::make_shared<ReLU>());
      b.net->add("fc2", std::make_shared<Linear>(H, kOut));
      b.params = b.net->num_parameters();
      b.shape = "784-" + std::to_string(H) + "-10";
      break;
    }
    case Method::lrd: {
      // W1 ≈ U1·V1 (rank r1, r1·(784 + 1000) ≈ K1), W2 ≈ U2·V2 (rank r2 ≥ 1), trained from scratch.
      const int64_t r1 = std::max<int64_t>(1, std::llround(static_cast<double>(K1) / (kIn + kHidden)));
      const int64_t r2 = std::max<int64_t>(1, std::llround(static_cast<double>(K2) / (kHidden + kOut)));
      b.net->add("fc1v", std::make_shared<Linear>(kIn, r1, false));
      b.net->add("fc1u", std::make_shared<Linear>(r1, kHidden));
      b.net->add("relu", std::make_shared<ReLU>());
      b.net->add("fc2v", std::make_shared<Linear>(kHidden, r2, false));
      b.net->add("fc2u", std::make_shared<Linear>(r2, kOut));
      b.params = b.net->num_parameters();
      b.shape = "rank " + std::to_string(r1) + " / " + std::to_string(r2);
      break;
    }
  }
  return b;
}

struct Run {
  Built model;
  double val_err = 0, secs = 0;
};

Run train_one(Method m, int f, const DataSplits& data, uint64_t seed, float lr, int epochs, int64_t batch) {
  manual_seed(seed);
  Run r;
  r.model = build(m, f, seed);
  Adam opt(r.model.net->parameters(), AdamOptions{lr});
  Rng shuffle(seed + 1000);
  DataLoader loader(data.train, batch, true, shuffle);
  BatchSchedule sched(cosine_schedule(lr, epochs), loader.num_batches());
  TrainHooks hooks;
  hooks.schedule = &sched;
  sched.reset(opt);
  const auto t0 = WallClock::now();
  for (int e = 0; e < epochs; ++e)
    train_epoch(*r.model.net, opt, loader, hooks,
                std::string(method_key(m)) + " 1/" + std::to_string(f) + " lr " + fmt(lr, 4) + " seed " +
                    std::to_string(seed) + " epoch " + std::to_string(e + 1));
  r.secs = std::chrono::duration<double>(WallClock::now() - t0).count();
  r.val_err = evaluate(*r.model.net, data.val).error_rate();
  return r;
}

struct Cell {
  Method m = Method::dense;
  int f = 1;
  double lr = 0, mean = 0, sd = 0;
  int64_t params = 0;
  std::string shape, val_per_lr, per_seed;
  double secs = 0;
};

void plot(const std::vector<Cell>& cells, const std::string& svg);

void report(const std::vector<Cell>& cells, const std::string& title, const std::string& json, const std::string& svg) {
  ResultTable t({"method", "factor", "parameters", "shape", "lr (val)", "val error per lr (seed 1, %)",
                 "test error per seed (%)", "mean +- sd (%)", "train s / run"});
  for (const Cell& c : cells)
    t.add_row({method_label(c.m), "1/" + std::to_string(c.f), std::to_string(c.params), c.shape, fmt(c.lr, 4),
               c.val_per_lr, c.per_seed, fmt(100 * c.mean, 2) + " +- " + fmt(100 * c.sd, 2), fmt(c.secs, 0)});
  t.print(title);
  if (!json.empty()) t.write_json(json);
  plot(cells, svg);
}

// Rebuilds the cells from a JSON the example wrote (--json), for --replot: one object per line,
// the method by its label, "factor": [1, f], the mean and sd in %.
std::vector<Cell> cells_from_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--replot: cannot open " + path);
  std::vector<Cell> cells;
  std::string line;
  int lineno = 0;
  const auto number_after = [&](const std::string& l, const std::string& key) {
    const size_t at = l.find(key);
    if (at == std::string::npos)
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": expected the key " + key + ", not found");
    return std::stod(l.substr(at + key.size()));
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find("\"method\"") == std::string::npos) continue;
    Cell c;
    bool known = false;
    for (Method m : {Method::dense, Method::hashnet, Method::nn, Method::rer, Method::lrd})
      if (line.find(std::string("\"method\": \"") + method_label(m) + "\"") != std::string::npos) c.m = m, known = true;
    if (!known) throw std::runtime_error(path + ":" + std::to_string(lineno) + ": expected a method label of this example");
    c.f = static_cast<int>(number_after(line, "\"factor\": [1, "));
    c.mean = number_after(line, "\"mean +- sd (%)\": ") / 100;
    c.sd = number_after(line, "\"mean +- sd (%) sd\": ") / 100;
    cells.push_back(c);
  }
  if (cells.empty()) throw std::runtime_error(path + ": expected rows of this example's --json, found none");
  return cells;
}

void plot(const std::vector<Cell>& cells, const std::string& svg) {
  // Error vs compression factor, one line per method (the paper's Fig. 2 shape); the dense
  // net is the 1/1 point of every line and a dashed reference.
  SvgPlot p("HashedNets on MNIST 784-1000-10: test error vs compression", "compression factor 1/f (f)",
            "test error (%)");
  p.log_x = true;
  p.log_y = true;  // LRD's 20 % and the dense net's 1.6 % on one readable axis
  const Cell* dense = nullptr;
  for (const Cell& c : cells)
    if (c.m == Method::dense) dense = &c;
  size_t colour = 0;
  for (Method m : {Method::hashnet, Method::nn, Method::rer, Method::lrd}) {
    const std::string col = SvgPlot::palette(colour++);
    std::vector<std::pair<double, double>> pts;
    if (dense) pts.push_back({1.0, 100 * dense->mean});
    for (const Cell& c : cells)
      if (c.m == m) pts.push_back({static_cast<double>(c.f), 100 * c.mean});
    if (pts.size() < 2) continue;
    std::sort(pts.begin(), pts.end());
    std::vector<double> xs, ys;
    for (auto& [x, y] : pts) xs.push_back(x), ys.push_back(y);
    p.line(method_label(m), xs, ys, col);
    p.points("", xs, ys, col);
  }
  if (dense) p.hline(100 * dense->mean, "dense (1/1)");
  double lo = 1e9, hi = 0;  // room below the dense line and above the worst point
  for (const Cell& c : cells) lo = std::min(lo, 100 * c.mean), hi = std::max(hi, 100 * c.mean);
  if (hi > 0) p.set_y_range(0.8 * lo, 1.3 * hi);
  p.write(svg);
}

std::vector<Method> parse_methods(const ExampleArgs& args) {
  std::vector<Method> out;
  for (const std::string& s : args.get_list("--methods")) {
    bool found = false;
    for (Method m : {Method::hashnet, Method::nn, Method::rer, Method::lrd})
      if (s == method_key(m)) out.push_back(m), found = true;
    if (!found) args.fail("--methods: unknown method '" + s + "' (expected some of hashnet,nn,rer,lrd)");
  }
  return out;
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("hashednets",
                   "Reproduces HashedNets (Chen et al. 2015): MNIST 784-1000-10 with both layers hashed at\n"
                   "compression 1/8..1/64 against equal-parameter NN, RER and LRD, and the dense net; lr chosen\n"
                   "on the validation split, test error once per kept model; the on-the-fly kernel timed\n"
                   "against the materialised dense matrix at batch 1 and 64.",
                   "the book's grid (the defaults: 17 cells x (2 lrs + 2 more seeds) = 68 trainings, 50 000 images x\n"
                   "6 epochs, 1 thread): about 60 min on one core of a shared 2-core VM; --timing-only ~30 s; --quick ~5 s",
                   {"--data", "--epochs", "--val", "--json", "--svg"});
  args.val_default(10000, "the learning rate of each cell is chosen on them (--quick: 500)", 500);
  args.option("--train", "-1", "training images to load, before --val is held out (-1 = all 60000)");
  args.option("--factors", "64,8,16,32", "compression factors 1/f, in the order the cells run");
  args.option("--methods", "hashnet,nn,rer,lrd", "methods per factor, in order (dense 1/1 always runs first)");
  args.option("--seeds", "3", "seeds per cell: --seed, --seed+1, ... (--quick: 1)");
  args.option("--lrs", "0.001,0.003", "Adam learning rates (cosine decay to 0) tried on the first seed; the lowest "
              "validation error is kept (--quick: 0.003)");
  args.option("--batch", "64", "mini-batch size");
  args.option("--timing-only", "false", "print the kernel table and stop");
  args.option("--replot", "", "redraw the figure (--svg) from a JSON this example wrote (--json) and stop");
  args.option("--timing-samples", "15", "samples per timing (median)");
  args.parse(argc, argv);
  const bool quick = args.quick();
  if (!args.get("--replot").empty()) {
    plot(cells_from_json(args.get("--replot")), args.svg_path("build/hashednets.svg"));
    return 0;
  }

  const std::vector<double> fs = args.get_numbers("--factors", 1, 4096);
  std::vector<int> factors;
  for (double f : fs) {
    if (f != std::floor(f)) args.fail("--factors: expected whole numbers f (compression 1/f), found " + fmt(f, 3));
    factors.push_back(static_cast<int>(f));
  }
  kernel_table(quick ? std::vector<int>{8, 64} : factors, quick ? 3 : static_cast<int>(args.get_int("--timing-samples", 1, 1000)));
  if (args.get_bool("--timing-only")) return 0;

  const int64_t ntrain = args.get_int("--train", -1, 100000000);
  if (ntrain == 0) args.fail("--train expects -1 (all) or a positive count, found 0");
  DataSplits data = load_mnist_like(args.data_dir(), "mnist", quick ? 2000 : ntrain, quick ? 1000 : -1);
  split_validation(data, quick && !args.given("--val") ? 500 : args.val(data.train.size()));
  if (data.val.size() == 0) args.fail("--val: the learning rate is chosen on the validation split; expected at least 1 image, found 0");
  const int epochs = args.epochs(6, 1);
  const int64_t nseeds = quick && !args.given("--seeds") ? 1 : args.get_int("--seeds", 1, 1000);
  const int64_t batch = args.get_int("--batch", 1, 100000);
  const std::vector<double> lrs = quick && !args.given("--lrs") ? std::vector<double>{0.003} : args.get_numbers("--lrs", 1e-6, 10.0);
  if (lrs.empty()) args.fail("--lrs: expected at least one learning rate, found none");
  const std::vector<Method> methods = parse_methods(args);
  if (quick && !args.given("--factors")) factors = {64};
  const std::string svg = args.svg_path("build/hashednets.svg");
  std::printf("\nMNIST 784-1000-10: %lld train / %lld validation / %lld test images, %d epochs, batch %lld, Adam lr in "
              "{%s} (cosine to 0) chosen on validation, seeds %llu..%llu\n",
              static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
              static_cast<long long>(data.test.size()), epochs, static_cast<long long>(batch), args.get("--lrs").c_str(),
              static_cast<unsigned long long>(args.seed()), static_cast<unsigned long long>(args.seed() + nseeds - 1));

  std::vector<std::pair<Method, int>> order{{Method::dense, 1}};
  for (int f : factors)
    for (Method m : methods) order.push_back({m, f});
  std::vector<Cell> cells;
  const std::string title = "HashedNets grid, MNIST (" + std::to_string(data.train.size()) + " images x " +
                            std::to_string(epochs) + " epochs; test error in %)";
  const auto t_all = WallClock::now();
  for (auto [m, f] : order) {
    Cell c;
    c.m = m, c.f = f;
    Run best;
    double best_lr = lrs[0];
    int runs = 0;
    for (double lr : lrs) {  // 1. the lr on validation, seed 1
      Run r = train_one(m, f, data, args.seed(), static_cast<float>(lr), epochs, batch);
      c.secs += r.secs, ++runs;
      c.val_per_lr += (c.val_per_lr.empty() ? "" : " ") + fmt(lr, 4) + ":" + fmt(100 * r.val_err, 2);
      std::printf("%s 1/%d lr %g seed %llu: validation error %s (%.0f s)\n", method_key(m), f, lr,
                  static_cast<unsigned long long>(args.seed()), fmt_pct(r.val_err).c_str(), r.secs);
      std::fflush(stdout);
      if (!best.model.net || r.val_err < best.val_err) best = std::move(r), best_lr = lr;
    }
    std::vector<double> errs;
    for (int64_t s = 0; s < nseeds; ++s) {  // 2. the other seeds at that lr; 3. test once per kept model
      const uint64_t seed = args.seed() + static_cast<uint64_t>(s);
      Run r;
      if (s == 0) {
        r = std::move(best);
      } else {
        r = train_one(m, f, data, seed, static_cast<float>(best_lr), epochs, batch);
        c.secs += r.secs, ++runs;
      }
      const double err = evaluate(*r.model.net, data.test).error_rate();
      errs.push_back(err);
      c.params = r.model.params, c.shape = r.model.shape;
      c.per_seed += (s ? " " : "") + fmt(100 * err, 2);
      std::printf("%s 1/%d lr %g seed %llu: validation error %s, test error %s\n", method_key(m), f, best_lr,
                  static_cast<unsigned long long>(seed), fmt_pct(r.val_err).c_str(), fmt_pct(err).c_str());
      std::fflush(stdout);
    }
    const MeanSd ms = mean_sd(errs);
    c.lr = best_lr, c.mean = ms.mean, c.sd = ms.sd, c.secs /= runs;
    cells.push_back(c);
    report(cells, title, args.json_path(), svg);  // after every cell: a stopped run keeps what it finished
  }
  std::printf("total training and evaluation time: %.0f s; figure: %s\n",
              std::chrono::duration<double>(WallClock::now() - t_all).count(), svg.c_str());

  // The floors of the issue, from the means (pp = percentage points of test error).
  std::map<std::pair<int, int>, double> mean;
  for (const Cell& c : cells) mean[{static_cast<int>(c.m), c.f}] = c.mean;
  const auto has = [&](Method m, int f) { return mean.count({static_cast<int>(m), f}) > 0; };
  const auto at = [&](Method m, int f) { return mean[{static_cast<int>(m), f}]; };
  if (has(Method::hashnet, 64) && has(Method::nn, 64))
    std::printf("floor 1/64: HashNet beats NN by %.2f pp (floor >= 1 pp): %s\n",
                100 * (at(Method::nn, 64) - at(Method::hashnet, 64)),
                at(Method::nn, 64) - at(Method::hashnet, 64) >= 0.01 ? "met" : "missed");
  if (has(Method::hashnet, 8))
    std::printf("floor 1/8: HashNet - dense = %+.2f pp (floor <= +0.3 pp): %s\n",
                100 * (at(Method::hashnet, 8) - at(Method::dense, 1)),
                at(Method::hashnet, 8) - at(Method::dense, 1) <= 0.003 ? "met" : "missed");
  return 0;
}

// One error path (engine/cli.h): "hashednets: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("hashednets", argc, argv, run); }
