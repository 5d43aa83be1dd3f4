// compression/pruning/obs.cpp — see obs.h (Hassibi & Stork 1993). Book: book/11-obs.md.
// Matrices are row-major std::vector<double>; n is the number of (live) parameters.
#include "compression/pruning/obs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "engine/threads.h"

namespace mgf {

std::vector<double> dense_output_jacobian(const DenseNet& net, const double* sample) {
  const DenseTrace t = dense_forward(net, sample);
  const int64_t O = net.out(), n = net.num_params();
  std::vector<double> J(static_cast<size_t>(O * n), 0.0);
  const DenseLayer& last = net.layers.back();
  for (int64_t o = 0; o < O; ++o) {
    double* row = &J[o * n];
    // ∂F_o/∂a of the last layer: f′(a_o) e_o; then ordinary backpropagation.
    std::vector<double> delta(static_cast<size_t>(O), 0.0);
    const double y = t.x.back()[o], a = t.a.back()[o];
    switch (last.act) {
      case DenseActivation::sigmoid: delta[o] = y * (1.0 - y); break;
      case DenseActivation::tanh: delta[o] = 1.0 - y * y; break;
      case DenseActivation::relu: delta[o] = a > 0.0 ? 1.0 : 0.0; break;
      case DenseActivation::identity: delta[o] = 1.0; break;
    }
    for (size_t l = net.layers.size(); l-- > 0;) {
      const DenseLayer& L = net.layers[l];
      const int64_t w0 = net.weight_index(l, 0, 0);
      for (int64_t i = 0; i < L.out; ++i) {
        if (delta[i] == 0.0) continue;
        for (int64_t j = 0; j < L.in; ++j) row[w0 + i * L.in + j] = delta[i] * t.x[l][j];
        row[w0 + L.out * L.in + i] = delta[i];
      }
      if (l == 0) break;
      const DenseLayer& below = net.layers[l - 1];
      std::vector<double> nd(static_cast<size_t>(L.in), 0.0);
      for (int64_t i = 0; i < L.out; ++i)
        for (int64_t j = 0; j < L.in; ++j) nd[j] += L.W[i * L.in + j] * delta[i];
      for (int64_t j = 0; j < L.in; ++j) {
        const double yj = t.x[l][j], aj = t.a[l - 1][j];
        switch (below.act) {
          case DenseActivation::sigmoid: nd[j] *= yj * (1.0 - yj); break;
          case DenseActivation::tanh: nd[j] *= 1.0 - yj * yj; break;
          case DenseActivation::relu: nd[j] *= aj > 0.0 ? 1.0 : 0.0; break;
          case DenseActivation::identity: break;
        }
      }
      delta = std::move(nd);
    }
  }
  return J;
}

std::vector<double> sherman_morrison_inverse(const std::vector<double>& X, int64_t m, int64_t n, double P, double alpha) {
  if (!(alpha > 0.0) || !(P > 0.0) || static_cast<int64_t>(X.size()) != m * n)
    throw std::invalid_argument("sherman_morrison_inverse: expected alpha > 0, P > 0 and X of " + std::to_string(m) + "x" +
                                std::to_string(n) + " = " + std::to_string(m * n) + " values, found alpha " +
                                std::to_string(alpha) + ", P " + std::to_string(P) + ", " + std::to_string(X.size()) +
                                " values");
  // H⁻¹_0 = α⁻¹ I (Hassibi & Stork: α small, 1e-8 .. 1e-4, so H_0 barely biases the result).
  std::vector<double> Hi(static_cast<size_t>(n * n), 0.0), v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) Hi[i * n + i] = 1.0 / alpha;
  for (int64_t k = 0; k < m; ++k) {
    const double* x = &X[k * n];
    // v = H⁻¹_m X   (H⁻¹ is symmetric, so Xᵀ H⁻¹ = vᵀ)
    for (int64_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (int64_t j = 0; j < n; ++j) s += Hi[i * n + j] * x[j];
      v[i] = s;
    }
    double denom = P;  // P + Xᵀ H⁻¹ X
    for (int64_t i = 0; i < n; ++i) denom += x[i] * v[i];
    for (int64_t i = 0; i < n; ++i) {
      const double f = v[i] / denom;
      if (f == 0.0) continue;
      for (int64_t j = 0; j < n; ++j) Hi[i * n + j] -= f * v[j];
    }
  }
  return Hi;
}

std::vector<double> outer_product_hessian(const std::vector<double>& X, int64_t m, int64_t n, double P, double alpha) {
  std::vector<double> H(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) H[i * n + i] = alpha;
  for (int64_t k = 0; k < m; ++k)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) H[i * n + j] += X[k * n + i] * X[k * n + j] / P;
  return H;
}

std::vector<double> spd_inverse(const std::vector<double>& A, int64_t n) {
  if (static_cast<int64_t>(A.size()) != n * n)
    throw std::invalid_argument("spd_inverse: expected " + std::to_string(n * n) + " values, found " + std::to_string(A.size()));
  // A = L Lᵀ, then A⁻¹ = L⁻ᵀ L⁻¹ column by column.
  std::vector<double> L(static_cast<size_t>(n * n), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double s = A[j * n + j];
    for (int64_t k = 0; k < j; ++k) s -= L[j * n + k] * L[j * n + k];
    if (!(s > 0.0))
      throw std::runtime_error("spd_inverse: expected a positive-definite matrix, found pivot " + std::to_string(s) +
                               " at row " + std::to_string(j));
    const double d = std::sqrt(s);
    L[j * n + j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double t = A[i * n + j];
      for (int64_t k = 0; k < j; ++k) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / d;
    }
  }
  // Linv = L⁻¹ (lower triangular), then A⁻¹ = Linvᵀ Linv.
  std::vector<double> Li(static_cast<size_t>(n * n), 0.0);
  for (int64_t c = 0; c < n; ++c) {
    Li[c * n + c] = 1.0 / L[c * n + c];
    for (int64_t i = c + 1; i < n; ++i) {
      double s = 0.0;
      for (int64_t k = c; k < i; ++k) s += L[i * n + k] * Li[k * n + c];
      Li[i * n + c] = -s / L[i * n + i];
    }
  }
  std::vector<double> Ai(static_cast<size_t>(n * n), 0.0);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i <= k; ++i) {
      const double lki = Li[k * n + i];
      if (lki == 0.0) continue;
      for (int64_t j = 0; j <= k; ++j) Ai[i * n + j] += lki * Li[k * n + j];
    }
  return Ai;
}

std::vector<double> obs_inverse_hessian(const DenseNet& net, const DenseData& data, const std::vector<uint8_t>& mask,
                                        double alpha) {
  const int64_t n = net.num_params(), O = net.out();
  if (!mask.empty() && static_cast<int64_t>(mask.size()) != n)
    throw std::invalid_argument("obs_inverse_hessian: expected a mask of " + std::to_string(n) + ", found " +
                                std::to_string(mask.size()));
  std::vector<int64_t> live;
  for (int64_t k = 0; k < n; ++k)
    if (mask.empty() || mask[k]) live.push_back(k);
  const int64_t nl = static_cast<int64_t>(live.size());
  // X rows: one per sample and output, restricted to the live parameters.
  std::vector<double> X(static_cast<size_t>(data.P * O * nl));
  for (int64_t p = 0; p < data.P; ++p) {
    const std::vector<double> J = dense_output_jacobian(net, &data.x[p * net.in()]);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t c = 0; c < nl; ++c) X[(p * O + o) * nl + c] = J[o * n + live[c]];
  }
  const std::vector<double> Hl = sherman_morrison_inverse(X, data.P * O, nl, static_cast<double>(data.P), alpha);
  std::vector<double> Hi(static_cast<size_t>(n * n), 0.0);
  for (int64_t a = 0; a < nl; ++a)
    for (int64_t b = 0; b < nl; ++b) Hi[live[a] * n + live[b]] = Hl[a * nl + b];
  return Hi;
}

std::vector<double> obs_saliency(const std::vector<double>& w, const std::vector<double>& Hinv, const std::vector<uint8_t>& mask) {
  const int64_t n = static_cast<int64_t>(w.size());
  if (static_cast<int64_t>(Hinv.size()) != n * n || (!mask.empty() && static_cast<int64_t>(mask.size()) != n))
    throw std::invalid_argument("obs_saliency: expected H^-1 of " + std::to_string(n) + "^2 and a mask of " +
                                std::to_string(n) + ", found " + std::to_string(Hinv.size()) + " and " +
                                std::to_string(mask.size()));
  std::vector<double> L(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
  for (int64_t q = 0; q < n; ++q)
    if ((mask.empty() || mask[q]) && Hinv[q * n + q] > 0.0) L[q] = 0.5 * w[q] * w[q] / Hinv[q * n + q];
  return L;
}

double obs_delete(std::vector<double>& w, std::vector<double>& Hinv, int64_t q) {
  const int64_t n = static_cast<int64_t>(w.size());
  if (q < 0 || q >= n || static_cast<int64_t>(Hinv.size()) != n * n)
    throw std::invalid_argument("obs_delete: expected q in 0.." + std::to_string(n - 1) + " and H^-1 of " +
                                std::to_string(n) + "^2, found q " + std::to_string(q) + ", " + std::to_string(Hinv.size()));
  const double hqq = Hinv[q * n + q];
  if (!(hqq > 0.0))
    throw std::invalid_argument("obs_delete: expected [H^-1]_qq > 0 for q = " + std::to_string(q) + ", found " +
                                std::to_string(hqq) + " (already deleted?)");
  const double wq = w[q];
  const std::vector<double> c(Hinv.begin() + q * n, Hinv.begin() + (q + 1) * n);  // H⁻¹ e_q (symmetric)
  // δw = −(w_q / [H⁻¹]_qq) H⁻¹ e_q: every weight moves.
  for (int64_t i = 0; i < n; ++i) w[i] -= wq / hqq * c[i];
  w[q] = 0.0;  // exactly, not up to rounding
  // H⁻¹ ← H⁻¹ − H⁻¹ e_q e_qᵀ H⁻¹ / [H⁻¹]_qq: the inverse Hessian of the remaining weights.
  for (int64_t i = 0; i < n; ++i) {
    const double f = c[i] / hqq;
    if (f == 0.0) continue;
    for (int64_t j = 0; j < n; ++j) Hinv[i * n + j] -= f * c[j];
  }
  for (int64_t i = 0; i < n; ++i) Hinv[i * n + q] = Hinv[q * n + i] = 0.0;
  return 0.5 * wq * wq / hqq;
}

// ---- pruning a small net one weight at a time ----------------------------------------------------
const char* saliency_method_name(SaliencyMethod m) {
  switch (m) {
    case SaliencyMethod::magnitude: return "magnitude";
    case SaliencyMethod::obd: return "OBD";
    case SaliencyMethod::obs: return "OBS";
  }
  return "?";
}

int64_t choose_deletion(const DenseNet& net, const DenseData& train, const std::vector<uint8_t>& mask,
                        SaliencyMethod method, double alpha) {
  const std::vector<double> u = net.flat();
  std::vector<double> s(u.size());
  if (method == SaliencyMethod::magnitude) {
    for (size_t k = 0; k < u.size(); ++k) s[k] = std::fabs(u[k]);
  } else if (method == SaliencyMethod::obd) {
    s = obd_saliency(obd_diag_hessian(net, train, HessianForm::levenberg_marquardt), u);
  } else {
    s = obs_saliency(u, obs_inverse_hessian(net, train, mask, alpha), mask);
  }
  int64_t best = -1;
  for (size_t k = 0; k < u.size(); ++k)
    if (mask[k] && (best < 0 || s[k] < s[static_cast<size_t>(best)])) best = static_cast<int64_t>(k);
  return best;
}

SmallNetPruneResult prune_small_net(DenseNet& net, const DenseData& train, std::vector<uint8_t>& mask,
                                    const SmallNetPruning& o) {
  const int64_t n = net.num_params();
  if (static_cast<int64_t>(mask.size()) != n)
    throw std::invalid_argument("prune_small_net: expected a mask of " + std::to_string(n) + ", found " +
                                std::to_string(mask.size()));
  SmallNetPruneResult r;
  r.total = n;
  r.train_accuracy.push_back(dense_accuracy(net, train));
  r.train_loss.push_back(dense_loss(net, train));
  for (;;) {
    int64_t live = 0;
    for (uint8_t m : mask) live += m;
    if (live == 0) break;
    const DenseNet good = net;
    const std::vector<uint8_t> good_mask = mask;
    std::vector<double> u = net.flat();
    int64_t q;
    if (o.method == SaliencyMethod::obs) {
      std::vector<double> Hi = obs_inverse_hessian(net, train, mask, o.alpha);
      const std::vector<double> L = obs_saliency(u, Hi, mask);
      q = std::min_element(L.begin(), L.end()) - L.begin();
      obs_delete(u, Hi, q);  // the surgeon's correction of every other weight
    } else {
      q = choose_deletion(net, train, mask, o.method, o.alpha);
      u[static_cast<size_t>(q)] = 0.0;
    }
    mask[static_cast<size_t>(q)] = 0;
    net.set_flat(u);
    double acc = dense_accuracy(net, train);
    if (acc < o.min_accuracy) {
      dense_train(net, train, mask, o.retrain);
      acc = dense_accuracy(net, train);
      if (acc < o.min_accuracy) {
        net = good;
        mask = good_mask;
        break;
      }
      ++r.retrains;
    }
    r.deleted.push_back(q);
    r.train_accuracy.push_back(acc);
    r.train_loss.push_back(dense_loss(net, train));
  }
  for (uint8_t m : mask) r.kept += m;
  return r;
}

// ---- layer-wise OBS ---------------------------------------------------------------------------
std::vector<double> layer_inverse_hessian(const std::vector<float>& x, int64_t N, int64_t in, double damp) {
  if (static_cast<int64_t>(x.size()) != N * in || N <= 0 || !(damp > 0.0))
    throw std::invalid_argument("layer_inverse_hessian: expected " + std::to_string(N) + "x" + std::to_string(in) +
                                " inputs and damp > 0, found " + std::to_string(x.size()) + " values, damp " +
                                std::to_string(damp));
  std::vector<double> H(static_cast<size_t>(in * in), 0.0);
  // H = 2 X Xᵀ / N  (X = [in × N], the columns the layer sees)
  for (int64_t s = 0; s < N; ++s) {
    const float* r = &x[s * in];
    for (int64_t i = 0; i < in; ++i) {
      const double ri = 2.0 * r[i] / static_cast<double>(N);
      if (ri == 0.0) continue;
      for (int64_t j = 0; j < in; ++j) H[i * in + j] += ri * r[j];
    }
  }
  double mean_diag = 0.0;
  for (int64_t i = 0; i < in; ++i) mean_diag += H[i * in + i];
  mean_diag /= static_cast<double>(in);
  // Damping: an input that is always 0 (MNIST's border pixels) has a zero row; λI makes H
  // invertible and is the α I of Hassibi & Stork's H₀.
  const double lambda = damp * (mean_diag > 0.0 ? mean_diag : 1.0);
  for (int64_t i = 0; i < in; ++i) H[i * in + i] += lambda;
  return spd_inverse(H, in);
}

std::vector<std::vector<float>> obs_prune_rows(const std::vector<float>& W, int64_t out, int64_t in,
                                               const std::vector<double>& Hinv, const std::vector<int64_t>& keep) {
  if (static_cast<int64_t>(W.size()) != out * in || static_cast<int64_t>(Hinv.size()) != in * in)
    throw std::invalid_argument("obs_prune_rows: expected W of " + std::to_string(out) + "x" + std::to_string(in) +
                                " and H^-1 of " + std::to_string(in) + "^2, found " + std::to_string(W.size()) + " and " +
                                std::to_string(Hinv.size()));
  for (size_t t = 0; t < keep.size(); ++t)
    if (keep[t] < 0 || keep[t] > in || (t > 0 && keep[t] > keep[t - 1]))
      throw std::invalid_argument("obs_prune_rows: expected keep counts in 0.." + std::to_string(in) +
                                  ", descending, found " + std::to_string(keep[t]) + " at position " + std::to_string(t));
  std::vector<std::vector<float>> result(keep.size(), std::vector<float>(W.size(), 0.0f));
  parallel_for(0, out, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      // Compact working copies: idx maps a position to the input it stands for; when a quarter
      // of the positions are deleted the matrix is rebuilt without them, so a step costs
      // O(live²) instead of O(in²).
      std::vector<int64_t> idx(static_cast<size_t>(in));
      for (int64_t j = 0; j < in; ++j) idx[j] = j;
      std::vector<double> H = Hinv, w(W.begin() + r * in, W.begin() + (r + 1) * in);
      std::vector<uint8_t> dead(static_cast<size_t>(in), 0);
      int64_t m = in, live = in, dead_here = 0;
      size_t t = 0;
      auto snapshot = [&]() {
        while (t < keep.size() && keep[t] == live) {
          float* dst = &result[t][r * in];
          for (int64_t c = 0; c < m; ++c)
            if (!dead[c]) dst[idx[c]] = static_cast<float>(w[c]);
          ++t;
        }
      };
      snapshot();
      while (t < keep.size()) {
        int64_t q = -1;
        double best = std::numeric_limits<double>::infinity();
        for (int64_t c = 0; c < m; ++c) {
          if (dead[c]) continue;
          const double L = w[c] * w[c] / H[c * m + c];  // 2 L_q: only the order matters
          if (L < best) best = L, q = c;
        }
        obs_delete(w, H, q);
        dead[q] = 1;
        --live;
        ++dead_here;
        snapshot();
        if (dead_here * 4 >= m && live > 0) {
          std::vector<int64_t> keep_pos;
          for (int64_t c = 0; c < m; ++c)
            if (!dead[c]) keep_pos.push_back(c);
          const int64_t m2 = static_cast<int64_t>(keep_pos.size());
          std::vector<double> H2(static_cast<size_t>(m2 * m2)), w2(static_cast<size_t>(m2));
          std::vector<int64_t> idx2(static_cast<size_t>(m2));
          for (int64_t a = 0; a < m2; ++a) {
            w2[a] = w[keep_pos[a]];
            idx2[a] = idx[keep_pos[a]];
            for (int64_t b = 0; b < m2; ++b) H2[a * m2 + b] = H[keep_pos[a] * m + keep_pos[b]];
          }
          H = std::move(H2);
          w = std::move(w2);
          idx = std::move(idx2);
          dead.assign(static_cast<size_t>(m2), 0);
          m = m2;
          dead_here = 0;
        }
      }
    }
  });
  return result;
}

}  // namespace mgf
