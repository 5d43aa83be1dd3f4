// examples/xnorpp.cpp — reproduces XNOR-Net++ (Bulat & Tzimiropoulos 2019): the learned scale Γ
// in its four shapes against XNOR-Net's analytic α·K, at equal binary cost. Book: book/24-xnorpp.md.
//
//   build/examples/xnorpp                         (MNIST: XNOR-Net + 4 cases; see --help for time)
//   build/examples/xnorpp --set fashion-mnist
//   build/examples/xnorpp --quick                 (seconds, for CI)
//
// Every row is the same LeNet-5 as examples/xnor.cpp in the paper's B-A-C-P order (real conv1 and
// fc2), the same seed, epochs, optimizer and schedule; only the scale of the two binary layers
// differs: XNOR-Net's α (from the weights) ⊙ K (from the input, per image), or Γ learned by
// back-propagation, case 1 α ∈ R^o, 2 Γ ∈ R^{o×h×w}, 3 α ⊗ β, 4 α ⊗ β ⊗ γ. The case-4 model is then
// packed and run on the popcount kernels (simulation = deployment). Finally the cost of the scale
// itself at the paper's conv shape: Γ is one multiply per output, K needs a pass over the input.
// Not here: the paper's ResNet-18 / ImageNet training recipe.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/bitpack.h"
#include "compression/quantization/xnor.h"
#include "compression/quantization/xnorpp.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "engine/train.h"

using namespace mgf;
using Clock = std::chrono::steady_clock;

namespace {

double median_us(const std::function<void()>& f, int samples) {
  f();
  std::vector<double> t;
  for (int s = 0; s < samples; ++s) {
    auto a = Clock::now();
    for (int r = 0; r < 10; ++r) f();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count() / 10);
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// The scale's share of one binary conv (c → c, 3×3, hw×hw, 1 thread): the popcount GEMM, then
// either Γ (one multiply per output, Γ materialised at load) or XNOR-Net's K = A∗k from the
// input plus α·K per output.
void scale_cost(int64_t c, int64_t hw, int samples) {
  const ConvGeom g{c, hw, hw, 3, 3, 1, 1, 1, 1};
  const int64_t O = c, K = c * 9, P = g.OH() * g.OW();
  Rng rng(5);
  std::vector<float> x(static_cast<size_t>(c * hw * hw)), w(static_cast<size_t>(O * K)), y(static_cast<size_t>(O * P)),
      gamma(static_cast<size_t>(O * P), 0.7f), alpha(static_cast<size_t>(O), 0.7f), beta(static_cast<size_t>(P));
  for (auto& v : x) v = rng.normal();
  for (auto& v : w) v = rng.normal();
  PackedSigns wb = PackedSigns::from_rows(w.data(), O, K);
  std::vector<uint64_t> xb(static_cast<size_t>(P * bit_words(K)));
  std::vector<int32_t> z(static_cast<size_t>(O * P));
  im2col_pack_signs(g, x.data(), xb.data());
  const int threads = num_threads();
  set_num_threads(1);
  const double t_gemm = median_us([&] { bgemm(O, P, K, wb.bits.data(), xb.data(), z.data(), P); }, samples);
  const double t_gamma = median_us([&] {
    for (int64_t i = 0; i < O * P; ++i) y[static_cast<size_t>(i)] = gamma[static_cast<size_t>(i)] * static_cast<float>(z[static_cast<size_t>(i)]);
  }, samples);
  const double t_ak = median_us([&] {
    xnor_beta_map(g, x.data(), beta.data());
    for (int64_t o = 0; o < O; ++o)
      for (int64_t p = 0; p < P; ++p)
        y[static_cast<size_t>(o * P + p)] = alpha[static_cast<size_t>(o)] * beta[static_cast<size_t>(p)] * static_cast<float>(z[static_cast<size_t>(o * P + p)]);
  }, samples);
  set_num_threads(threads);
  ResultTable t({"step", "us", "% of the popcount GEMM"});
  t.add_row({std::string("popcount GEMM (bgemm, ") + bgemm_variant() + ")", fmt(t_gemm, 1), "100"});
  t.add_row({"XNOR-Net++: y = Gamma * z (Gamma materialised)", fmt(t_gamma, 1), fmt(100 * t_gamma / t_gemm, 1)});
  t.add_row({"XNOR-Net: K = A*k from the input, y = alpha*K*z", fmt(t_ak, 1), fmt(100 * t_ak / t_gemm, 1)});
  t.print("cost of the scale in one binary conv (c = " + std::to_string(c) + ", 3x3, " + std::to_string(hw) + "x" +
          std::to_string(hw) + ", 1 thread, median of " + std::to_string(samples) + ")");
}

}  // namespace

int main(int argc, char** argv) {
  ExampleArgs args("xnorpp",
                   "Reproduces XNOR-Net++ (Bulat & Tzimiropoulos 2019): a learned scale Gamma (4 shapes) vs\n"
                   "XNOR-Net's analytic alpha*K on a binary LeNet-5, at equal binary cost; the case-4 model packed\n"
                   "and run on the popcount kernels; the cost of the scale at the paper's conv shape.",
                   "full run (5 models, 20k images, 4 epochs, 1 thread): ~3.5 min of CPU, 28 min wall on the loaded 2-core VM; --quick: ~15 s");
  args.option("--set", "mnist", "mnist or fashion-mnist");
  args.option("--train", "20000", "training images to use (-1 = all 60000; --quick uses 2000)");
  args.option("--lr", "0.001", "Adam learning rate (cosine decay to 0)");
  args.option("--batch", "64", "mini-batch size");
  args.parse(argc, argv);
  const bool quick = args.quick();

  scale_cost(quick ? 64 : 256, quick ? 8 : 14, quick ? 5 : 15);

  DataSplits data;
  try {
    data = load_mnist_like(args.data_dir(), args.get("--set"), quick ? 2000 : args.get_int("--train"), quick ? 1000 : -1);
  } catch (const DataNotFound& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  const int epochs = args.epochs(4, 1);
  std::printf("\nLeNet-5 B-A-C-P on %s: %lld train / %lld test images, %d epochs, Adam %g, batch %lld, seed %llu\n",
              data.name.c_str(), static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()),
              epochs, args.get_float("--lr"), static_cast<long long>(args.get_int("--batch")),
              static_cast<unsigned long long>(args.seed()));

  ResultTable table({"scale", "test error", "vs XNOR-Net (pp)", "learned scale values (conv2 + fc1)", "train s", "paper (ImageNet)"});
  std::vector<double> errs;
  double xnor_err = 0;
  std::unique_ptr<BinaryLeNet5> case4;
  const char* paper[] = {"XNOR-Net 44.2 (AlexNet), 51.2 (ResNet-18) top-1", "case 1", "case 2",
                         "case 3", "case 4 (best): 57.1 ResNet-18 (from memory, unverified)"};
  for (int k = 0; k <= 4; ++k) {
    if (quick && (k == 2 || k == 3)) continue;  // CI: XNOR-Net, case 1 and case 4 only
    BinaryNetConfig cfg;
    cfg.mode = k == 0 ? BinaryMode::xnor : BinaryMode::xnorpp;
    cfg.gamma_case = std::max(1, k);
    manual_seed(args.seed());
    auto m = std::make_unique<BinaryLeNet5>(cfg);
    BinaryTrainOptions o;
    o.epochs = epochs;
    o.batch = args.get_int("--batch");
    o.lr = static_cast<float>(args.get_float("--lr"));
    const auto t0 = Clock::now();
    EvalResult r = train_binary_lenet(*m, data, o, cfg.name());
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (k == 0) xnor_err = r.error_rate();
    std::printf("%-16s test error %s\n", cfg.name().c_str(), fmt_pct(r.error_rate()).c_str());
    const int64_t nscale = k == 0 ? 0 : gamma_parameter_count(k, cfg.c2, 8, 8) + cfg.fc;
    table.add_row({k == 0 ? "XNOR-Net alpha*K (analytic)" : cfg.name(), fmt_pct(r.error_rate()),
                   fmt(100 * (r.error_rate() - xnor_err), 2), k == 0 ? "0 (computed)" : std::to_string(nscale),
                   fmt(secs, 0), paper[k]});
    if (k == 4) case4 = std::move(m);
  }
  table.print("XNOR-Net++ on " + data.name + " (" + std::to_string(epochs) + " epochs)");
  if (!args.json_path().empty()) table.write_json(args.json_path());

  if (case4) {  // simulation = deployment for the learned Γ
    const std::string path = "build/xnorpp-lenet5-" + data.name + ".xnor";
    std::filesystem::create_directories("build");
    const int64_t bytes = export_packed(*case4, path);
    PackedBinaryNet packed(path);
    case4->eval();
    Tensor sim({data.test.size(), 10});
    {
      NoGradGuard ng;
      for (int64_t b = 0; b < data.test.size(); b += 1000) {
        const int64_t n = std::min<int64_t>(1000, data.test.size() - b);
        Tensor l = (*case4)(Var(data.test.slice(b, n).images)).value();
        std::copy(l.data(), l.data() + l.numel(), sim.data() + b * 10);
      }
    }
    PackedEval pe = evaluate_packed(packed, data.test, &sim);
    std::printf("\ncase 4 packed (%lld bytes, Gamma materialised): %lld test errors vs %lld in simulation, "
                "%lld of %lld predictions differ, %.0f images/s on bgemm (%s)\n",
                static_cast<long long>(bytes), static_cast<long long>(pe.errors),
                static_cast<long long>(count_errors(sim, data.test.labels)), static_cast<long long>(pe.disagreements),
                static_cast<long long>(pe.count), pe.count / pe.seconds, bgemm_variant());
  }
  return 0;
}
