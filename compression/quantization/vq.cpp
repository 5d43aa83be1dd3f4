// compression/quantization/vq.cpp — see vq.h (Gong et al. 2014, §3).
#include "compression/quantization/vq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "compression/quantization/kmeans.h"
#include "compression/quantization/vq_lut.h"
#include "engine/rng.h"
#include "engine/threads.h"

namespace mgf {

const char* vq_method_name(VqMethod m) {
  switch (m) {
    case VqMethod::binary: return "binary";
    case VqMethod::scalar: return "scalar";
    case VqMethod::product: return "pq";
    case VqMethod::residual: return "rq";
  }
  return "?";
}

int64_t VqMatrix::payload_bytes() const {
  const int64_t code_bits = segments() * rows * bits;
  return static_cast<int64_t>(stages.size()) * ((code_bits + 7) / 8 + 4 * codebook_floats());
}

void VqMatrix::validate(const std::string& what) const {
  auto bad = [&](const std::string& msg) { throw std::invalid_argument(what + ": " + msg); };
  if (rows < 1 || cols < 1) bad("expected a matrix of at least 1 x 1, found " + std::to_string(rows) + " x " + std::to_string(cols));
  if (bits < 1 || bits > 8) bad("expected 1..8 bits per code, found " + std::to_string(bits));
  if (seg < 1 || seg > cols) bad("expected a segment width d in 1.." + std::to_string(cols) + ", found " + std::to_string(seg));
  if (shared && seg != 1) bad("a shared codebook needs d = 1, found d = " + std::to_string(seg));
  if (stages.empty()) bad("expected at least one stage, found none");
  for (size_t t = 0; t < stages.size(); ++t) {
    const VqStage& st = stages[t];
    const std::string f = "stage " + std::to_string(t);
    if (static_cast<int64_t>(st.codebook.size()) != codebook_floats())
      bad(f + ": expected " + std::to_string(codebook_floats()) + " codebook floats, found " + std::to_string(st.codebook.size()));
    if (static_cast<int64_t>(st.codes.size()) != segments() * rows)
      bad(f + ": expected " + std::to_string(segments() * rows) + " codes, found " + std::to_string(st.codes.size()));
    for (size_t i = 0; i < st.codes.size(); ++i)
      if (st.codes[i] >= k()) bad(f + ": code " + std::to_string(i) + " is " + std::to_string(st.codes[i]) + ", expected < k = " + std::to_string(k()));
  }
}

Tensor VqMatrix::decode() const {
  validate("VqMatrix::decode");
  Tensor W({rows, cols}, 0.0f);
  const int64_t K = k(), ld = shared ? 0 : K;
  for (const VqStage& st : stages)
    for (int64_t o = 0; o < rows; ++o)
      for (int64_t j = 0; j < cols; ++j) W[o * cols + j] += st.codebook[j * ld + st.codes[(j / seg) * rows + o]];
  return W;
}

double vq_sse(const float* W, const VqMatrix& q) {
  Tensor w = q.decode();
  double e = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const double d = static_cast<double>(W[i]) - w[i];
    e += d * d;
  }
  return e;
}

// ---- k-means on vectors ------------------------------------------------------------------------
namespace {
double dist2(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) {
    const double t = static_cast<double>(a[j]) - b[j];
    s += t * t;
  }
  return s;
}
}  // namespace

KmeansVectors kmeans_vectors(const float* x, int64_t N, int64_t d, int64_t ld, int k, Rng& rng, int max_iter) {
  if (N < 1 || d < 1 || k < 1)
    throw std::invalid_argument("kmeans_vectors: expected N >= 1 points, d >= 1, k >= 1, found N = " + std::to_string(N) +
                                ", d = " + std::to_string(d) + ", k = " + std::to_string(k));
  KmeansVectors r;
  r.centroids.assign(static_cast<size_t>(k * d), 0.0f);
  r.assignment.assign(static_cast<size_t>(N), 0);
  auto point = [&](int64_t p) { return x + p * ld; };
  auto set_centroid = [&](int c, int64_t p) { std::copy(point(p), point(p) + d, r.centroids.begin() + c * d); };
  if (N <= k) {
    // Every point is its own centroid: nothing to cluster.
    for (int c = 0; c < k; ++c) set_centroid(c, std::min<int64_t>(c, N - 1));
    for (int64_t p = 0; p < N; ++p) r.assignment[p] = static_cast<int32_t>(p);
    return r;
  }
  // k-means++: the first centroid a random point, each next one drawn with probability ∝ D(x)²,
  // the squared distance to the nearest centroid chosen so far.
  std::vector<double> D(static_cast<size_t>(N), std::numeric_limits<double>::infinity());
  set_centroid(0, rng.randint(N));
  for (int c = 1; c < k; ++c) {
    double total = 0;
    for (int64_t p = 0; p < N; ++p) {
      D[p] = std::min(D[p], dist2(point(p), r.centroids.data() + (c - 1) * d, d));
      total += D[p];
    }
    int64_t pick = rng.randint(N);
    if (total > 0) {
      double u = rng.uniform() * total;
      for (pick = 0; pick < N - 1 && (u -= D[pick]) > 0; ++pick) {
      }
    }
    set_centroid(c, pick);
  }
  std::vector<double> sum(static_cast<size_t>(k * d));
  std::vector<int64_t> count(static_cast<size_t>(k));
  std::vector<double> near(static_cast<size_t>(N));
  auto assign = [&]() {
    bool changed = false;
    r.sse = 0;
    for (int64_t p = 0; p < N; ++p) {
      int32_t best = 0;
      double bd = std::numeric_limits<double>::infinity();
      for (int c = 0; c < k; ++c) {
        const double e = dist2(point(p), r.centroids.data() + c * d, d);
        if (e < bd) bd = e, best = c;   // ties go to the lower index
      }
      if (best != r.assignment[p]) changed = true;
      r.assignment[p] = best;
      near[p] = bd;
      r.sse += bd;
    }
    return changed;
  };
  assign();
  for (r.iterations = 0; r.iterations < max_iter; ++r.iterations) {
    // Update: every centroid to the mean of its points.
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (int64_t p = 0; p < N; ++p) {
      const int32_t c = r.assignment[p];
      ++count[c];
      for (int64_t j = 0; j < d; ++j) sum[c * d + j] += point(p)[j];
    }
    for (int c = 0; c < k; ++c) {
      if (count[c] > 0) {
        for (int64_t j = 0; j < d; ++j) r.centroids[c * d + j] = static_cast<float>(sum[c * d + j] / static_cast<double>(count[c]));
      } else {
        // An empty cluster takes the point worst served so far (and that point's error drops to 0).
        const int64_t far = std::max_element(near.begin(), near.end()) - near.begin();
        set_centroid(c, far);
        near[far] = 0;
      }
    }
    if (!assign()) break;
  }
  return r;
}

// ---- the quantizers ----------------------------------------------------------------------------
namespace {
void check_shape(const char* fn, int64_t m, int64_t n, int bits) {
  if (m < 1 || n < 1) throw std::invalid_argument(std::string(fn) + ": expected W of at least 1 x 1, found " + std::to_string(m) + " x " + std::to_string(n));
  if (bits < 1 || bits > 8) throw std::invalid_argument(std::string(fn) + ": expected 1..8 bits, found " + std::to_string(bits));
}

// One PQ stage of R [m, n]: per segment i, k-means on its m sub-rows (points R[o][i·d ..], stride n).
VqStage product_stage(const float* R, int64_t m, int64_t n, int bits, int64_t d, Rng& rng, int max_iter) {
  const int64_t k = int64_t{1} << bits, s = (n + d - 1) / d;
  VqStage st;
  st.codebook.assign(static_cast<size_t>(n * k), 0.0f);
  st.codes.assign(static_cast<size_t>(s * m), 0);
  // One seed per segment drawn up front, so segments can be clustered in parallel and the result
  // does not depend on the thread count.
  std::vector<uint64_t> seeds(static_cast<size_t>(s));
  for (auto& v : seeds) v = rng.next_u64();
  parallel_for(0, s, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t j0 = i * d, di = std::min(d, n - j0);
      Rng r(seeds[i]);
      KmeansVectors km = kmeans_vectors(R + j0, m, di, n, static_cast<int>(k), r, max_iter);
      // centroid c's coordinate q goes to codebook row j0 + q, column c (layout of vq.h)
      for (int64_t c = 0; c < k; ++c)
        for (int64_t q = 0; q < di; ++q) st.codebook[(j0 + q) * k + c] = km.centroids[c * di + q];
      for (int64_t o = 0; o < m; ++o) st.codes[i * m + o] = static_cast<uint8_t>(km.assignment[o]);
    }
  });
  return st;
}
}  // namespace

VqMatrix vq_binarize(const float* W, int64_t m, int64_t n) {
  check_shape("vq_binarize", m, n, 1);
  VqMatrix q;
  q.method = VqMethod::binary;
  q.rows = m, q.cols = n, q.bits = 1, q.seg = 1, q.shared = true;
  // α = mean |W| minimises ‖W − α·sign(W)‖² (set the derivative in α to zero); sign(0) = +1.
  double a = 0;
  for (int64_t i = 0; i < m * n; ++i) a += std::fabs(W[i]);
  const float alpha = static_cast<float>(a / static_cast<double>(m * n));
  VqStage st;
  st.codebook = {-alpha, alpha};
  st.codes.resize(static_cast<size_t>(m * n));
  for (int64_t o = 0; o < m; ++o)
    for (int64_t j = 0; j < n; ++j) st.codes[j * m + o] = W[o * n + j] >= 0.0f ? 1 : 0;
  q.stages.push_back(std::move(st));
  return q;
}

VqMatrix vq_scalar(const float* W, int64_t m, int64_t n, int bits, Rng& rng) {
  check_shape("vq_scalar", m, n, bits);
  VqMatrix q;
  q.method = VqMethod::scalar;
  q.rows = m, q.cols = n, q.bits = bits, q.seg = 1, q.shared = true;
  // The project's 1-D k-means (Deep Compression's), linear initialisation: deterministic and the
  // best of the three there (kmeans.h).
  Kmeans1d km = kmeans_1d(W, m * n, 1 << bits, KmeansInit::linear, rng);
  VqStage st;
  st.codebook = km.centroids;
  st.codes.resize(static_cast<size_t>(m * n));
  for (int64_t o = 0; o < m; ++o)
    for (int64_t j = 0; j < n; ++j) st.codes[j * m + o] = static_cast<uint8_t>(km.assignment[o * n + j]);
  q.stages.push_back(std::move(st));
  return q;
}

VqMatrix vq_residual(const float* W, int64_t m, int64_t n, int bits, int64_t d, int stages, Rng& rng, int max_iter) {
  check_shape("vq_residual", m, n, bits);
  if (d < 1 || d > n) throw std::invalid_argument("vq: expected a segment width d in 1.." + std::to_string(n) + ", found " + std::to_string(d));
  if (stages < 1 || stages > 16) throw std::invalid_argument("vq_residual: expected 1..16 stages, found " + std::to_string(stages));
  VqMatrix q;
  q.method = stages == 1 ? VqMethod::product : VqMethod::residual;
  q.rows = m, q.cols = n, q.bits = bits, q.seg = d;
  std::vector<float> R(W, W + m * n);   // the residual still to be quantized
  for (int t = 0; t < stages; ++t) {
    q.stages.push_back(product_stage(R.data(), m, n, bits, d, rng, max_iter));
    const VqStage& st = q.stages.back();
    for (int64_t o = 0; o < m; ++o)
      for (int64_t j = 0; j < n; ++j) R[o * n + j] -= st.codebook[j * q.k() + st.codes[(j / d) * m + o]];
  }
  return q;
}

VqMatrix vq_product(const float* W, int64_t m, int64_t n, int bits, int64_t d, Rng& rng, int max_iter) {
  return vq_residual(W, m, n, bits, d, 1, rng, max_iter);
}

// ---- the layer ---------------------------------------------------------------------------------
VqLinear::VqLinear(VqMatrix w, std::vector<float> bias) : W_(std::move(w)), bias_(std::move(bias)) {
  W_.validate("VqLinear");
  if (!bias_.empty() && static_cast<int64_t>(bias_.size()) != W_.rows)
    throw std::invalid_argument("VqLinear: expected a bias of " + std::to_string(W_.rows) + ", found " + std::to_string(bias_.size()));
}

Var VqLinear::forward(const Var& xv) {
  const Tensor& X = xv.value();
  const int64_t n = W_.cols, m = W_.rows;
  if (X.ndim() < 2 || X.numel() != X.dim(0) * n)
    throw std::invalid_argument("VqLinear: expected x [N, " + std::to_string(n) + "] (or [N, ...] of " + std::to_string(n) +
                                " per sample), found " + X.str());
  const int64_t N = X.dim(0);
  Tensor Y({N, m});
  const float* b = bias_.empty() ? nullptr : bias_.data();
  parallel_for(0, N, 16, [&](int64_t lo, int64_t hi) {
    std::vector<float> T(static_cast<size_t>(vq_lut_scratch_floats(W_)));
    vq_linear_forward(W_, b, X.data() + lo * n, hi - lo, Y.data() + lo * m, T.data());
  });
  return Var(std::move(Y));
}

}  // namespace mgf
