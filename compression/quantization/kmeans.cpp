// compression/quantization/kmeans.cpp — see kmeans.h (Deep Compression §3.1-3.2).
#include "compression/quantization/kmeans.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/rng.h"

namespace mgf {

const char* kmeans_init_name(KmeansInit i) {
  switch (i) {
    case KmeansInit::linear: return "linear";
    case KmeansInit::forgy: return "forgy";
    case KmeansInit::density: return "density";
  }
  return "?";
}

KmeansInit parse_kmeans_init(const std::string& s) {
  if (s == "linear") return KmeansInit::linear;
  if (s == "forgy" || s == "random") return KmeansInit::forgy;
  if (s == "density") return KmeansInit::density;
  throw std::invalid_argument("k-means init: expected linear, forgy or density, found '" + s + "'");
}

std::vector<float> kmeans_init(const float* w, int64_t n, int k, KmeansInit init, Rng& rng) {
  if (n < 1 || k < 1)
    throw std::invalid_argument("kmeans_init: expected n >= 1 points and k >= 1 clusters, found n = " +
                                std::to_string(n) + ", k = " + std::to_string(k));
  std::vector<float> c(static_cast<size_t>(k));
  if (init == KmeansInit::linear) {
    // c_j = min + (max − min)·j/(k − 1): evenly spaced, ends included (§3.2).
    const auto [lo, hi] = std::minmax_element(w, w + n);
    for (int j = 0; j < k; ++j) c[j] = k == 1 ? 0.5f * (*lo + *hi) : *lo + (*hi - *lo) * static_cast<float>(j) / (k - 1);
  } else if (init == KmeansInit::forgy) {
    // k distinct positions drawn uniformly (a partial Fisher-Yates when k <= n).
    std::vector<int64_t> pos(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pos[i] = i;
    for (int j = 0; j < k; ++j) {
      if (j < n) {
        int64_t r = j + rng.randint(n - j);
        std::swap(pos[j], pos[r]);
        c[j] = w[pos[j]];
      } else {
        c[j] = w[pos[rng.randint(n)]];   // more clusters than points: repeats
      }
    }
  } else {
    // Density-based: the CDF of the weights is sampled at evenly spaced heights
    // (j + 0.5)/k, i.e. the (j + 0.5)/k quantiles of the sorted weights.
    std::vector<float> s(w, w + n);
    std::sort(s.begin(), s.end());
    for (int j = 0; j < k; ++j) {
      int64_t q = static_cast<int64_t>((j + 0.5) / k * static_cast<double>(n));
      c[j] = s[static_cast<size_t>(std::min<int64_t>(q, n - 1))];
    }
  }
  std::sort(c.begin(), c.end());
  return c;
}

int32_t nearest_centroid(const std::vector<float>& c, float w) {
  // In a sorted codebook the decision boundaries are the midpoints (c_j + c_{j+1})/2, so the
  // nearest centroid is found by binary search instead of k distance computations.
  int32_t lo = 0, hi = static_cast<int32_t>(c.size()) - 1;
  while (lo < hi) {
    int32_t mid = (lo + hi) / 2;
    if (w > 0.5f * (c[mid] + c[mid + 1])) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

Kmeans1d kmeans_1d(const float* w, int64_t n, int k, KmeansInit init, Rng& rng, int max_iter) {
  Kmeans1d r;
  r.centroids = kmeans_init(w, n, k, init, rng);
  r.assignment.assign(static_cast<size_t>(n), -1);
  std::vector<double> sum(static_cast<size_t>(k));
  std::vector<int64_t> count(static_cast<size_t>(k));
  for (r.iterations = 0; r.iterations < max_iter; ++r.iterations) {
    // Assignment step: each w to its nearest centroid.
    bool changed = false;
    for (int64_t i = 0; i < n; ++i) {
      int32_t a = nearest_centroid(r.centroids, w[i]);
      if (a != r.assignment[i]) changed = true;
      r.assignment[i] = a;
    }
    if (!changed) break;
    // Update step: each centroid to the mean of its points (empty clusters stay put).
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
      sum[r.assignment[i]] += w[i];
      ++count[r.assignment[i]];
    }
    for (int j = 0; j < k; ++j)
      if (count[j] > 0) r.centroids[j] = static_cast<float>(sum[j] / static_cast<double>(count[j]));
    // Means of ordered, contiguous 1-D clusters stay ordered; sorting guards float ties.
    std::sort(r.centroids.begin(), r.centroids.end());
  }
  r.sse = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    r.assignment[i] = nearest_centroid(r.centroids, w[i]);
    double d = w[i] - r.centroids[r.assignment[i]];
    r.sse += d * d;
  }
  return r;
}

}  // namespace mgf
