// compression/quantization/vq.h — vector quantization of fully connected layers (Gong, Liu,
// Yang, Bourdev 2014, "Compressing Deep Convolutional Networks using Vector Quantization"),
// applied to a trained net WITHOUT retraining, as the paper does.
//
// W is a layer's weight [m, n] = [out, in] (y = W x + b). Four quantizers, one representation:
//   binarization  Ŵ = α·sign(W), α = mean |W| (the per-layer scale that minimises ‖W − α·sign W‖²);
//                 one bit per weight, 32×
//   scalar        k-means on all m·n values (compression/quantization/kmeans.h, 1-D); log₂k bits
//                 per weight plus a codebook of k floats
//   product (PQ)  the n columns split into s segments of d columns, W = [W¹ … W^s]; k-means on the
//                 m sub-rows (d-vectors) of each segment W^i gives a codebook C^i of k centroids;
//                 each sub-row is replaced by its nearest centroid: codes m·s·log₂k bits,
//                 codebooks s·k·d = k·n floats
//   residual (RQ) PQ, then PQ of the residual W − Ŵ₁, …, for t stages: Ŵ = Σ_t Ŵ_t (the paper's RQ
//                 quantizes whole rows, d = n; any d works here)
// Storage is counted as the paper does: codes at log₂k bits each, codebooks as 32-bit floats
// (payload_bytes()); compression rate = 32·m·n bits over that.
//
// Our layout, chosen for the lookup-table kernel (vq_lut.h):
//   codebook [n][k]: row j holds coordinate j − (segment start) of all k centroids of the segment
//            that owns column j — so segment i's codebook is rows i·d .. i·d + d_i − 1, a ragged
//            last segment (n not a multiple of d) needs no special case, and the table entry
//            T[i][c] = Σ_{j in segment i} codebook[j][c]·x[j]. With `shared` (d = 1: scalar
//            k-means, binarization) the codebook is one row of k floats used by every column.
//   codes    [s][m]: codes[i·m + o] = the centroid of row o's segment i, segment-major, so the
//            kernel reads 8 consecutive outputs' codes of one segment with one load.
// Book: book/22-vq.md. Deliberately not here: retraining after quantization (the paper does not),
// convolution kernels (the paper quantizes the dense layers only), a PQ whose sub-vectors run
// along the output dimension (an exercise of the chapter).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "layers/module.h"

namespace mgf {

class Rng;

enum class VqMethod : uint8_t { binary = 0, scalar = 1, product = 2, residual = 3 };
const char* vq_method_name(VqMethod m);   // "binary", "scalar", "pq", "rq"

// One stage: a product quantizer over the columns of W.
struct VqStage {
  std::vector<float> codebook;   // [n][k], or [k] when the matrix is `shared`
  std::vector<uint8_t> codes;    // [s][m]
};

struct VqMatrix {
  VqMethod method = VqMethod::product;
  int64_t rows = 0, cols = 0;    // m (outputs), n (inputs)
  int bits = 0;                  // log₂k, 1..8
  int64_t seg = 1;               // d: columns per segment (the last segment may be shorter)
  bool shared = false;           // one codebook row for every column (needs d = 1)
  std::vector<VqStage> stages;   // t >= 1

  int64_t k() const { return int64_t{1} << bits; }
  int64_t segments() const { return (cols + seg - 1) / seg; }   // s = ⌈n/d⌉
  int64_t codebook_floats() const { return shared ? k() : cols * k(); }   // per stage
  // The paper's storage: t·(s·m codes × log₂k bits, rounded up to bytes, + codebook floats × 4).
  int64_t payload_bytes() const;
  // Ŵ = Σ_stages decode, [m, n]: Ŵ[o][j] = Σ_t codebook_t[row(j)][codes_t[seg(j)·m + o]].
  Tensor decode() const;
  // Throws std::invalid_argument naming the field when sizes, bits or codes are inconsistent.
  void validate(const std::string& what) const;
};

// ---- k-means on vectors ------------------------------------------------------------------------
// N points of dimension d at x[p·ld + j]. k-means++ seeding (Arthur & Vassilvitskii 2007), then
// Lloyd; an empty cluster is re-seeded with the point farthest from its centroid. N <= k puts one
// centroid on each point (zero error) and repeats the last.
struct KmeansVectors {
  std::vector<float> centroids;     // [k][d]
  std::vector<int32_t> assignment;  // N
  double sse = 0.0;                 // Σ_p ‖x_p − c(x_p)‖²
  int iterations = 0;
};
KmeansVectors kmeans_vectors(const float* x, int64_t N, int64_t d, int64_t ld, int k, Rng& rng, int max_iter = 50);

// ---- the quantizers (W row-major [m, n]) -------------------------------------------------------
VqMatrix vq_binarize(const float* W, int64_t m, int64_t n);
VqMatrix vq_scalar(const float* W, int64_t m, int64_t n, int bits, Rng& rng);
// d = columns per segment (1..n); k = 2^bits centroids per segment.
VqMatrix vq_product(const float* W, int64_t m, int64_t n, int bits, int64_t d, Rng& rng, int max_iter = 50);
// t stages of vq_product on the running residual; d = n is the paper's RQ.
VqMatrix vq_residual(const float* W, int64_t m, int64_t n, int bits, int64_t d, int stages, Rng& rng, int max_iter = 50);

// Σ (W − Ŵ)², the reconstruction error the tests and the book's tables report.
double vq_sse(const float* W, const VqMatrix& q);

// ---- the layer that runs from codes ------------------------------------------------------------
// A fully connected layer whose weight exists only as codes + codebooks: forward() runs
// vq_linear_forward (vq_lut.h): per input one s × k table per stage, then s lookups per output.
// Inference only.
class VqLinear : public Module {
 public:
  VqLinear(VqMatrix w, std::vector<float> bias);
  Var forward(const Var& x) override;   // x [N, n] (or [N, ...] of n per sample) → [N, m]
  std::string type_name() const override { return "VqLinear"; }
  const VqMatrix& matrix() const { return W_; }

 private:
  VqMatrix W_;
  std::vector<float> bias_;
};

}  // namespace mgf
