// examples/bench.cpp — `make bench`: every kernel, scalar side against AVX2 side, in one table.
//
// Rows: square sgemm 256–2048 (1 and 2 threads), the GEMMs of LeNet-300-100 at batch 64 (the
// peers' NN shapes and the engine's own forward/backward transposes), LeNet-5's convolutions
// as im2col GEMMs at batch 1 and 64, im2col/col2im, a MobileNet depthwise 3×3 layer, and the
// elementwise kernels in GB/s. Each number is the median of >= 3 timed runs of >= 0.2 s (time-
// boxed for the slow scalar GEMMs); `--quick` keeps the small shapes and shortens the runs.
// OpenBLAS is measured beside it by examples/peers.sh (a yardstick only, never linked).
// `--epoch` measures the engine end to end instead: one MNIST training epoch (batch 64: forward,
// cross-entropy, backward, SGD step) of LeNet-5 and LeNet-300-100, scalar vs AVX2, 1 and 2
// threads, and batch-1 inference latency; wall AND process CPU time, medians of --runs epochs.
// `--sparse` measures the pruned LeNets run from CSR instead (compression/pruning/sparse_model.h):
// every layer pruned to Han's or our DNS run's kept fractions, each layer and the whole model
// against the dense float layer, the conv layers with both algorithms (im2col + spmm, direct),
// batch 1 and 64, one thread (book/14-magnitude_pruning.md, "Running the pruned net from CSR").
// Book: book/02-kernels.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "compression/pruning/magnitude.h"
#include "compression/pruning/sparse_model.h"
#include "engine/autograd.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/elementwise.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/softmax.h"
#include "engine/kernels/timing.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "layers/models/lenet.h"

using namespace mgf;

namespace {

struct Bench {
  ResultTable table{{"kernel", "shape", "unit", "threads", "scalar", "avx2", "avx2/scalar"}};
  double min_s = 0.2;
  std::string filter;
  bool skip_scalar = false;
  Clock clock = Clock::wall;
  bool have_avx2 = cpu_has_avx2();

  // work / seconds / 1e9 for each side; a null side prints "-".
  void row(const std::string& kernel, const std::string& shape, const std::string& unit, int threads, double work,
           const std::function<void()>& scalar_fn, const std::function<void()>& avx2, double scalar_max_s = 10.0) {
    if (!filter.empty() && kernel.find(filter) == std::string::npos) return;
    const std::function<void()> scalar = skip_scalar ? std::function<void()>() : scalar_fn;
    set_num_threads(threads);
    double s = 0, v = 0;
    const Clock c = threads == 1 ? clock : Clock::wall;  // CPU time sums over threads
    if (scalar) s = work / time_kernel(scalar, min_s, 5, scalar_max_s, c).median / 1e9;
    if (avx2 && have_avx2) v = work / time_kernel(avx2, min_s, 5, 10.0, c).median / 1e9;
    table.add_row({kernel, shape, unit, std::to_string(threads), scalar ? fmt(s, 2) : "-",
                   avx2 && have_avx2 ? fmt(v, 2) : "-", scalar && avx2 && have_avx2 ? fmt(v / s, 2) : "-"});
    std::printf("  %-22s %-26s %8s %8s\n", kernel.c_str(), shape.c_str(), scalar ? fmt(s, 1).c_str() : "-",
                avx2 && have_avx2 ? fmt(v, 1).c_str() : "-");
    std::fflush(stdout);
  }

  // sgemm on op(A)[M×K]·op(B)[K×N], beta = 0; flops = 2·M·N·K.
  void gemm(const std::string& name, Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, int threads,
            bool with_scalar = true) {
    auto A = uniform_floats(M * K, 1), B = uniform_floats(K * N, 2);
    std::vector<float> C(static_cast<size_t>(M * N));
    const int64_t lda = ta == Trans::N ? K : M, ldb = tb == Trans::N ? N : K;
    auto run = [&](auto fn) {
      return [&, fn] { fn(ta, tb, M, N, K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), N); };
    };
    const std::string shape = std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N) + " " +
                              (ta == Trans::N ? "N" : "T") + (tb == Trans::N ? "N" : "T");
    row(name, shape, "GFLOP/s", threads, 2.0 * M * N * K, with_scalar ? std::function<void()>(run(sgemm_scalar)) : std::function<void()>(),
        run(sgemm_avx2));
  }
};


// ---- --epoch: the engine end to end ------------------------------------------------------
// The same work PyTorch's torch_bench.py `train` does (../shared/peers/src): a shuffled epoch
// in batches of 64, SGD lr 0.01 momentum 0.9, after a warm-up of 30 steps — but on the real
// MNIST images (the pixels do not change the arithmetic). Two clocks: wall time (what a user
// waits, inflated when other jobs hold the cores) and process CPU time (std::clock: the busy
// time of all our threads, which leaves out the time we sat descheduled; with 2 threads it is
// the sum over both, so the 2-thread speed-up is only visible in wall time).
std::string load_average() {  // the first three fields of /proc/loadavg ("?" elsewhere)
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  return f >> a >> b >> c ? a + " " + b + " " + c : "?";
}

struct EpochTime {
  double wall = 0, cpu = 0;
};

std::shared_ptr<Sequential> make_model(const std::string& name) {
  return name == "lenet5" ? make_lenet5() : make_lenet_300_100();
}

// One training step: exactly the loop of engine/train.cpp train_epoch(), without its
// bookkeeping (progress line, error count), so the time is the engine's alone.
void train_step(Module& model, SGD& opt, const Dataset& d, const std::vector<int64_t>& order, int64_t begin,
                int64_t batch) {
  const int64_t b = std::min(batch, static_cast<int64_t>(order.size()) - begin), img = 28 * 28;
  Tensor x = Tensor::uninit({b, 1, 28, 28});  // every image is copied in
  std::vector<int32_t> y(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {  // gather the batch, as torch's x[perm[s:s+b]] does
    const int64_t k = order[static_cast<size_t>(begin + i)];
    std::copy(d.images.data() + k * img, d.images.data() + (k + 1) * img, x.data() + i * img);
    y[static_cast<size_t>(i)] = d.labels[static_cast<size_t>(k)];
  }
  opt.zero_grad();
  Var loss = cross_entropy(model(Var(x)), y);
  loss.backward();
  opt.step();
}

// Median over `runs` epochs of `images` images; one fresh model per (model, mode, threads).
EpochTime time_epochs(const std::string& name, const Dataset& d, int64_t images, int runs, uint64_t seed) {
  manual_seed(seed);
  auto model = make_model(name);
  model->train();
  SGD opt(model->parameters(), SgdOptions{0.01f, 0.9f, 0.0f, false});
  Rng rng(seed);
  std::vector<int64_t> order(static_cast<size_t>(d.size()));
  for (int64_t step = 0; step < 30; ++step)  // warm-up: allocator, caches, branch predictors
    train_step(*model, opt, d, order, (step * 64) % (d.size() - 64), 64);
  std::vector<double> walls, cpus;
  for (int r = 0; r < runs; ++r) {
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    for (size_t i = order.size() - 1; i > 0; --i)  // Fisher–Yates with our Rng
      std::swap(order[i], order[static_cast<size_t>(rng.next_u64() % (i + 1))]);
    order.resize(static_cast<size_t>(images));
    const auto w0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    for (int64_t s = 0; s < images; s += 64) train_step(*model, opt, d, order, s, 64);
    cpus.push_back(static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    walls.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
    order.resize(static_cast<size_t>(d.size()));
  }
  return {median_of(walls), median_of(cpus)};
}

// Batch-1 inference: eval mode, no graph; median per call over 5 measurements of >= 0.2 s.
EpochTime time_batch1(const std::string& name, const Dataset& d) {
  manual_seed(1);
  auto model = make_model(name);
  model->eval();
  NoGradGuard ng;
  Tensor x({1, 1, 28, 28});
  std::copy(d.images.data(), d.images.data() + 28 * 28, x.data());
  auto fn = [&] { (void)(*model)(Var(x)); };
  return {time_kernel(fn, 0.2, 5, 10.0, Clock::wall).median, time_kernel(fn, 0.2, 5, 10.0, Clock::cpu).median};
}

int run_epoch_bench(const ExampleArgs& args) {
  DataSplits data;
  data = load_mnist_like(args.data_dir(), "mnist", args.quick() ? 1280 : -1, 0);  // errors: run_main, exit 1
  const Dataset& d = data.train;
  const int64_t images = args.quick() ? 640 : d.size();
  const int runs = static_cast<int>(args.get_int("--runs", 1, 1000));
  const int scalar_runs = std::min<int>(args.quick() ? 1 : 1000, static_cast<int>(args.get_int("--scalar-runs", 0, 1000)));
  const bool have_avx2 = cpu_has_avx2();
  std::printf("bench --epoch: %lld MNIST training images, batch 64, SGD momentum 0.9; medians of %d (AVX2) / %d "
              "(scalar) epochs; load average %s\n",
              static_cast<long long>(images), runs, scalar_runs, load_average().c_str());
  ResultTable t{{"model", "what", "kernels", "threads", "wall", "cpu", "runs"}};
  const std::string only = args.get("--model");
  if (only != "all" && only != "lenet5" && only != "lenet300")
    args.fail("--model expects lenet5, lenet300 or all, found " + only);
  for (const std::string name : {"lenet5", "lenet300"}) {
    if (only != "all" && only != name) continue;
    for (KernelMode m : {KernelMode::scalar, KernelMode::avx2}) {
      if (m == KernelMode::avx2 && !have_avx2) continue;
      const int r = m == KernelMode::scalar ? scalar_runs : runs;
      if (r == 0) continue;
      KernelModeGuard km(m);
      for (int th : {1, 2}) {
        if (m == KernelMode::scalar && th == 2) continue;  // the scalar side is the 1-thread reference
        set_num_threads(th);
        const EpochTime e = time_epochs(name, d, images, r, args.seed());
        t.add_row({name, "epoch", kernel_mode_name(m), std::to_string(th), fmt(e.wall, 3) + " s",
                   fmt(e.cpu, 3) + " s", std::to_string(r)});
        std::printf("  %-9s epoch  %-6s %d thread(s): wall %8.3f s  cpu %8.3f s\n", name.c_str(), kernel_mode_name(m),
                    th, e.wall, e.cpu);
        std::fflush(stdout);
      }
      set_num_threads(1);
      const EpochTime b1 = time_batch1(name, d);
      t.add_row({name, "batch-1 infer", kernel_mode_name(m), "1", fmt(b1.wall * 1e6, 1) + " us",
                 fmt(b1.cpu * 1e6, 1) + " us", "5"});
      std::printf("  %-9s batch1 %-6s 1 thread   : wall %8.1f us cpu %8.1f us\n", name.c_str(), kernel_mode_name(m),
                  b1.wall * 1e6, b1.cpu * 1e6);
      std::fflush(stdout);
    }
  }
  t.print("end to end (wall = elapsed; cpu = process CPU time, summed over threads; medians)");
  std::printf("load average at the end: %s\n", load_average().c_str());
  if (!args.json_path().empty()) {
    t.write_json(args.json_path());
    std::printf("wrote %s\n", args.json_path().c_str());
  }
  return 0;
}

// ---- the kernel rows, one function per family (each adds its rows to b.table) ----

// sgemm: square, LeNet-300-100 at batch 64, LeNet-5 convolutions as im2col GEMMs.
void bench_sgemm(Bench& b, bool quick) {
  // ---- sgemm, square ----
  const std::vector<int64_t> squares = quick ? std::vector<int64_t>{256} : std::vector<int64_t>{256, 512, 1024, 2048};
  for (int64_t n : squares) b.gemm("sgemm square", Trans::N, Trans::N, n, n, n, 1, true);
  if (!quick)
    for (int64_t n : {512, 1024, 2048}) b.gemm("sgemm square", Trans::N, Trans::N, n, n, n, 2, false);

  // ---- sgemm, LeNet-300-100 at batch 64: the peers' NN shapes (X · Wᵀ stored in×out) ----
  b.gemm("sgemm mlp fc1", Trans::N, Trans::N, 64, 300, 784, 1);
  b.gemm("sgemm mlp fc2", Trans::N, Trans::N, 64, 100, 300, 1);
  b.gemm("sgemm mlp fc3", Trans::N, Trans::N, 64, 10, 100, 1);
  b.gemm("sgemm mlp fc1 dW", Trans::N, Trans::N, 784, 300, 64, 1);
  // ... and as the engine calls it: forward x·Wᵀ (NT), dX = dY·W (NN), dW = dYᵀ·X (TN)
  b.gemm("sgemm mlp fc1 fwd", Trans::N, Trans::T, 64, 300, 784, 1);
  b.gemm("sgemm mlp fc1 dX", Trans::N, Trans::N, 64, 784, 300, 1);
  b.gemm("sgemm mlp fc1 dW", Trans::T, Trans::N, 300, 784, 64, 1);
  if (!quick) b.gemm("sgemm mlp fc1 fwd", Trans::N, Trans::T, 1, 300, 784, 1);  // batch-1 inference

  // ---- sgemm, LeNet-5 convolutions as im2col GEMMs: W[OC × C·25] · col[C·25 × pixels] ----
  b.gemm("sgemm lenet5 conv1", Trans::N, Trans::N, 20, 576, 25, 1);
  b.gemm("sgemm lenet5 conv2", Trans::N, Trans::N, 50, 64, 500, 1);
  if (!quick) {
    b.gemm("sgemm lenet5 conv1", Trans::N, Trans::N, 20, 576 * 64, 25, 1);
    b.gemm("sgemm lenet5 conv2", Trans::N, Trans::N, 50, 64 * 64, 500, 1);
    b.gemm("sgemm lenet5 fc1", Trans::N, Trans::N, 64, 500, 800, 1);
  }
}

// im2col / col2im and the depthwise 3×3 convolution.
void bench_conv(Bench& b, bool quick) {
  // ---- im2col / col2im: bytes = col written (+ read for col2im) ----
  {
    ConvGeom g1{1, 28, 28, 5, 5, 1, 1, 0, 0}, g2{20, 12, 12, 5, 5, 1, 1, 0, 0};
    for (const ConvGeom& g : {g1, g2}) {
      const int64_t rows = g.C * g.KH * g.KW, cols = g.OH() * g.OW();
      auto x = uniform_floats(g.C * g.H * g.W, 3);
      std::vector<float> col(static_cast<size_t>(rows * cols)), dx(static_cast<size_t>(g.C * g.H * g.W));
      const std::string shape = std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) + " k5";
      b.row("im2col", shape, "GB/s", 1, 4.0 * rows * cols, [&] { im2col_scalar(g, x.data(), col.data()); },
            [&] { im2col_avx2(g, x.data(), col.data()); });
      b.row("col2im", shape, "GB/s", 1, 4.0 * rows * cols, [&] { col2im_scalar(g, col.data(), dx.data()); },
            [&] { col2im_avx2(g, col.data(), dx.data()); });
    }
  }

  // ---- depthwise 3×3, stride 1, pad 1 (a MobileNet block): flops = 2·C·OH·OW·9 ----
  {
    ConvGeom g = quick ? ConvGeom{32, 28, 28, 3, 3, 1, 1, 1, 1} : ConvGeom{32, 112, 112, 3, 3, 1, 1, 1, 1};
    const int64_t n_in = g.C * g.H * g.W, n_out = g.C * g.OH() * g.OW();
    auto x = uniform_floats(n_in, 4), w = uniform_floats(g.C * 9, 5), dy = uniform_floats(n_out, 6);
    std::vector<float> y(static_cast<size_t>(n_out)), dx(static_cast<size_t>(n_in)), dw(static_cast<size_t>(g.C * 9));
    const std::string shape = std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) + " 3x3";
    const double flops = 2.0 * n_out * 9;
    b.row("depthwise forward", shape, "GFLOP/s", 1, flops,
          [&] { depthwise_forward_scalar(g, x.data(), w.data(), nullptr, y.data()); },
          [&] { depthwise_forward_avx2(g, x.data(), w.data(), nullptr, y.data()); });
    b.row("depthwise backward", shape, "GFLOP/s", 1, 2 * flops,
          [&] { depthwise_backward_scalar(g, x.data(), w.data(), dy.data(), dx.data(), dw.data()); },
          [&] { depthwise_backward_avx2(g, x.data(), w.data(), dy.data(), dx.data(), dw.data()); });
  }
}

// Elementwise, channel and softmax kernels, GB/s.
void bench_elementwise(Bench& b, bool quick) {
  // ---- elementwise, GB/s: bytes each call must move (reads + writes) ----
  {
    const int64_t n = quick ? (1 << 16) : (1 << 20);  // 4 MiB per array at full size: L3, not DRAM
    const std::string shape = std::to_string(n) + " floats";
    auto x = uniform_floats(n, 7), dy = uniform_floats(n, 8);
    std::vector<float> y(static_cast<size_t>(n)), dx(static_cast<size_t>(n));
    b.row("relu forward", shape, "GB/s", 1, 8.0 * n, [&] { relu_forward_scalar(x.data(), y.data(), n); },
          [&] { relu_forward_avx2(x.data(), y.data(), n); });
    b.row("relu backward", shape, "GB/s", 1, 16.0 * n, [&] { relu_backward_scalar(x.data(), dy.data(), dx.data(), n); },
          [&] { relu_backward_avx2(x.data(), dy.data(), dx.data(), n); });
    b.row("relu6 forward", shape, "GB/s", 1, 8.0 * n, [&] { relu6_forward_scalar(x.data(), y.data(), n); },
          [&] { relu6_forward_avx2(x.data(), y.data(), n); });
    b.row("hard_swish forward", shape, "GB/s", 1, 8.0 * n, [&] { hard_swish_forward_scalar(x.data(), y.data(), n); },
          [&] { hard_swish_forward_avx2(x.data(), y.data(), n); });
    b.row("hard_swish backward", shape, "GB/s", 1, 16.0 * n,
          [&] { hard_swish_backward_scalar(x.data(), dy.data(), dx.data(), n); },
          [&] { hard_swish_backward_avx2(x.data(), dy.data(), dx.data(), n); });
    const int64_t C = 64, HW = n / C;
    auto s = uniform_floats(C, 9), t = uniform_floats(C, 10);
    const std::string cshape = "64x" + std::to_string(HW) + " (C x HW)";
    b.row("bias_add_channels", cshape, "GB/s", 1, 8.0 * n, [&] { bias_add_channels_scalar(y.data(), s.data(), 1, C, HW); },
          [&] { bias_add_channels_avx2(y.data(), s.data(), 1, C, HW); });
    b.row("scale_shift_channels", cshape, "GB/s", 1, 8.0 * n,
          [&] { scale_shift_channels_scalar(x.data(), s.data(), t.data(), y.data(), 1, C, HW); },
          [&] { scale_shift_channels_avx2(x.data(), s.data(), t.data(), y.data(), 1, C, HW); });
    std::vector<float> acc(static_cast<size_t>(std::max(C, HW)));
    b.row("sum_rows", cshape, "GB/s", 1, 4.0 * n, [&] { sum_rows_scalar(x.data(), C, HW, acc.data()); },
          [&] { sum_rows_avx2(x.data(), C, HW, acc.data()); });
    b.row("sum_cols", "64x" + std::to_string(HW) + " (N x C)", "GB/s", 1, 4.0 * n,
          [&] { sum_cols_scalar(x.data(), C, HW, acc.data()); }, [&] { sum_cols_avx2(x.data(), C, HW, acc.data()); });
    for (int64_t cls : {10, 1000}) {
      const int64_t R = n / cls;
      const std::string sshape = std::to_string(R) + "x" + std::to_string(cls);
      b.row("softmax rows", sshape, "GB/s", 1, 8.0 * R * cls, [&] { softmax_rows_scalar(x.data(), y.data(), R, cls); },
            [&] { softmax_rows_avx2(x.data(), y.data(), R, cls); });
      b.row("log_softmax rows", sshape, "GB/s", 1, 8.0 * R * cls,
            [&] { log_softmax_rows_scalar(x.data(), y.data(), R, cls); },
            [&] { log_softmax_rows_avx2(x.data(), y.data(), R, cls); });
    }
  }
}

// Max / average pooling at LeNet-5's pool shapes, GB/s.
void bench_pool(Bench& b, bool quick) {
  // LeNet-5's pool1 at batch 64 as one 1280-channel image: 20·64 planes of 24×24, 2×2/2
  ConvGeom pg{quick ? 64 : 1280, 24, 24, 2, 2, 2, 2, 0, 0};
  const int64_t pin = pg.C * 24 * 24, pout = pg.C * 12 * 12;
  auto px = uniform_floats(pin, 11);
  std::vector<float> py(static_cast<size_t>(pout)), pdx(static_cast<size_t>(pin));
  std::vector<int32_t> parg(static_cast<size_t>(pout));
  const std::string pshape = std::to_string(pg.C) + "x24x24 2x2/2";
  max_pool2d_forward(pg, px.data(), py.data(), parg.data());  // real arg-max indices for the backward row
  b.row("max_pool2d forward", pshape, "GB/s", 1, 4.0 * pin + 8.0 * pout,
        [&] { max_pool2d_forward_scalar(pg, px.data(), py.data(), parg.data()); },
        [&] { max_pool2d_forward_avx2(pg, px.data(), py.data(), parg.data()); });
  b.row("max_pool2d backward", pshape, "GB/s", 1, 8.0 * pin + 8.0 * pout,
        [&] { max_pool2d_backward_scalar(pg, py.data(), parg.data(), pdx.data()); },
        [&] { max_pool2d_backward_avx2(pg, py.data(), parg.data(), pdx.data()); });
  b.row("avg_pool2d forward", pshape, "GB/s", 1, 4.0 * pin + 4.0 * pout,
        [&] { avg_pool2d_forward_scalar(pg, px.data(), py.data()); },
        [&] { avg_pool2d_forward_avx2(pg, px.data(), py.data()); });
  // LeNet-5's pool2 at batch 64: 50·64 planes of 8×8 (OW = 4: one vector of 8 input columns)
  // and a 3×3, stride-3 window (the backward's general, gathering path)
  for (const ConvGeom& g : {ConvGeom{quick ? 64 : 3200, 8, 8, 2, 2, 2, 2, 0, 0},
                            ConvGeom{quick ? 64 : 1280, 24, 24, 3, 3, 3, 3, 0, 0}}) {
    const int64_t n_in = g.C * g.H * g.W, n_out = g.C * g.OH() * g.OW();
    auto gx = uniform_floats(n_in, 12);
    std::vector<float> gy(static_cast<size_t>(n_out)), gdx(static_cast<size_t>(n_in));
    std::vector<int32_t> garg(static_cast<size_t>(n_out));
    max_pool2d_forward(g, gx.data(), gy.data(), garg.data());
    const std::string gshape = std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) + " " +
                               std::to_string(g.KH) + "x" + std::to_string(g.KW) + "/" + std::to_string(g.SH);
    b.row("max_pool2d backward", gshape, "GB/s", 1, 8.0 * n_in + 8.0 * n_out,
          [&] { max_pool2d_backward_scalar(g, gy.data(), garg.data(), gdx.data()); },
          [&] { max_pool2d_backward_avx2(g, gy.data(), garg.data(), gdx.data()); });
  }
}

// --sparse: the kept fractions, per prunable layer in order. Han et al. 2015 Tables 1-2, and the
// ones our DNS default reached (book/17-dns.md, seed 1 of each net's seeds table); the weights
// are the random init (timing depends on the count and spread of nonzeros, not their values).
struct SparseRates {
  const char* net;
  const char* source;
  std::vector<double> keep;
};

int run_sparse_bench(const ExampleArgs& args) {
  const std::vector<SparseRates> sets{
      {"lenet5", "Han Table 2", {0.66, 0.12, 0.08, 0.19}},
      {"lenet5", "our DNS", {0.22, 0.0643, 0.0149, 0.063}},
      {"lenet300", "Han Table 1", {0.08, 0.09, 0.26}},
      {"lenet300", "our DNS", {0.0224, 0.0348, 0.112}},
  };
  const int samples = args.quick() ? 5 : 21;
  std::printf("bench --sparse: kernels %s, 1 thread, median of %d interleaved samples\n", kernel_mode_name(kernel_mode()),
              samples);
  for (const SparseRates& r : sets) {
    manual_seed(args.seed());
    auto net = r.net == std::string("lenet5") ? make_lenet5() : make_lenet_300_100();
    auto layers = prunable_parameters(*net);
    for (size_t i = 0; i < layers.size(); ++i)
      prune_parameter(*layers[i].param, sparsity_mask(layers[i].param->var.value(), r.keep[i]));
    const SparseModel sm(*net);
    ResultTable t = sparse_timing_table(sm, *net, {1, 28, 28}, samples);
    t.print(std::string(r.net) + " pruned to " + r.source + "'s kept fractions: CSR (16-bit columns) vs the dense float "
            "layer; for layers without weights the three CSR columns are the same run");
    std::printf("  weights kept %lld of %lld (%.1fx); CSR %lld bytes vs dense float %lld bytes (%.1fx)\n",
                static_cast<long long>(sm.kept()), static_cast<long long>(sm.total()),
                static_cast<double>(sm.total()) / sm.kept(), static_cast<long long>(sm.csr_bytes()),
                static_cast<long long>(sm.dense_bytes()), static_cast<double>(sm.dense_bytes()) / sm.csr_bytes());
  }
  return 0;
}

}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("bench",
                   "Kernel benchmark: every kernel's scalar side against its AVX2 side (GFLOP/s or GB/s),\n"
                   "median of >= 3 runs; 1 thread unless the threads column says 2.",
                   "full run: about 2-3 minutes on 2 cores (--quick: seconds)",
                   {"--data", "--json"});
  args.option("--filter", "", "only rows whose kernel name contains this text (e.g. sgemm)");
  args.option("--skip-scalar", "false", "time only the AVX2 side (examples/peers.sh uses this)");
  args.option("--clock", "wall", "wall | cpu: cpu times 1-thread rows in process CPU time, which leaves out the\n"
              "time other jobs on a shared machine held the core (2-thread rows always use wall time)");
  args.option("--epoch", "false", "instead of the kernels: one MNIST training epoch of LeNet-5 and LeNet-300-100\n"
              "(scalar vs AVX2, 1 and 2 threads) and batch-1 inference latency, wall and CPU time");
  args.option("--runs", "3", "--epoch: epochs timed per AVX2 configuration (the median is reported)");
  args.option("--model", "all", "--epoch: lenet5, lenet300 or all");
  args.option("--scalar-runs", "1", "--epoch: epochs timed on the scalar side (1 thread; 0 skips it)");
  args.option("--sparse", "false", "instead of the kernels: the pruned LeNets run from CSR (Han's and our DNS kept\n"
              "fractions), each layer and the whole model vs dense float, batch 1 and 64, 1 thread");
  args.parse(argc, argv);
  if (args.get_bool("--epoch")) return run_epoch_bench(args);
  if (args.get_bool("--sparse")) return run_sparse_bench(args);
  for (const char* f : {"--data", "--runs", "--model", "--scalar-runs"})  // --epoch's flags, not the kernels'
    if (args.given(f)) args.fail(std::string(f) + " applies only with --epoch");
  Bench b;
  if (args.get("--clock") == "cpu") b.clock = Clock::cpu;
  else if (args.get("--clock") != "wall") args.fail("--clock expects wall or cpu, found " + args.get("--clock"));
  b.filter = args.get("--filter");
  b.skip_scalar = args.get_bool("--skip-scalar");
  const bool quick = args.quick();
  if (quick) b.min_s = 0.02;
  std::printf("bench: kernels scalar vs avx2 (CPU has AVX2: %s), %s, clock %s\n", b.have_avx2 ? "yes" : "no",
              quick ? "--quick (small shapes, short runs)" : "full", args.get("--clock").c_str());

  // ---- 1. sgemm ----
  bench_sgemm(b, quick);
  // ---- 2. convolution helpers ----
  bench_conv(b, quick);
  // ---- 3. elementwise ----
  bench_elementwise(b, quick);
  // ---- 4. pooling ----
  bench_pool(b, quick);

  // ---- 5. the table ----
  b.table.print("kernels: scalar vs AVX2 (median of >= 3 runs; GFLOP/s = 2MNK / time; GB/s = bytes moved / time)");
  if (!args.json_path().empty()) {
    b.table.write_json(args.json_path());
    std::printf("wrote %s\n", args.json_path().c_str());
  }
  return 0;
}

// One error path (engine/cli.h): "bench: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("bench", argc, argv, run); }