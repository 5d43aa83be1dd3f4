// compression/pruning/obd.cpp — see obd.h (LeCun, Denker, Solla 1989). Book: book/10-obd.md.
// Notation (one sample): layer l has input x[l] (x[0] the sample), pre-activation a[l] = W x[l] + b
// and output x[l+1] = f(a[l]); "g" is ∂²E/∂a² (a vector for the diagonal forms, a matrix G for
// the exact one) and "delta" is ∂E/∂a.
#include "compression/pruning/obd.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "engine/rng.h"
#include "layers/activation.h"
#include "layers/linear.h"

namespace mgf {

namespace {

double act_f(DenseActivation f, double a) {
  switch (f) {
    case DenseActivation::identity: return a;
    case DenseActivation::sigmoid: return 1.0 / (1.0 + std::exp(-a));
    case DenseActivation::tanh: return std::tanh(a);
    case DenseActivation::relu: return a > 0.0 ? a : 0.0;
  }
  return a;
}
// f′(a) and f″(a), written with the output y = f(a) where that is the usual form.
double act_d1(DenseActivation f, double a, double y) {
  switch (f) {
    case DenseActivation::identity: return 1.0;
    case DenseActivation::sigmoid: return y * (1.0 - y);
    case DenseActivation::tanh: return 1.0 - y * y;
    case DenseActivation::relu: return a > 0.0 ? 1.0 : 0.0;
  }
  return 1.0;
}
double act_d2(DenseActivation f, double y) {
  switch (f) {
    case DenseActivation::sigmoid: return y * (1.0 - y) * (1.0 - 2.0 * y);
    case DenseActivation::tanh: return -2.0 * y * (1.0 - y * y);
    default: return 0.0;  // identity; ReLU away from its kink
  }
}

std::vector<double> softmax(const std::vector<double>& a) {
  const double m = *std::max_element(a.begin(), a.end());
  std::vector<double> p(a.size());
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += (p[i] = std::exp(a[i] - m));
  for (double& v : p) v /= s;
  return p;
}

double sample_loss(const DenseNet& net, const std::vector<double>& out_a, const std::vector<double>& out_x,
                   const double* d) {
  double e = 0.0;
  if (net.loss == DenseLoss::squared_error) {
    for (size_t o = 0; o < out_x.size(); ++o) e += 0.5 * (out_x[o] - d[o]) * (out_x[o] - d[o]);
  } else {
    const std::vector<double> p = softmax(out_a);
    for (size_t o = 0; o < p.size(); ++o)
      if (d[o] != 0.0) e -= d[o] * std::log(std::max(p[o], 1e-300));
  }
  return e;
}

// ∂E/∂a of the last layer, for one sample.
std::vector<double> output_delta(const DenseNet& net, const DenseTrace& t, const double* d) {
  const DenseLayer& L = net.layers.back();
  const std::vector<double>& a = t.a.back();
  const std::vector<double>& x = t.x.back();
  std::vector<double> delta(static_cast<size_t>(L.out));
  if (net.loss == DenseLoss::squared_error) {
    for (int64_t o = 0; o < L.out; ++o) delta[o] = (x[o] - d[o]) * act_d1(L.act, a[o], x[o]);
  } else {
    double sd = 0.0;
    for (int64_t o = 0; o < L.out; ++o) sd += d[o];
    const std::vector<double> p = softmax(a);
    for (int64_t o = 0; o < L.out; ++o) delta[o] = sd * p[o] - d[o];
  }
  return delta;
}

// ∂E/∂x of layer l's input, from the layer's delta: Wᵀ delta.
std::vector<double> back_through(const DenseLayer& L, const std::vector<double>& delta) {
  std::vector<double> dx(static_cast<size_t>(L.in), 0.0);
  for (int64_t i = 0; i < L.out; ++i)
    for (int64_t j = 0; j < L.in; ++j) dx[j] += L.W[i * L.in + j] * delta[i];
  return dx;
}

}  // namespace

// ---- the net -------------------------------------------------------------------------------------
int64_t DenseNet::num_params() const {
  int64_t n = 0;
  for (const DenseLayer& L : layers) n += L.out * L.in + L.out;
  return n;
}

std::vector<double> DenseNet::flat() const {
  std::vector<double> u;
  u.reserve(static_cast<size_t>(num_params()));
  for (const DenseLayer& L : layers) {
    u.insert(u.end(), L.W.begin(), L.W.end());
    u.insert(u.end(), L.b.begin(), L.b.end());
  }
  return u;
}

void DenseNet::set_flat(const std::vector<double>& u) {
  if (static_cast<int64_t>(u.size()) != num_params())
    throw std::invalid_argument("DenseNet::set_flat: expected " + std::to_string(num_params()) + " parameters, found " +
                                std::to_string(u.size()));
  size_t k = 0;
  for (DenseLayer& L : layers) {
    for (double& w : L.W) w = u[k++];
    for (double& b : L.b) b = u[k++];
  }
}

int64_t DenseNet::weight_index(size_t l, int64_t i, int64_t j) const {
  int64_t k = 0;
  for (size_t m = 0; m < l; ++m) k += layers[m].out * layers[m].in + layers[m].out;
  return k + i * layers[l].in + j;
}

int64_t DenseNet::bias_index(size_t l, int64_t i) const { return weight_index(l, 0, 0) + layers[l].out * layers[l].in + i; }

DenseNet make_dense_net(const std::vector<int64_t>& sizes, DenseActivation act, DenseLoss loss, uint64_t seed) {
  if (sizes.size() < 2) throw std::invalid_argument("make_dense_net: expected at least 2 sizes (in, out), found " +
                                                    std::to_string(sizes.size()));
  Rng rng(seed);
  DenseNet net;
  net.loss = loss;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    DenseLayer L;
    L.in = sizes[l];
    L.out = sizes[l + 1];
    const double r = 1.0 / std::sqrt(static_cast<double>(L.in));
    L.W.resize(static_cast<size_t>(L.in * L.out));
    L.b.resize(static_cast<size_t>(L.out));
    for (double& w : L.W) w = rng.uniform(static_cast<float>(-r), static_cast<float>(r));
    for (double& b : L.b) b = rng.uniform(static_cast<float>(-r), static_cast<float>(r));
    const bool last = l + 2 == sizes.size();
    L.act = last && loss == DenseLoss::softmax_cross_entropy ? DenseActivation::identity : act;
    net.layers.push_back(std::move(L));
  }
  return net;
}

DenseTrace dense_forward(const DenseNet& net, const double* sample) {
  DenseTrace t;
  t.x.emplace_back(sample, sample + net.in());
  for (const DenseLayer& L : net.layers) {
    const std::vector<double>& x = t.x.back();
    std::vector<double> a(L.b), y(static_cast<size_t>(L.out));
    for (int64_t i = 0; i < L.out; ++i) {
      const double* w = &L.W[i * L.in];
      for (int64_t j = 0; j < L.in; ++j) a[i] += w[j] * x[j];
      y[i] = act_f(L.act, a[i]);
    }
    t.a.push_back(std::move(a));
    t.x.push_back(std::move(y));
  }
  return t;
}

std::vector<double> dense_output(const DenseNet& net, const double* sample) { return dense_forward(net, sample).x.back(); }

double dense_loss(const DenseNet& net, const DenseData& data) {
  double e = 0.0;
  for (int64_t p = 0; p < data.P; ++p) {
    const DenseTrace t = dense_forward(net, &data.x[p * net.in()]);
    e += sample_loss(net, t.a.back(), t.x.back(), &data.d[p * net.out()]);
  }
  return e / static_cast<double>(data.P);
}

std::vector<double> dense_gradient(const DenseNet& net, const DenseData& data) {
  std::vector<double> g(static_cast<size_t>(net.num_params()), 0.0);
  for (int64_t p = 0; p < data.P; ++p) {
    const DenseTrace t = dense_forward(net, &data.x[p * net.in()]);
    std::vector<double> delta = output_delta(net, t, &data.d[p * net.out()]);
    for (size_t l = net.layers.size(); l-- > 0;) {
      const DenseLayer& L = net.layers[l];
      const int64_t w0 = net.weight_index(l, 0, 0);
      for (int64_t i = 0; i < L.out; ++i) {
        for (int64_t j = 0; j < L.in; ++j) g[w0 + i * L.in + j] += delta[i] * t.x[l][j];
        g[w0 + L.out * L.in + i] += delta[i];
      }
      if (l == 0) break;
      std::vector<double> dx = back_through(L, delta);
      const DenseLayer& below = net.layers[l - 1];
      for (int64_t i = 0; i < L.in; ++i) dx[i] *= act_d1(below.act, t.a[l - 1][i], t.x[l][i]);
      delta = std::move(dx);
    }
  }
  for (double& v : g) v /= static_cast<double>(data.P);
  return g;
}

double dense_accuracy(const DenseNet& net, const DenseData& data) {
  int64_t right = 0;
  const int64_t O = net.out();
  for (int64_t p = 0; p < data.P; ++p) {
    const std::vector<double> y = dense_output(net, &data.x[p * net.in()]);
    const double* d = &data.d[p * O];
    if (O == 1) {
      right += (y[0] > 0.5) == (d[0] > 0.5);
    } else {
      right += std::max_element(y.begin(), y.end()) - y.begin() == std::max_element(d, d + O) - d;
    }
  }
  return static_cast<double>(right) / static_cast<double>(data.P);
}

DenseNet dense_net_from(Sequential& model, DenseLoss loss) {
  DenseNet net;
  net.loss = loss;
  for (auto& [name, m] : model) {
    if (auto* lin = dynamic_cast<Linear*>(m.get())) {
      DenseLayer L;
      L.in = lin->in_features;
      L.out = lin->out_features;
      const Tensor& W = lin->weight.var.value();
      L.W.assign(W.data(), W.data() + W.numel());
      L.b.assign(static_cast<size_t>(L.out), 0.0);
      if (lin->bias)
        for (int64_t i = 0; i < L.out; ++i) L.b[i] = lin->bias->var.value()[i];
      net.layers.push_back(std::move(L));
      continue;
    }
    DenseActivation a;
    if (dynamic_cast<ReLU*>(m.get())) a = DenseActivation::relu;
    else if (dynamic_cast<Sigmoid*>(m.get())) a = DenseActivation::sigmoid;
    else if (dynamic_cast<Tanh*>(m.get())) a = DenseActivation::tanh;
    else
      throw std::invalid_argument("dense_net_from: expected Linear, ReLU, Sigmoid or Tanh modules, found " + m->type_name() +
                                  " '" + name + "'");
    if (net.layers.empty() || net.layers.back().act != DenseActivation::identity)
      throw std::invalid_argument("dense_net_from: activation '" + name + "' does not follow a Linear layer");
    net.layers.back().act = a;
  }
  if (net.layers.empty()) throw std::invalid_argument("dense_net_from: expected at least one Linear layer, found none");
  return net;
}

void dense_net_to(const DenseNet& net, Sequential& model) {
  size_t l = 0;
  for (auto& [name, m] : model) {
    auto* lin = dynamic_cast<Linear*>(m.get());
    if (!lin) continue;
    if (l >= net.layers.size() || net.layers[l].in != lin->in_features || net.layers[l].out != lin->out_features)
      throw std::invalid_argument("dense_net_to: layer '" + name + "' does not match the net's layer " + std::to_string(l));
    const DenseLayer& L = net.layers[l++];
    Tensor& W = lin->weight.var.value();
    for (int64_t k = 0; k < W.numel(); ++k) W[k] = static_cast<float>(L.W[k]);
    if (lin->bias)
      for (int64_t i = 0; i < L.out; ++i) lin->bias->var.value()[i] = static_cast<float>(L.b[i]);
  }
  if (l != net.layers.size())
    throw std::invalid_argument("dense_net_to: the model has " + std::to_string(l) + " Linear layers, the net " +
                                std::to_string(net.layers.size()));
}

int dense_train(DenseNet& net, const DenseData& data, const std::vector<uint8_t>& mask, const DenseTrainOptions& o) {
  const size_t n = static_cast<size_t>(net.num_params());
  if (!mask.empty() && mask.size() != n)
    throw std::invalid_argument("dense_train: expected a mask of " + std::to_string(n) + ", found " + std::to_string(mask.size()));
  std::vector<double> u = net.flat(), v(n, 0.0);
  for (size_t k = 0; k < n; ++k)
    if (!mask.empty() && !mask[k]) u[k] = 0.0;
  net.set_flat(u);
  int step = 0;
  for (; step < o.steps; ++step) {
    if (o.target_loss > 0.0 && dense_loss(net, data) <= o.target_loss) break;
    const std::vector<double> g = dense_gradient(net, data);
    for (size_t k = 0; k < n; ++k) {
      if (!mask.empty() && !mask[k]) continue;
      v[k] = o.momentum * v[k] - o.lr * (g[k] + o.weight_decay * u[k]);
      u[k] += v[k];
    }
    net.set_flat(u);
  }
  return step;
}

// ---- OBD -----------------------------------------------------------------------------------------
std::string hessian_form_name(HessianForm f) {
  switch (f) {
    case HessianForm::levenberg_marquardt: return "Levenberg-Marquardt";
    case HessianForm::diagonal: return "diagonal";
    case HessianForm::exact: return "exact";
  }
  return "?";
}

std::vector<double> obd_diag_hessian(const DenseNet& net, const DenseData& data, HessianForm form) {
  const bool exact = form == HessianForm::exact;
  const bool keep_f2 = form != HessianForm::levenberg_marquardt;  // the f″ terms
  std::vector<double> h(static_cast<size_t>(net.num_params()), 0.0);
  const DenseLayer& last = net.layers.back();
  for (int64_t p = 0; p < data.P; ++p) {
    const DenseTrace t = dense_forward(net, &data.x[p * net.in()]);
    const double* d = &data.d[p * net.out()];
    std::vector<double> delta = output_delta(net, t, d);
    // ∂²E/∂a² at the output: a full O×O matrix G (exact) or its diagonal g.
    const int64_t O = last.out;
    std::vector<double> G(exact ? static_cast<size_t>(O * O) : 0, 0.0), g(static_cast<size_t>(O), 0.0);
    if (net.loss == DenseLoss::squared_error) {
      // E = ½Σ(x − d)²: ∂²E/∂a_o² = f′² + (x − d) f″, no cross terms between outputs.
      for (int64_t o = 0; o < O; ++o) {
        const double f1 = act_d1(last.act, t.a.back()[o], t.x.back()[o]);
        const double v = f1 * f1 + (keep_f2 ? (t.x.back()[o] - d[o]) * act_d2(last.act, t.x.back()[o]) : 0.0);
        g[o] = v;
        if (exact) G[o * O + o] = v;
      }
    } else {
      // Softmax cross-entropy: ∂²E/∂a∂aᵀ = Σd · (diag(p) − p pᵀ); its diagonal p(1 − p) >= 0.
      double sd = 0.0;
      for (int64_t o = 0; o < O; ++o) sd += d[o];
      const std::vector<double> pr = softmax(t.a.back());
      for (int64_t o = 0; o < O; ++o) {
        g[o] = sd * pr[o] * (1.0 - pr[o]);
        if (exact)
          for (int64_t q = 0; q < O; ++q) G[o * O + q] = sd * ((o == q ? pr[o] : 0.0) - pr[o] * pr[q]);
      }
    }
    for (size_t l = net.layers.size(); l-- > 0;) {
      const DenseLayer& L = net.layers[l];
      const int64_t w0 = net.weight_index(l, 0, 0);
      // ∂²E/∂w_ij² = ∂²E/∂a_i² · x_j²   (a_i is linear in w_ij); the bias has x_j = 1.
      for (int64_t i = 0; i < L.out; ++i) {
        const double gi = exact ? G[i * L.out + i] : g[i];
        for (int64_t j = 0; j < L.in; ++j) h[w0 + i * L.in + j] += gi * t.x[l][j] * t.x[l][j];
        h[w0 + L.out * L.in + i] += gi;
      }
      if (l == 0) break;
      const DenseLayer& below = net.layers[l - 1];
      const std::vector<double>& a = t.a[l - 1];
      const std::vector<double>& y = t.x[l];
      const std::vector<double> dEdx = back_through(L, delta);  // ∂E/∂x of this layer's input
      const int64_t n = L.in;
      std::vector<double> nd(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) nd[i] = dEdx[i] * act_d1(below.act, a[i], y[i]);
      if (exact) {
        // G_below = D (Wᵀ G W) D + diag(f″ ⊙ ∂E/∂x), D = diag(f′): the chain rule twice, exactly.
        std::vector<double> GW(static_cast<size_t>(L.out * n), 0.0);  // G W  [out × n]
        for (int64_t o = 0; o < L.out; ++o)
          for (int64_t q = 0; q < L.out; ++q) {
            const double gq = G[o * L.out + q];
            if (gq == 0.0) continue;
            for (int64_t j = 0; j < n; ++j) GW[o * n + j] += gq * L.W[q * n + j];
          }
        std::vector<double> Gn(static_cast<size_t>(n * n), 0.0);
        for (int64_t o = 0; o < L.out; ++o)
          for (int64_t i = 0; i < n; ++i) {
            const double w = L.W[o * n + i];
            if (w == 0.0) continue;
            for (int64_t j = 0; j < n; ++j) Gn[i * n + j] += w * GW[o * n + j];
          }
        for (int64_t i = 0; i < n; ++i) {
          const double fi = act_d1(below.act, a[i], y[i]);
          for (int64_t j = 0; j < n; ++j) Gn[i * n + j] *= fi * act_d1(below.act, a[j], y[j]);
          Gn[i * n + i] += act_d2(below.act, y[i]) * dEdx[i];
        }
        G = std::move(Gn);
      } else {
        // LeCun et al.: ∂²E/∂a_i² = f′(a_i)² Σ_l w_li² ∂²E/∂a_l² [+ f″(a_i) ∂E/∂x_i].
        std::vector<double> gn(static_cast<size_t>(n), 0.0);
        for (int64_t o = 0; o < L.out; ++o) {
          if (g[o] == 0.0) continue;
          for (int64_t i = 0; i < n; ++i) gn[i] += L.W[o * n + i] * L.W[o * n + i] * g[o];
        }
        for (int64_t i = 0; i < n; ++i) {
          const double fi = act_d1(below.act, a[i], y[i]);
          gn[i] = fi * fi * gn[i] + (keep_f2 ? act_d2(below.act, y[i]) * dEdx[i] : 0.0);
        }
        g = std::move(gn);
      }
      delta = std::move(nd);
    }
  }
  for (double& v : h) v /= static_cast<double>(data.P);
  return h;
}

std::vector<double> obd_conv_hessian(const std::vector<double>& g, const std::vector<double>& x, int64_t C, int64_t H,
                                     int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t stride, int64_t pad) {
  const int64_t OH = stride > 0 ? (H + 2 * pad - KH) / stride + 1 : 0, OW = stride > 0 ? (W + 2 * pad - KW) / stride + 1 : 0;
  if (stride < 1 || pad < 0 || OH < 1 || OW < 1 || static_cast<int64_t>(x.size()) != C * H * W ||
      static_cast<int64_t>(g.size()) != OC * OH * OW)
    throw std::invalid_argument("obd_conv_hessian: expected x of " + std::to_string(C * H * W) + " and g of " +
                                std::to_string(OC * std::max<int64_t>(OH, 0) * std::max<int64_t>(OW, 0)) +
                                " values (stride >= 1, pad >= 0, a kernel that fits), found " + std::to_string(x.size()) +
                                " and " + std::to_string(g.size()));
  std::vector<double> h(static_cast<size_t>(OC * C * KH * KW), 0.0);
  // Σ over the output positions (oy, ox) that use weight (oc, c, ky, kx): g · x².
  for (int64_t oc = 0; oc < OC; ++oc)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const double go = g[(oc * OH + oy) * OW + ox];
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < KH; ++ky) {
            const int64_t iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= H) continue;
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t ix = ox * stride - pad + kx;
              if (ix < 0 || ix >= W) continue;
              const double v = x[(c * H + iy) * W + ix];
              h[((oc * C + c) * KH + ky) * KW + kx] += go * v * v;
            }
          }
      }
  return h;
}

std::vector<double> obd_saliency(const std::vector<double>& h, const std::vector<double>& u) {
  if (h.size() != u.size())
    throw std::invalid_argument("obd_saliency: expected h and u of one size, found " + std::to_string(h.size()) + " and " +
                                std::to_string(u.size()));
  std::vector<double> s(h.size());
  for (size_t k = 0; k < h.size(); ++k) s[k] = 0.5 * h[k] * u[k] * u[k];  // the expansion's one-parameter term
  return s;
}

std::vector<int64_t> delete_lowest(const std::vector<double>& saliency, std::vector<uint8_t>& mask,
                                   const std::vector<uint8_t>& candidate, int64_t count) {
  if (mask.size() != saliency.size() || (!candidate.empty() && candidate.size() != saliency.size()))
    throw std::invalid_argument("delete_lowest: expected saliency, mask and candidates of one size, found " +
                                std::to_string(saliency.size()) + ", " + std::to_string(mask.size()) + ", " +
                                std::to_string(candidate.size()));
  std::vector<int64_t> alive;
  for (size_t k = 0; k < mask.size(); ++k)
    if (mask[k] && (candidate.empty() || candidate[k])) alive.push_back(static_cast<int64_t>(k));
  if (count < 0 || count > static_cast<int64_t>(alive.size()))
    throw std::invalid_argument("delete_lowest: expected a count in 0.." + std::to_string(alive.size()) +
                                " (the live candidates), found " + std::to_string(count));
  std::stable_sort(alive.begin(), alive.end(), [&](int64_t a, int64_t b) { return saliency[a] < saliency[b]; });
  alive.resize(static_cast<size_t>(count));
  for (int64_t k : alive) mask[k] = 0;
  return alive;
}

}  // namespace mgf
