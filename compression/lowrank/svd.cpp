// compression/lowrank/svd.cpp — one-sided Jacobi SVD and cyclic Jacobi eigensolver (see svd.h).
// Book: book/12-lowrank_svd.md.
#include "compression/lowrank/svd.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace mgf {

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr int kMaxSweeps = 60;   // Jacobi converges quadratically; 60 sweeps is never reached in practice

double dot(const double* x, const double* y, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += x[i] * y[i];
  return acc;
}

// The rotation that zeroes the off-diagonal of the symmetric 2×2 [[alpha, gamma], [gamma, beta]]:
// cot 2φ = (beta − alpha) / (2 gamma), t = tan φ the smaller root of t² + 2ζt − 1 = 0 (the
// stable choice, |φ| ≤ π/4, Golub & Van Loan alg. 8.5.2).
void jacobi_rotation(double alpha, double beta, double gamma, double& c, double& s) {
  const double zeta = (beta - alpha) / (2.0 * gamma);
  const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1.0 + zeta * zeta));
  c = 1.0 / std::sqrt(1.0 + t * t);
  s = c * t;
}

// x' = c x − s y, y' = s x + c y.
void rotate(double* x, double* y, int64_t n, double c, double s) {
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], yi = y[i];
    x[i] = c * xi - s * yi;
    y[i] = s * xi + c * yi;
  }
}

// SVD for rows >= cols. Works on the columns of A stored contiguously (wt is cols × rows).
Svd svd_tall(const double* a, int64_t m, int64_t n) {
  std::vector<double> wt(static_cast<size_t>(n * m));      // wt[j*m + i] = A[i][j]: column j of A
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) wt[j * m + i] = a[i * n + j];
  std::vector<double> vt(static_cast<size_t>(n * n), 0.0);  // vt[j*n + k] = V[k][j]: column j of V
  for (int64_t j = 0; j < n; ++j) vt[j * n + j] = 1.0;

  // Hestenes: orthogonalise every pair of columns (p, q) by a plane rotation applied on the
  // right, A ← A J, V ← V J. When no pair needed a rotation, AV... = U Σ and we stop.
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool rotated = false;
    for (int64_t p = 0; p < n - 1; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        double* wp = wt.data() + p * m;
        double* wq = wt.data() + q * m;
        const double alpha = dot(wp, wp, m), beta = dot(wq, wq, m), gamma = dot(wp, wq, m);
        // Already orthogonal to working precision (cos of the angle below ~eps): skip.
        if (gamma == 0.0 || std::fabs(gamma) <= kEps * std::sqrt(alpha * beta)) continue;
        double c, s;
        jacobi_rotation(alpha, beta, gamma, c, s);
        rotate(wp, wq, m, c, s);
        rotate(vt.data() + p * n, vt.data() + q * n, n, c, s);
        rotated = true;
      }
    }
    if (!rotated) break;
  }

  // Singular values are the column norms; sort descending.
  std::vector<double> norm(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) norm[j] = std::sqrt(dot(wt.data() + j * m, wt.data() + j * m, m));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return norm[x] > norm[y]; });

  Svd d;
  d.rows = m;
  d.cols = n;
  d.rank = n;
  d.s.resize(static_cast<size_t>(n));
  d.u.assign(static_cast<size_t>(m * n), 0.0);
  d.v.assign(static_cast<size_t>(n * n), 0.0);
  const double smax = n > 0 ? norm[order[0]] : 0.0;
  // A singular value this small relative to the largest is zero in double precision; its
  // normalised column would be rounding noise, so U is completed by Gram–Schmidt instead.
  const double zero_tol = smax * kEps * static_cast<double>(std::max(m, n));
  std::vector<double> ucol(static_cast<size_t>(m));
  std::vector<std::vector<double>> basis;   // the U columns found so far, for completion
  for (int64_t r = 0; r < n; ++r) {
    const int64_t j = order[r];
    const double sj = norm[j];
    for (int64_t k = 0; k < n; ++k) d.v[k * n + r] = vt[j * n + k];
    if (sj > zero_tol && sj > 0.0) {
      d.s[r] = sj;
      for (int64_t i = 0; i < m; ++i) ucol[i] = wt[j * m + i] / sj;
    } else {
      d.s[r] = 0.0;
      // Complete: the first unit vector e_t that keeps a usable part after projecting out the
      // columns so far (twice, "twice is enough" — Kahan), normalised.
      bool found = false;
      for (int64_t t = 0; t < m && !found; ++t) {
        std::fill(ucol.begin(), ucol.end(), 0.0);
        ucol[t] = 1.0;
        for (int pass = 0; pass < 2; ++pass)
          for (const auto& b : basis) {
            const double pr = dot(ucol.data(), b.data(), m);
            for (int64_t i = 0; i < m; ++i) ucol[i] -= pr * b[i];
          }
        const double nn = std::sqrt(dot(ucol.data(), ucol.data(), m));
        if (nn > 0.5) {   // e_t had at least a quarter of its energy outside the span: stable
          for (auto& x : ucol) x /= nn;
          found = true;
        }
      }
      if (!found) throw std::runtime_error("svd: could not complete U to an orthonormal set");
    }
    basis.push_back(ucol);
    for (int64_t i = 0; i < m; ++i) d.u[i * n + r] = ucol[i];
  }
  return d;
}

}  // namespace

Svd svd(const double* a, int64_t rows, int64_t cols) {
  if (rows < 1 || cols < 1)
    throw std::invalid_argument("svd: expected a matrix with rows >= 1 and cols >= 1, found " +
                                std::to_string(rows) + " x " + std::to_string(cols));
  if (rows >= cols) return svd_tall(a, rows, cols);
  // Wide: A = U Σ Vᵀ  ⇔  Aᵀ = V Σ Uᵀ; run the tall case on Aᵀ and swap the factors.
  std::vector<double> at(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) at[j * rows + i] = a[i * cols + j];
  Svd t = svd_tall(at.data(), cols, rows);
  Svd d;
  d.rows = rows;
  d.cols = cols;
  d.rank = t.rank;
  d.s = std::move(t.s);
  d.u = std::move(t.v);   // rows × rank
  d.v = std::move(t.u);   // cols × rank
  return d;
}

Svd svd(const float* a, int64_t rows, int64_t cols) {
  if (rows < 1 || cols < 1) return svd(static_cast<const double*>(nullptr), rows, cols);  // throws
  std::vector<double> ad(a, a + rows * cols);
  return svd(ad.data(), rows, cols);
}

std::vector<double> svd_reconstruct(const Svd& d, int64_t k) {
  if (k < 0 || k > d.rank)
    throw std::invalid_argument("svd_reconstruct: expected 0 <= k <= rank = " + std::to_string(d.rank) +
                                ", found k = " + std::to_string(k));
  std::vector<double> out(static_cast<size_t>(d.rows * d.cols), 0.0);
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t r = 0; r < k; ++r) {
      const double us = d.u[i * d.rank + r] * d.s[r];
      if (us == 0.0) continue;
      for (int64_t j = 0; j < d.cols; ++j) out[i * d.cols + j] += us * d.v[j * d.rank + r];
    }
  return out;
}

double svd_truncation_error(const Svd& d, int64_t k) {
  if (k < 0 || k > d.rank)
    throw std::invalid_argument("svd_truncation_error: expected 0 <= k <= rank = " + std::to_string(d.rank) +
                                ", found k = " + std::to_string(k));
  double acc = 0.0;
  for (int64_t r = k; r < d.rank; ++r) acc += d.s[r] * d.s[r];
  return std::sqrt(acc);
}

SymEig sym_eig(const double* a_in, int64_t n) {
  if (n < 1) throw std::invalid_argument("sym_eig: expected n >= 1, found n = " + std::to_string(n));
  std::vector<double> a(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) a[i * n + j] = 0.5 * (a_in[i * n + j] + a_in[j * n + i]);
  std::vector<double> q(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) q[i * n + i] = 1.0;

  // Cyclic Jacobi: for each off-diagonal pair, A ← Jᵀ A J with the rotation that zeroes a_pq;
  // the off-diagonal mass Σ a_pq² falls every step and the diagonal becomes the spectrum.
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) (i == j ? diag : off) += a[i * n + j] * a[i * n + j];
    if (off <= kEps * kEps * diag || off == 0.0) break;
    for (int64_t p = 0; p < n - 1; ++p)
      for (int64_t r = p + 1; r < n; ++r) {
        const double apq = a[p * n + r];
        if (apq == 0.0) continue;
        double c, s;
        jacobi_rotation(a[p * n + p], a[r * n + r], apq, c, s);
        // Columns p, r of A (A J), then rows p, r (Jᵀ (A J)), then Q J.
        for (int64_t k = 0; k < n; ++k) {
          const double xp = a[k * n + p], xr = a[k * n + r];
          a[k * n + p] = c * xp - s * xr;
          a[k * n + r] = s * xp + c * xr;
        }
        rotate(a.data() + p * n, a.data() + r * n, n, c, s);
        a[p * n + r] = a[r * n + p] = 0.0;   // exact zero by construction; kill the rounding
        for (int64_t k = 0; k < n; ++k) {
          const double xp = q[k * n + p], xr = q[k * n + r];
          q[k * n + p] = c * xp - s * xr;
          q[k * n + r] = s * xp + c * xr;
        }
      }
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return a[x * n + x] > a[y * n + y]; });
  SymEig e;
  e.n = n;
  e.w.resize(static_cast<size_t>(n));
  e.q.resize(static_cast<size_t>(n * n));
  for (int64_t c = 0; c < n; ++c) {
    e.w[c] = a[order[c] * n + order[c]];
    for (int64_t k = 0; k < n; ++k) e.q[k * n + c] = q[k * n + order[c]];
  }
  return e;
}

}  // namespace mgf
