// examples/autograd.cpp — the engine's "hello world": reverse-mode autograd fits a small MLP
// to two interleaved spirals, a problem no linear model can solve.
// Book: book/01-autograd.md.
//
//   build/examples/autograd            (about 1 s on 2 cores)
//   build/examples/autograd --quick    (well under 1 s, for CI)
//
// Steps: (1) draw two spirals with our Rng (the same points for the same --seed on every
// machine), (2) train a 2-H-H-2 ReLU network on them with mini-batch Adam, printing the loss
// once per epoch, (3) report training and held-out accuracy (a second draw of the spirals),
// (4) paint the network's decision regions under the points into an SVG.
// Everything it uses is the engine: Var, the ops in engine/ops.h, Linear/ReLU/Sequential,
// cross_entropy(), Adam from engine/optim.h. Not here: any paper to reproduce — this chapter's
// claim is only that the gradients are right, which the test suite checks element by element.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "engine/cli.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/sequential.h"

using namespace mgf;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Two spirals: class k's i-th point has radius r = i/n and angle θ = 4π·r + k·π + noise,
// so the arms wind two full turns around each other.
struct Points {
  Tensor x;                      // [2n, 2]
  std::vector<int32_t> y;        // 2n labels
};

Points spirals(int64_t n, float noise, Rng& rng) {
  Points p{Tensor({2 * n, 2}), std::vector<int32_t>(static_cast<size_t>(2 * n))};
  for (int64_t k = 0; k < 2; ++k)
    for (int64_t i = 0; i < n; ++i) {
      const double r = 0.05 + 0.95 * static_cast<double>(i) / static_cast<double>(n);
      const double t = 4.0 * kPi * r + static_cast<double>(k) * kPi + rng.normal(0.0f, noise);
      const int64_t j = k * n + i;
      p.x[2 * j] = static_cast<float>(r * std::cos(t));
      p.x[2 * j + 1] = static_cast<float>(r * std::sin(t));
      p.y[static_cast<size_t>(j)] = static_cast<int32_t>(k);
    }
  return p;
}

double accuracy(Sequential& net, const Points& p) {
  NoGradGuard ng;
  Tensor z = net.forward(Var(p.x)).value();  // [N, 2] logits
  int64_t right = 0;
  for (size_t i = 0; i < p.y.size(); ++i) {
    const int32_t guess = z[2 * static_cast<int64_t>(i) + 1] > z[2 * static_cast<int64_t>(i)] ? 1 : 0;
    right += guess == p.y[i];
  }
  return static_cast<double>(right) / static_cast<double>(p.y.size());
}

// Mini-batch Adam on cross-entropy; returns the last epoch's mean loss. The whole of
// autograd is the three marked lines: forward (records the graph), backward, step.
double fit(Sequential& net, const Points& train, int epochs, int64_t B, float lr, uint64_t seed, bool verbose) {
  AdamOptions ao;
  ao.lr = lr;
  Adam opt(net.parameters(), ao);
  const int64_t N = static_cast<int64_t>(train.y.size());
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  Rng shuffle_rng(seed + 2000);
  double loss = 0;
  for (int e = 1; e <= epochs; ++e) {
    shuffle_rng.shuffle(order);
    double total = 0;
    for (int64_t b0 = 0; b0 < N; b0 += B) {
      const int64_t nb = std::min(B, N - b0);
      Tensor xb({nb, 2});
      std::vector<int32_t> yb(static_cast<size_t>(nb));
      for (int64_t i = 0; i < nb; ++i) {
        const int64_t j = order[static_cast<size_t>(b0 + i)];
        xb[2 * i] = train.x[2 * j];
        xb[2 * i + 1] = train.x[2 * j + 1];
        yb[static_cast<size_t>(i)] = train.y[static_cast<size_t>(j)];
      }
      opt.zero_grad();
      Var l = cross_entropy(net.forward(Var(xb)), yb);  // forward: builds the graph
      l.backward();                                      // reverse sweep: fills every .grad()
      opt.step();                                        // w ← w − η·(Adam's step)
      total += static_cast<double>(l.value().item()) * static_cast<double>(nb);
    }
    loss = total / static_cast<double>(N);
    if (verbose) std::printf("epoch %3d  loss %.4f\n", e, loss);
  }
  return loss;
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("autograd",
                   "Fits a 2-H-H-2 ReLU MLP to two spirals with reverse-mode autograd and Adam; prints the loss\n"
                   "per epoch, training and held-out accuracy, and draws the decision regions as SVG.",
                   "full run: about 1 s on 2 cores; --quick: well under 1 s",
                   {"--epochs", "--json", "--svg"});
  args.option("--points", "300", "points per spiral arm (training set; the held-out set is the same size)");
  args.option("--hidden", "64", "hidden units per layer (H)");
  args.option("--batch", "32", "mini-batch size");
  args.option("--lr", "0.01", "Adam learning rate");
  args.option("--noise", "0.2", "std of the angle noise, in radians");
  args.parse(argc, argv);
  const bool quick = args.quick();
  const int epochs = args.epochs(150, 40);
  const int64_t n = quick && !args.given("--points") ? 150 : args.get_int("--points", 2, 1000000);
  const int64_t H = args.get_int("--hidden", 1, 4096), B = args.get_int("--batch", 1, 1000000);
  const float noise = static_cast<float>(args.get_float("--noise", 0.0, 10.0));
  const float lr = static_cast<float>(args.get_float_above("--lr", 0.0, 10.0));

  Rng data_rng(args.seed() + 1000);  // data has its own stream: changing the net keeps the points
  const Points train = spirals(n, noise, data_rng), test = spirals(n, noise, data_rng);

  Sequential net;  // weights from global_rng(), seeded by --seed
  net.add("fc1", std::make_shared<Linear>(2, H));
  net.add("relu1", std::make_shared<ReLU>());
  net.add("fc2", std::make_shared<Linear>(H, H));
  net.add("relu2", std::make_shared<ReLU>());
  net.add("fc3", std::make_shared<Linear>(H, 2));
  std::printf("two spirals: %lld training points, %lld held out; MLP 2-%lld-%lld-2 (%lld parameters)\n",
              static_cast<long long>(2 * n), static_cast<long long>(2 * n), static_cast<long long>(H),
              static_cast<long long>(H), static_cast<long long>(net.num_parameters()));

  // ---- training (fit() above), then the same loop for a linear model as the yardstick --------
  const auto t0 = std::chrono::steady_clock::now();
  const double loss = fit(net, train, epochs, B, lr, args.seed(), true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double train_acc = accuracy(net, train), test_acc = accuracy(net, test);
  Sequential lin;  // no hidden layer: the best a straight line can do on two spirals
  lin.add("fc", std::make_shared<Linear>(2, 2));
  fit(lin, train, epochs, B, lr, args.seed(), false);

  ResultTable table({"quantity", "value"});
  table.add_row({"epochs", std::to_string(epochs)});
  table.add_row({"final training loss", fmt(loss, 4)});
  table.add_row({"training accuracy", fmt_pct(train_acc)});
  table.add_row({"held-out accuracy", fmt_pct(test_acc)});
  table.add_row({"parameters", std::to_string(net.num_parameters())});
  table.add_row({"linear model, held-out accuracy", fmt_pct(accuracy(lin, test))});
  table.add_row({"training time (s)", fmt(seconds, 2)});
  table.print("autograd: two spirals (no paper to compare with; the linear row is the yardstick)");
  if (!args.json_path().empty()) table.write_json(args.json_path());

  // ---- the figure: decision regions (cells) under the training points ----------------------
  const std::string svg = args.svg_path("build/figures/autograd-spirals.svg");
  const int G = quick ? 40 : 80;  // grid cells per side
  const double lo = -1.15, hi = 1.15, step = (hi - lo) / G;
  Tensor grid({G * G, 2});
  for (int i = 0; i < G; ++i)
    for (int j = 0; j < G; ++j) {
      grid[2 * (i * G + j)] = static_cast<float>(lo + (j + 0.5) * step);
      grid[2 * (i * G + j) + 1] = static_cast<float>(lo + (i + 0.5) * step);
    }
  Tensor prob;
  {
    NoGradGuard ng;
    prob = softmax(net.forward(Var(grid))).value();  // [G², 2]
  }
  SvgPlot plot("Two spirals: decision regions of a 2-" + std::to_string(H) + "-" + std::to_string(H) + "-2 MLP",
               "x1", "x2");
  plot.width = 720;  // the legend takes the right margin: this makes the plot area square
  plot.height = 566;
  plot.set_x_range(lo, hi);
  plot.set_y_range(lo, hi);
  // Colour = predicted class; opacity = confidence |p − ½|·2 in five steps. Neighbouring cells
  // of a row with the same colour and step are drawn as one rectangle (a smaller file).
  auto shade = [&](int i, int j) {
    const float p1 = prob[2 * (i * G + j) + 1];
    const int level = static_cast<int>(std::lround(std::fabs(p1 - 0.5f) * 2.0f * 4.0f));  // 0..4
    return (p1 > 0.5f ? 8 : 0) + level;
  };
  for (int i = 0; i < G; ++i)
    for (int j0 = 0; j0 < G;) {
      const int s = shade(i, j0);
      int j1 = j0 + 1;
      while (j1 < G && shade(i, j1) == s) ++j1;
      plot.cell(lo + j0 * step, lo + i * step, lo + j1 * step, lo + (i + 1) * step,
                SvgPlot::palette(s >= 8 ? 1 : 0), 0.1 + 0.35 * (s % 8) / 4.0);
      j0 = j1;
    }
  for (int k = 0; k < 2; ++k) {
    std::vector<double> xs, ys;
    for (size_t i = 0; i < train.y.size(); ++i)
      if (train.y[i] == k) {
        xs.push_back(train.x[2 * static_cast<int64_t>(i)]);
        ys.push_back(train.x[2 * static_cast<int64_t>(i) + 1]);
      }
    plot.points("class " + std::to_string(k), xs, ys, SvgPlot::palette(static_cast<size_t>(k)), 2.5);
  }
  const std::filesystem::path dir = std::filesystem::path(svg).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  plot.write(svg);
  std::printf("wrote %s\n", svg.c_str());
  return 0;
}

// One error path (engine/cli.h): "autograd: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("autograd", argc, argv, run); }
