// compression/lowrank/denton.cpp — see denton.h. Book: book/12-lowrank_svd.md.
#include "compression/lowrank/denton.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace mgf {

FactoredLinear::FactoredLinear(int64_t in, int64_t out, int64_t k)
    : in_features(in),
      out_features(out),
      rank(k),
      first(register_module("first", std::make_shared<Linear>(in, k, false))),
      second(register_module("second", std::make_shared<Linear>(k, out, true))) {}

Var FactoredLinear::forward(const Var& x) { return second->forward(first->forward(x)); }

namespace {

void check_rank(const char* who, int64_t k, int64_t in, int64_t out) {
  if (k < 1 || k > std::min(in, out))
    throw std::invalid_argument(std::string(who) + ": expected 1 <= k <= min(in, out) = " +
                                std::to_string(std::min(in, out)) + ", found k = " + std::to_string(k));
}

// Fills first = diag(s_K) V_Kᵀ M (M: an in × in matrix applied on the right, or identity) and
// second = U_K, bias copied. d is the SVD of an out × in matrix.
std::shared_ptr<FactoredLinear> from_svd(const Linear& layer, const Svd& d, int64_t k, const std::vector<double>* m) {
  const int64_t in = layer.in_features, out = layer.out_features;
  auto f = std::make_shared<FactoredLinear>(in, out, k);
  float* w1 = f->first->weight.var.value().data();    // [k, in]
  float* w2 = f->second->weight.var.value().data();   // [out, k]
  for (int64_t r = 0; r < k; ++r)
    for (int64_t j = 0; j < in; ++j) {
      double acc = 0.0;
      if (m)
        for (int64_t t = 0; t < in; ++t) acc += d.v[t * d.rank + r] * (*m)[t * in + j];
      else
        acc = d.v[j * d.rank + r];
      w1[r * in + j] = static_cast<float>(d.s[r] * acc);
    }
  for (int64_t i = 0; i < out; ++i)
    for (int64_t r = 0; r < k; ++r) w2[i * k + r] = static_cast<float>(d.u[i * d.rank + r]);
  if (layer.bias) f->second->bias->var.value() = layer.bias->var.value().clone();
  return f;
}

}  // namespace

std::shared_ptr<FactoredLinear> factor_linear_svd(const Linear& layer, int64_t k) {
  check_rank("factor_linear_svd", k, layer.in_features, layer.out_features);
  const Svd d = svd(layer.weight.effective().value().data(), layer.out_features, layer.in_features);
  return from_svd(layer, d, k, nullptr);
}

std::shared_ptr<FactoredLinear> factor_linear_data(const Linear& layer, int64_t k, const Tensor& x, double ridge) {
  check_rank("factor_linear_data", k, layer.in_features, layer.out_features);
  return factor_linear_data(layer, k, prepare_linear_data(layer, x, ridge));
}

std::shared_ptr<FactoredLinear> factor_linear_data(const Linear& layer, int64_t k, const LinearDataSvd& prep) {
  check_rank("factor_linear_data", k, layer.in_features, layer.out_features);
  return from_svd(layer, prep.b, k, &prep.inv_half);
}

LinearDataSvd prepare_linear_data(const Linear& layer, const Tensor& x, double ridge) {
  const int64_t in = layer.in_features, out = layer.out_features;
  if (x.ndim() != 2 || x.dim(1) != in || x.dim(0) < 1)
    throw std::invalid_argument("factor_linear_data: expected inputs x [n, " + std::to_string(in) + "], found " +
                                x.str());
  const int64_t n = x.dim(0);
  // Σ = XᵀX / n, in double.
  std::vector<double> sigma(static_cast<size_t>(in * in), 0.0);
  const float* px = x.data();
  for (int64_t s = 0; s < n; ++s) {
    const float* row = px + s * in;
    for (int64_t i = 0; i < in; ++i) {
      if (row[i] == 0.0f) continue;   // post-ReLU / pooled inputs are often exactly zero
      const double ri = row[i];
      for (int64_t j = 0; j < in; ++j) sigma[i * in + j] += ri * row[j];
    }
  }
  for (auto& v : sigma) v /= static_cast<double>(n);
  const SymEig e = sym_eig(sigma.data(), in);
  const double floor = std::max(ridge * std::max(e.w[0], 0.0), std::numeric_limits<double>::min());
  // Σ^{1/2} = Q Λ^{1/2} Qᵀ and Σ^{-1/2} = Q Λ^{-1/2} Qᵀ.
  std::vector<double> half(static_cast<size_t>(in * in), 0.0), inv_half(static_cast<size_t>(in * in), 0.0);
  for (int64_t r = 0; r < in; ++r) {
    const double lam = std::max(e.w[r], floor), sq = std::sqrt(lam);
    for (int64_t i = 0; i < in; ++i) {
      const double qi = e.q[i * in + r];
      if (qi == 0.0) continue;
      for (int64_t j = 0; j < in; ++j) {
        half[i * in + j] += qi * sq * e.q[j * in + r];
        inv_half[i * in + j] += qi / sq * e.q[j * in + r];
      }
    }
  }
  // B = W Σ^{1/2} [out × in]; its rank-K truncation, then W̃ = B_K Σ^{-1/2}: first = S_K V_Kᵀ Σ^{-1/2}.
  const float* w = layer.weight.effective().value().data();
  std::vector<double> b(static_cast<size_t>(out * in), 0.0);
  for (int64_t i = 0; i < out; ++i)
    for (int64_t t = 0; t < in; ++t) {
      const double wi = w[i * in + t];
      for (int64_t j = 0; j < in; ++j) b[i * in + j] += wi * half[t * in + j];
    }
  return {svd(b.data(), out, in), std::move(inv_half)};
}

double linear_output_error(const Linear& dense, FactoredLinear& f, const Tensor& x) {
  NoGradGuard ng;
  Var xv(x);
  Var ref = linear(xv, dense.weight.effective(), Var());
  Var app = f.second->forward(f.first->forward(xv));
  const Tensor& a = ref.value();
  const Tensor& b = app.value();
  const float* bias = f.second->bias ? f.second->bias->var.value().data() : nullptr;
  const int64_t out = dense.out_features;
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double bi = b[i] - (bias ? bias[i % out] : 0.0f);
    num += (a[i] - bi) * (a[i] - bi);
    den += static_cast<double>(a[i]) * a[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

namespace {

// Solves the k × k symmetric positive (semi)definite system G z = r for each of `count` right-hand
// sides stored as rows of rhs (count × k), in place, by Cholesky with a tiny ridge for safety.
void solve_spd_rows(std::vector<double> g, int64_t k, double* rhs, int64_t count) {
  double tr = 0.0;
  for (int64_t i = 0; i < k; ++i) tr += g[i * k + i];
  const double ridge = 1e-12 * (tr > 0 ? tr : 1.0);
  for (int64_t i = 0; i < k; ++i) g[i * k + i] += ridge;
  for (int64_t j = 0; j < k; ++j) {   // G = L Lᵀ, L in the lower triangle
    double s = g[j * k + j];
    for (int64_t t = 0; t < j; ++t) s -= g[j * k + t] * g[j * k + t];
    const double ljj = std::sqrt(std::max(s, ridge));
    g[j * k + j] = ljj;
    for (int64_t i = j + 1; i < k; ++i) {
      double v = g[i * k + j];
      for (int64_t t = 0; t < j; ++t) v -= g[i * k + t] * g[j * k + t];
      g[i * k + j] = v / ljj;
    }
  }
  for (int64_t c = 0; c < count; ++c) {
    double* z = rhs + c * k;
    for (int64_t i = 0; i < k; ++i) {   // L y = r
      double v = z[i];
      for (int64_t t = 0; t < i; ++t) v -= g[i * k + t] * z[t];
      z[i] = v / g[i * k + i];
    }
    for (int64_t i = k - 1; i >= 0; --i) {   // Lᵀ z = y
      double v = z[i];
      for (int64_t t = i + 1; t < k; ++t) v -= g[t * k + i] * z[t];
      z[i] = v / g[i * k + i];
    }
  }
}

// Given fixed F [p × k], the least-squares solution of A ≈ Z Fᵀ (A: q × p as rows; or its
// transpose when trans) for Z [q × k]: Z = A F (FᵀF)⁻¹.
void als_half(const double* a, int64_t q, int64_t p, bool trans, const std::vector<double>& f, int64_t k,
              std::vector<double>& z) {
  std::vector<double> g(static_cast<size_t>(k * k), 0.0);
  for (int64_t t = 0; t < p; ++t)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) g[i * k + j] += f[t * k + i] * f[t * k + j];
  z.assign(static_cast<size_t>(q * k), 0.0);
  for (int64_t r = 0; r < q; ++r)
    for (int64_t t = 0; t < p; ++t) {
      const double av = trans ? a[t * q + r] : a[r * p + t];
      if (av == 0.0) continue;
      for (int64_t i = 0; i < k; ++i) z[r * k + i] += av * f[t * k + i];
    }
  solve_spd_rows(g, k, z.data(), q);
}

}  // namespace

AlsResult als_lowrank(const double* a, int64_t m, int64_t n, int64_t k, int iterations, uint64_t seed) {
  if (m < 1 || n < 1 || k < 1 || k > std::min(m, n) || iterations < 1)
    throw std::invalid_argument("als_lowrank: expected m, n >= 1, 1 <= k <= min(m, n), iterations >= 1, found m = " +
                                std::to_string(m) + ", n = " + std::to_string(n) + ", k = " + std::to_string(k) +
                                ", iterations = " + std::to_string(iterations));
  AlsResult r;
  Rng rng(seed);
  r.y.resize(static_cast<size_t>(n * k));
  for (auto& v : r.y) v = rng.normal();
  for (int it = 0; it < iterations; ++it) {
    als_half(a, m, n, false, r.y, k, r.x);   // X = A Y (YᵀY)⁻¹
    als_half(a, n, m, true, r.x, k, r.y);    // Y = Aᵀ X (XᵀX)⁻¹
    double loss = 0.0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double p = 0.0;
        for (int64_t t = 0; t < k; ++t) p += r.x[i * k + t] * r.y[j * k + t];
        loss += (a[i * n + j] - p) * (a[i * n + j] - p);
      }
    r.loss.push_back(loss);
  }
  return r;
}

std::vector<int64_t> balanced_kmeans(const float* rows, int64_t n, int64_t dim, int64_t groups, uint64_t seed,
                                     int iterations) {
  if (n < 1 || dim < 1 || groups < 1 || n % groups != 0)
    throw std::invalid_argument("balanced_kmeans: expected n >= 1 divisible by groups >= 1, found n = " +
                                std::to_string(n) + ", groups = " + std::to_string(groups));
  const int64_t cap = n / groups;
  Rng rng(seed);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  rng.shuffle(idx);
  std::vector<double> cent(static_cast<size_t>(groups * dim));
  for (int64_t c = 0; c < groups; ++c)
    for (int64_t t = 0; t < dim; ++t) cent[c * dim + t] = rows[idx[c] * dim + t];
  std::vector<int64_t> assign(static_cast<size_t>(n), -1);
  for (int it = 0; it < iterations; ++it) {
    // Assignment with capacity: all (distance, row, cluster) triples in ascending distance; a row
    // takes the nearest cluster that still has room.
    std::vector<std::tuple<double, int64_t, int64_t>> cand;
    cand.reserve(static_cast<size_t>(n * groups));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < groups; ++c) {
        double dist = 0.0;
        for (int64_t t = 0; t < dim; ++t) {
          const double df = rows[i * dim + t] - cent[c * dim + t];
          dist += df * df;
        }
        cand.emplace_back(dist, i, c);
      }
    std::sort(cand.begin(), cand.end());
    std::vector<int64_t> next(static_cast<size_t>(n), -1), fill(static_cast<size_t>(groups), 0);
    for (const auto& [dist, i, c] : cand)
      if (next[i] < 0 && fill[c] < cap) {
        next[i] = c;
        ++fill[c];
      }
    const bool same = next == assign;
    assign = next;
    std::fill(cent.begin(), cent.end(), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < dim; ++t) cent[assign[i] * dim + t] += rows[i * dim + t] / static_cast<double>(cap);
    if (same) break;
  }
  return assign;
}

Var gather_channels(const Var& x, const std::vector<int64_t>& index) {
  const Tensor& X = x.value();
  if (X.ndim() != 4) throw std::invalid_argument("gather_channels: expected x [N, C, H, W], found " + X.str());
  const int64_t N = X.dim(0), C = X.dim(1), S = X.dim(2) * X.dim(3), O = static_cast<int64_t>(index.size());
  for (int64_t c : index)
    if (c < 0 || c >= C)
      throw std::invalid_argument("gather_channels: index " + std::to_string(c) + " outside [0, " +
                                  std::to_string(C) + ")");
  Tensor y({N, O, X.dim(2), X.dim(3)});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      const float* src = X.data() + (n * C + index[o]) * S;
      std::copy(src, src + S, y.data() + (n * O + o) * S);
    }
  return make_result("gather_channels", std::move(y), {x}, [xn = x.node(), index, N, C, S, O](Node& self) {
    const float* dy = self.grad.data();
    float* dx = grad_buffer(*xn).data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        float* d = dx + (n * C + index[o]) * S;
        const float* s = dy + (n * O + o) * S;
        for (int64_t t = 0; t < S; ++t) d[t] += s[t];
      }
  });
}

BiclusteredConv::BiclusteredConv(const Conv2d& dense, int64_t g, int64_t h, int64_t k, uint64_t seed)
    : C(dense.in_channels), N(dense.out_channels), d(dense.kernel_size), G(g), H(h), K(k) {
  const Conv2dOptions& o = dense.options;
  if (o.groups != 1 || o.stride_h != 1 || o.stride_w != 1 || o.pad_h != 0 || o.pad_w != 0 ||
      dense.kernel_h != dense.kernel_w)
    throw std::invalid_argument("BiclusteredConv: expected a square, stride-1, unpadded, ungrouped conv");
  if (g < 1 || h < 1 || C % g != 0 || N % h != 0 || k < 1 || k > std::min(N / h, C / g * d * d))
    throw std::invalid_argument("BiclusteredConv: expected G | C = " + std::to_string(C) + ", H | N = " +
                                std::to_string(N) + ", 1 <= K <= min(N/H, C/G·d²), found G = " + std::to_string(g) +
                                ", H = " + std::to_string(h) + ", K = " + std::to_string(k));
  const Tensor w = dense.weight.effective().value();   // [N, C, d, d]
  const int64_t dd = d * d, Cg = C / G, Nh = N / H;
  // Cluster output filters as vectors of C·d² and input channels as vectors of N·d² (the slices
  // W[:, c, :, :]): channels whose filters look alike share a low-rank block.
  std::vector<float> in_rows(static_cast<size_t>(C * N * dd));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t t = 0; t < dd; ++t) in_rows[(c * N + n) * dd + t] = w[(n * C + c) * dd + t];
  const auto in_cl = balanced_kmeans(in_rows.data(), C, N * dd, G, seed);
  const auto out_cl = balanced_kmeans(w.data(), N, C * dd, H, seed + 1);
  for (int64_t q = 0; q < G; ++q)
    for (int64_t c = 0; c < C; ++c)
      if (in_cl[c] == q) in_perm.push_back(c);
  std::vector<int64_t> out_order;   // new output position → original filter
  for (int64_t q = 0; q < H; ++q)
    for (int64_t n = 0; n < N; ++n)
      if (out_cl[n] == q) out_order.push_back(n);
  inverse_out.assign(static_cast<size_t>(N), 0);
  for (int64_t p = 0; p < N; ++p) inverse_out[out_order[p]] = p;
  out_perm = inverse_out;

  Conv2dOptions og;
  og.groups = G;
  spatial = register_module("spatial", std::make_shared<Conv2d>(C, G * H * K, d, og, false));
  Conv2dOptions oh;
  oh.groups = H;
  combine = register_module("combine", std::make_shared<Conv2d>(G * H * K, N, 1, oh, true));
  float* ws = spatial->weight.var.value().data();   // [G·H·K, Cg, d, d], out channel (q·H + p)·K + r
  float* wc = combine->weight.var.value().data();   // [N, G·K, 1, 1], group p input local (r·G + q)
  // Each block (q, p): the matrix M [Nh × Cg·d²] of filters out_order[p·Nh + i] on channels
  // in_perm[q·Cg + j]; M ≈ U_K diag(s) V_Kᵀ; the spatial conv carries s·Vᵀ, the 1×1 carries U.
  for (int64_t q = 0; q < G; ++q)
    for (int64_t p = 0; p < H; ++p) {
      std::vector<double> m(static_cast<size_t>(Nh * Cg * dd));
      for (int64_t i = 0; i < Nh; ++i)
        for (int64_t j = 0; j < Cg; ++j)
          for (int64_t t = 0; t < dd; ++t)
            m[(i * Cg + j) * dd + t] = w[(out_order[p * Nh + i] * C + in_perm[q * Cg + j]) * dd + t];
      const Svd sv = svd(m.data(), Nh, Cg * dd);
      double tot = 0.0;
      for (double s : sv.s) tot += s * s;
      block_error.push_back(tot > 0 ? svd_truncation_error(sv, K) / std::sqrt(tot) : 0.0);
      for (int64_t r = 0; r < K; ++r) {
        const int64_t oc = (q * H + p) * K + r;
        for (int64_t jt = 0; jt < Cg * dd; ++jt) ws[oc * Cg * dd + jt] = static_cast<float>(sv.s[r] * sv.v[jt * sv.rank + r]);
        for (int64_t i = 0; i < Nh; ++i)
          wc[(p * Nh + i) * (G * K) + r * G + q] = static_cast<float>(sv.u[i * sv.rank + r]);
      }
    }
  if (dense.bias) {
    const float* b = dense.bias->var.value().data();
    for (int64_t pnew = 0; pnew < N; ++pnew) combine->bias->var.value()[pnew] = b[out_order[pnew]];
  }
}

void BiclusteredConv::fold_permutations(Conv2d& producer, Linear& consumer, int64_t per_channel) {
  if (folded) throw std::logic_error("BiclusteredConv::fold_permutations: already folded");
  if (producer.out_channels != C || consumer.in_features != N * per_channel)
    throw std::invalid_argument("BiclusteredConv::fold_permutations: expected a producer with " + std::to_string(C) +
                                " outputs and a consumer with " + std::to_string(N) + " x " +
                                std::to_string(per_channel) + " inputs, found " +
                                std::to_string(producer.out_channels) + " and " +
                                std::to_string(consumer.in_features));
  // Producer: new output channel i = old channel in_perm[i].
  Tensor& pw = producer.weight.var.value();
  const int64_t fsz = pw.numel() / C;
  Tensor nw(pw.shape());
  for (int64_t i = 0; i < C; ++i) std::copy(pw.data() + in_perm[i] * fsz, pw.data() + (in_perm[i] + 1) * fsz, nw.data() + i * fsz);
  pw = nw;
  if (producer.bias) {
    Tensor& pb = producer.bias->var.value();
    Tensor nb(pb.shape());
    for (int64_t i = 0; i < C; ++i) nb[i] = pb[in_perm[i]];
    pb = nb;
  }
  // Consumer: this layer now emits filter j at position inverse_out[j]; the consumer's column
  // block for position p must be the old block of the filter that lands there.
  Tensor& cw = consumer.weight.var.value();   // [out, N·per_channel]
  const int64_t rows = consumer.out_features, in = consumer.in_features;
  Tensor ncw(cw.shape());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < N; ++j)
      std::copy(cw.data() + r * in + j * per_channel, cw.data() + r * in + (j + 1) * per_channel,
                ncw.data() + r * in + inverse_out[j] * per_channel);
  cw = ncw;
  folded = true;
}

Var BiclusteredConv::forward(const Var& x) {
  if (folded) return combine->forward(channel_shuffle(spatial->forward(x), G));
  Var xs = gather_channels(x, in_perm);                // input channels grouped by cluster
  Var z = spatial->forward(xs);                        // [N, G·(H·K)], ordered (q, p, r)
  z = channel_shuffle(z, G);                           // → ordered (p, r, q): H contiguous blocks
  Var y = combine->forward(z);                         // [N, N_out] in clustered order
  return gather_channels(y, inverse_out);              // back to the original filter order
}

}  // namespace mgf
