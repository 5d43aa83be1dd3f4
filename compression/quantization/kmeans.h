// compression/quantization/kmeans.h — 1-D k-means, the clustering step of Deep Compression's
// weight sharing (Han, Mao, Dally 2016, §3.1, eq. 1):
//
//   min over C = {c_1..c_k} of  Σ_i Σ_{w ∈ c_i} |w − c_i|²
//
// solved by Lloyd's iterations (assign each w to its nearest centroid, move each centroid to
// the mean of its weights) from one of the paper's three initialisations (§3.2, Fig. 4):
//   linear  — k points evenly spaced on [min w, max w]; keeps the rare large weights, which
//             the paper finds matter most (the best of the three, Fig. 5);
//   forgy   — k weights drawn at random from the data; follows the density, so the centroids
//             crowd around 0 where the (pruned, bimodal) distribution has its two peaks;
//   density — k points evenly spaced on the y axis of the CDF, mapped back to x; also
//             follows the density, a little more evenly than Forgy.
// Book: book/15-deep_compression.md. Deliberately not here: k-means++ and multi-dimensional
// (vector) quantization — that is Gong et al. 2014, compression/quantization/vq.*.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mgf {

class Rng;

enum class KmeansInit { linear, forgy, density };
const char* kmeans_init_name(KmeansInit i);
KmeansInit parse_kmeans_init(const std::string& s);   // "linear" | "forgy" | "density"; throws otherwise

struct Kmeans1d {
  std::vector<float> centroids;     // k, sorted ascending
  std::vector<int32_t> assignment;  // n: the index of each point's nearest centroid
  double sse = 0.0;                 // Σ |w − c(w)|², the objective of eq. 1
  int iterations = 0;               // Lloyd iterations run (stops early when nothing moves)
};

// The k starting centroids (sorted) of the chosen initialisation. n >= 1, k >= 1.
std::vector<float> kmeans_init(const float* w, int64_t n, int k, KmeansInit init, Rng& rng);

// Index of the nearest centroid to w in a sorted codebook (ties go to the lower one).
int32_t nearest_centroid(const std::vector<float>& sorted_centroids, float w);

// Lloyd's algorithm from kmeans_init(). A centroid that loses all its points stays where it
// was (it costs nothing and may win points back). Throws std::invalid_argument when n < 1 or k < 1.
Kmeans1d kmeans_1d(const float* w, int64_t n, int k, KmeansInit init, Rng& rng, int max_iter = 100);

}  // namespace mgf
