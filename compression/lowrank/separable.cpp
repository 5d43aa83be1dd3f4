// compression/lowrank/separable.cpp — see separable.h. Book: book/13-lowrank_separable.md.
#include "compression/lowrank/separable.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "compression/lowrank/denton.h"
#include "compression/lowrank/svd.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"

namespace mgf {

SeparableConv::SeparableConv(int64_t c, int64_t n, int64_t dd, int64_t k)
    : C(c),
      N(n),
      d(dd),
      K(k),
      vertical(register_module("vertical", std::make_shared<Conv2d>(c, k, dd, 1, Conv2dOptions{}, false))),
      horizontal(register_module("horizontal", std::make_shared<Conv2d>(k, n, 1, dd, Conv2dOptions{}, true))) {}

Var SeparableConv::forward(const Var& x) { return horizontal->forward(vertical->forward(x)); }

std::shared_ptr<SeparableConv> separable_from_filters(const Conv2d& dense, int64_t k, SeparableFit fit,
                                                      int als_iterations, uint64_t seed) {
  const Conv2dOptions& o = dense.options;
  if (o.groups != 1 || o.stride_h != 1 || o.stride_w != 1 || o.pad_h != 0 || o.pad_w != 0 ||
      dense.kernel_h != dense.kernel_w)
    throw std::invalid_argument("separable_from_filters: expected a square, stride-1, unpadded, ungrouped conv");
  const int64_t C = dense.in_channels, N = dense.out_channels, d = dense.kernel_size;
  if (k < 1 || k > std::min(C * d, N * d))
    throw std::invalid_argument("separable_from_filters: expected 1 <= K <= min(C·d, N·d) = " +
                                std::to_string(std::min(C * d, N * d)) + ", found K = " + std::to_string(k));
  const Tensor& w = dense.weight.effective().value();   // [N, C, d, d]: w[((n·C + c)·d + y)·d + x]
  const int64_t rows = C * d, cols = N * d;
  std::vector<double> m(static_cast<size_t>(rows * cols));   // M[(c, y), (n, x)]
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < d; ++y)
        for (int64_t x = 0; x < d; ++x) m[(c * d + y) * cols + n * d + x] = w[((n * C + c) * d + y) * d + x];
  // M ≈ A Bᵀ, A [C·d × K] → vertical v_k^c(y) = A[(c, y), k], B [N·d × K] → horizontal h_n^k(x) = B[(n, x), k].
  std::vector<double> a(static_cast<size_t>(rows * k)), b(static_cast<size_t>(cols * k));
  if (fit == SeparableFit::svd) {
    const Svd sv = svd(m.data(), rows, cols);
    // Split σ evenly (√σ each) so the two filters have comparable scales for the optimiser.
    for (int64_t r = 0; r < k; ++r) {
      const double sq = std::sqrt(sv.s[r]);
      for (int64_t i = 0; i < rows; ++i) a[i * k + r] = sv.u[i * sv.rank + r] * sq;
      for (int64_t j = 0; j < cols; ++j) b[j * k + r] = sv.v[j * sv.rank + r] * sq;
    }
  } else {
    const AlsResult r = als_lowrank(m.data(), rows, cols, k, als_iterations, seed);
    a = r.x;
    b = r.y;
  }
  auto f = std::make_shared<SeparableConv>(C, N, d, k);
  float* wv = f->vertical->weight.var.value().data();     // [K, C, d, 1]
  float* wh = f->horizontal->weight.var.value().data();   // [N, K, 1, d]
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < d; ++y) wv[(r * C + c) * d + y] = static_cast<float>(a[(c * d + y) * k + r]);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < k; ++r)
      for (int64_t x = 0; x < d; ++x) wh[(n * k + r) * d + x] = static_cast<float>(b[(n * d + x) * k + r]);
  if (dense.bias) f->horizontal->bias->var.value() = dense.bias->var.value().clone();
  return f;
}

double separable_filter_error(const Conv2d& dense, const SeparableConv& f) {
  const Tensor& w = dense.weight.effective().value();
  const float* wv = f.vertical->weight.var.value().data();
  const float* wh = f.horizontal->weight.var.value().data();
  const int64_t C = f.C, N = f.N, d = f.d, K = f.K;
  double num = 0.0, den = 0.0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < d; ++y)
        for (int64_t x = 0; x < d; ++x) {
          double p = 0.0;
          for (int64_t r = 0; r < K; ++r) p += static_cast<double>(wh[(n * K + r) * d + x]) * wv[(r * C + c) * d + y];
          const double t = w[((n * C + c) * d + y) * d + x];
          num += (t - p) * (t - p);
          den += t * t;
        }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

std::vector<double> separable_data_reconstruction(SeparableConv& f, Conv2d& dense, const Tensor& z, int epochs,
                                                  int64_t batch, float lr, uint64_t seed) {
  if (z.ndim() != 4 || z.dim(1) != f.C || batch < 1 || epochs < 1)
    throw std::invalid_argument("separable_data_reconstruction: expected z [n, " + std::to_string(f.C) +
                                ", H, W], batch >= 1 and epochs >= 1, found z " + z.str());
  const int64_t n = z.dim(0), per = z.numel() / n;
  Tensor target;
  {
    NoGradGuard ng;
    target = dense.forward(Var(z)).value();
  }
  const int64_t tper = target.numel() / n;
  AdamOptions ao;
  ao.lr = lr;
  Adam opt(f.parameters(), ao);
  Rng rng(seed);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> losses;
  for (int e = 0; e < epochs; ++e) {
    rng.shuffle(order);
    double total = 0.0;
    int64_t batches = 0;
    for (int64_t s = 0; s < n; s += batch) {
      const int64_t b = std::min(batch, n - s);
      Tensor xb({b, z.dim(1), z.dim(2), z.dim(3)}), tb({b, target.dim(1), target.dim(2), target.dim(3)});
      for (int64_t i = 0; i < b; ++i) {
        std::copy(z.data() + order[s + i] * per, z.data() + (order[s + i] + 1) * per, xb.data() + i * per);
        std::copy(target.data() + order[s + i] * tper, target.data() + (order[s + i] + 1) * tper, tb.data() + i * tper);
      }
      f.zero_grad();
      Var loss = mse_loss(f.forward(Var(xb)), Var(tb));
      loss.backward();
      opt.step();
      total += loss.value().item();
      ++batches;
    }
    losses.push_back(total / static_cast<double>(batches));
  }
  return losses;
}

}  // namespace mgf
