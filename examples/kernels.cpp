// examples/kernels.cpp — the GEMM ladder of book/02-kernels.md, measured, with the machine's
// own FMA peak beside it; then the roofline: why elementwise kernels gain less from AVX2.
//
//   build/examples/kernels            n = 1024 (about a minute: the naive loop is slow)
//   build/examples/kernels --quick    n = 256, seconds
//
// Every step is first checked against step 1 on an odd-sized problem ("all steps agree"),
// then timed on n×n×n (median of >= 3 runs). Steps 1–5 live in engine/kernels/gemm_ladder.cpp,
// steps 6–7 are the engine's sgemm_avx2 (engine/kernels/gemm.cpp) at 1 and 2 threads.
// Writes build/figures/kernels-ladder.svg (GFLOP/s per step, log scale, peaks as lines).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/cli.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/elementwise.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/gemm_ladder.h"
#include "engine/kernels/timing.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "engine/threads.h"

using namespace mgf;

namespace {

using GemmStep = std::function<void(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C)>;

struct Step {
  const char* name;
  const char* change;
  GemmStep fn;
  int threads;
};

void avx2_gemm(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  sgemm_avx2(Trans::N, Trans::N, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("kernels",
                   "The GEMM ladder (naive -> loop order -> blocking -> packing -> AVX2 micro-kernel -> threads),\n"
                   "each step timed beside the measured FMA peak, and the roofline of the elementwise kernels.",
                   "full run (n = 1024): about 1 minute; --quick (n = 256): seconds",
                   {"--json", "--svg"});
  args.option("--size", "", "n of the n x n x n GEMM (default 1024, --quick 256)");
  args.option("--clock", "wall", "wall | cpu: cpu times the 1-thread steps in process CPU time, leaving out the\n"
              "time other jobs on a shared machine held the core (step 6, 2 threads, always uses wall time)");
  args.parse(argc, argv);
  Clock clock = Clock::wall;
  if (args.get("--clock") == "cpu") clock = Clock::cpu;
  else if (args.get("--clock") != "wall") args.fail("--clock expects wall or cpu, found " + args.get("--clock"));
  const bool quick = args.quick();
  const int64_t n = args.given("--size") ? args.get_int("--size", 1, 8192) : (quick ? 256 : 1024);
  const double min_s = quick ? 0.03 : 0.2;
  const int saved_threads = num_threads();

  // ---- the machine's ceilings, measured now ----
  const double peak_avx2 = measure_fma_peak_avx2(quick ? 0.1 : 0.5, clock == Clock::cpu);
  const double peak_scalar = measure_fma_peak_scalar(quick ? 0.1 : 0.5, clock == Clock::cpu);
  std::printf("measured FMA peak, 1 core: scalar %.1f GFLOP/s, AVX2 %.1f GFLOP/s (12 independent chains); clock %s\n",
              peak_scalar, peak_avx2, args.get("--clock").c_str());

  std::vector<Step> steps = {
      {"1 naive", "i-j-p triple loop (dot product down a column of B)", gemm_ladder_naive, 1},
      {"2 loop order", "i-p-j: inner loop contiguous in B and C", gemm_ladder_loop_order, 1},
      {"3 blocking", "+ KB x NB block of B kept in L2", gemm_ladder_blocked, 1},
      {"4 packing", "+ packed slivers, 6x16 tile in locals (plain C++)", gemm_ladder_packed, 1},
      {"5 AVX2 tile", "+ the 6x16 tile in AVX2/FMA intrinsics", gemm_ladder_packed_avx2, 1},
      {"6 sgemm_avx2", "+ tuned blocks, edge kernels, thin paths (engine)", avx2_gemm, 1},
      {"7 threads", "+ parallel_for over 2 cores", avx2_gemm, 2},
  };
  const bool avx2 = cpu_has_avx2();
  if (!avx2) steps.resize(4);

  // ---- validate every step against step 1 on an odd shape before timing anything ----
  {
    const int64_t M = 97, N = 83, K = 71;
    auto A = uniform_floats(M * K, 1), B = uniform_floats(K * N, 2);
    std::vector<float> ref(M * N), C(M * N);
    gemm_ladder_naive(M, N, K, A.data(), B.data(), ref.data());
    for (const Step& s : steps) {
      set_num_threads(s.threads);
      s.fn(M, N, K, A.data(), B.data(), C.data());
      for (int64_t i = 0; i < M * N; ++i)
        if (!(std::fabs(C[i] - ref[i]) <= 1e-4f + 1e-4f * std::fabs(ref[i]))) {
          std::fprintf(stderr, "kernels: step '%s' disagrees with step 1 at %lld: %g vs %g\n", s.name,
                       static_cast<long long>(i), C[i], ref[i]);
          return 1;
        }
    }
    std::printf("all %zu steps agree with the naive loop on 97x71x83; timing n = %lld\n", steps.size(),
                static_cast<long long>(n));
  }

  // ---- the ladder ----
  ResultTable ladder({"step", "what changed", "GFLOP/s", "% of peak", "x previous"});
  auto A = uniform_floats(n * n, 3), B = uniform_floats(n * n, 4);
  std::vector<float> C(static_cast<size_t>(n * n));
  std::vector<double> xs, ys;
  double prev = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    set_num_threads(s.threads);
    const Timing t = time_kernel([&] { s.fn(n, n, n, A.data(), B.data(), C.data()); }, min_s, 3, quick ? 2.0 : 8.0,
                                 s.threads == 1 ? clock : Clock::wall);
    const double gf = 2.0 * n * n * n / t.median / 1e9;
    const double peak = (avx2 ? peak_avx2 : peak_scalar) * s.threads;
    ladder.add_row({s.name, s.change, fmt(gf, 2), peak > 0 ? fmt_pct(gf / peak, 1) : "-", prev > 0 ? fmt(gf / prev, 2) : "-"});
    prev = gf;
    xs.push_back(static_cast<double>(i + 1));
    ys.push_back(gf);
    std::printf("  %-14s %8.2f GFLOP/s\n", s.name, gf);
    std::fflush(stdout);
  }
  set_num_threads(saved_threads);
  ladder.print("GEMM ladder, n = " + std::to_string(n) + " (median of >= 3 runs; % of the measured AVX2 peak x threads)");

  // ---- roofline: flops per byte decides how much a faster core can help ----
  // A kernel doing F flops on D bytes cannot beat min(peak, bandwidth · F/D). GEMM reuses every
  // loaded float ~n/… times; ReLU does one compare per 8 bytes moved. So AVX2 multiplies GEMM's
  // speed by the FMA width, but the elementwise kernels only by how much faster the loop issues
  // loads and stores — they hit the cache/memory bandwidth wall first.
  ResultTable roof({"kernel", "flop/byte", "scalar GFLOP/s", "AVX2 GFLOP/s", "AVX2/scalar", "AVX2 GB/s"});
  set_num_threads(1);
  auto add_roof = [&](const std::string& name, double flops, double bytes, const std::function<void()>& sc,
                      const std::function<void()>& vec) {
    const double ts = time_kernel(sc, min_s, 3, 4.0, clock).median;
    const double tv = avx2 ? time_kernel(vec, min_s, 3, 10.0, clock).median : 0.0;
    roof.add_row({name, fmt(flops / bytes, 3), fmt(flops / ts / 1e9, 2), avx2 ? fmt(flops / tv / 1e9, 2) : "-",
                  avx2 ? fmt(ts / tv, 1) : "-", avx2 ? fmt(bytes / tv / 1e9, 1) : "-"});
  };
  {
    const int64_t m = quick ? 256 : 512;
    auto a = uniform_floats(m * m, 5), b = uniform_floats(m * m, 6);
    std::vector<float> c(static_cast<size_t>(m * m));
    add_roof("sgemm " + std::to_string(m) + "^3", 2.0 * m * m * m, 3.0 * 4 * m * m,
             [&] { sgemm_scalar(Trans::N, Trans::N, m, m, m, 1.0f, a.data(), m, b.data(), m, 0.0f, c.data(), m); },
             [&] { sgemm_avx2(Trans::N, Trans::N, m, m, m, 1.0f, a.data(), m, b.data(), m, 0.0f, c.data(), m); });
    ConvGeom g{32, 56, 56, 3, 3, 1, 1, 1, 1};
    const int64_t px = g.C * g.H * g.W;
    auto x = uniform_floats(px, 7), w = uniform_floats(g.C * 9, 8);
    std::vector<float> y(static_cast<size_t>(px));
    add_roof("depthwise 3x3 32x56x56", 18.0 * px, 8.0 * px,
             [&] { depthwise_forward_scalar(g, x.data(), w.data(), nullptr, y.data()); },
             [&] { depthwise_forward_avx2(g, x.data(), w.data(), nullptr, y.data()); });
    const int64_t e = 1 << 18;  // 1 MiB per array: L2
    auto u = uniform_floats(e, 9), d = uniform_floats(e, 10);
    std::vector<float> v(static_cast<size_t>(e));
    add_roof("relu backward (L2)", 1.0 * e, 16.0 * e, [&] { relu_backward_scalar(u.data(), d.data(), v.data(), e); },
             [&] { relu_backward_avx2(u.data(), d.data(), v.data(), e); });
    add_roof("add_inplace (L2)", 1.0 * e, 12.0 * e, [&] { add_inplace_scalar(v.data(), u.data(), e); },
             [&] { add_inplace_avx2(v.data(), u.data(), e); });
  }
  set_num_threads(saved_threads);
  roof.print("roofline: flops per byte moved vs the speed-up AVX2 buys (1 thread)");

  if (!args.json_path().empty()) {
    ladder.write_json(args.json_path());
    std::printf("wrote %s\n", args.json_path().c_str());
  }
  const std::string svg = args.svg_path("build/figures/kernels-ladder.svg");
  std::filesystem::create_directories(std::filesystem::path(svg).parent_path());
  SvgPlot plot("GEMM ladder, n = " + std::to_string(n), "step", "GFLOP/s");
  plot.log_y = true;
  plot.line("measured", xs, ys);
  plot.points("", xs, ys);
  if (peak_avx2 > 0) {
    plot.hline(peak_avx2, "AVX2 FMA peak, 1 core");
    plot.hline(2 * peak_avx2, "AVX2 FMA peak, 2 cores");
  }
  if (peak_scalar > 0) plot.hline(peak_scalar, "scalar FMA peak");
  plot.write(svg);
  std::printf("wrote %s\n", svg.c_str());
  return 0;
}

// One error path (engine/cli.h): "kernels: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("kernels", argc, argv, run); }
