// engine/ops.h — every differentiable operation of the engine, as free functions on Var.
//
// Each op is one function that computes its forward value and registers its backward
// right beside it (micrograd's rule), in the engine/ops_*.cpp file named in the group
// heading below. Every op here has a central-difference gradient check in
// tests/test_autograd.cpp. Shape errors throw std::invalid_argument naming the op and
// both shapes. Book: book/01-autograd.md.
//
// Broadcasting (one-sided, NumPy's rule): in add/sub/mul/div(a, b) the result has a's
// shape, and b's shape must broadcast to it — right-aligned, every dim of b equal to a's
// or 1, missing leading dims count as 1. That covers what layers need: a scalar [], a bias
// [C] over [N, C], a per-channel [C, 1, 1] or [1, C, 1, 1] over [N, C, H, W]. b's gradient
// is summed over the dims it was broadcast along.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/autograd.h"

namespace mgf {

class Rng;

// ---- arithmetic (engine/ops_arith.cpp) ------------------------------------------------
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var neg(const Var& a);
Var scale(const Var& a, float s);        // s · a
Var add_scalar(const Var& a, float s);   // a + s
inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator*(float s, const Var& a) { return scale(a, s); }

// ---- linear algebra (engine/ops_linalg.cpp) -------------------------------------------
// 2-D: op(a)[M×K] · op(b)[K×N], op = transpose when the flag is set.
Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
// x[N×in] · w[out×in]ᵀ + bias[out] (bias may be an undefined Var: no bias).
Var linear(const Var& x, const Var& w, const Var& bias);
Var transpose(const Var& a);             // 2-D; copies

// ---- reductions (engine/ops_reduce.cpp) -----------------------------------------------
Var sum(const Var& a);                   // all elements → []
Var mean(const Var& a);
Var sum(const Var& a, int axis, bool keepdim = false);
Var mean(const Var& a, int axis, bool keepdim = false);

// ---- shapes (engine/ops_shape.cpp) ----------------------------------------------------
Var reshape(const Var& a, Shape s);      // one dim may be -1
Var flatten(const Var& a);               // [N, ...] → [N, rest]
Var concat_channels(const std::vector<Var>& xs);                        // along dim 1
std::vector<Var> split_channels(const Var& x, const std::vector<int64_t>& sizes);  // along dim 1
Var channel_shuffle(const Var& x, int64_t groups);  // ShuffleNet: [N, g·n, H, W], (g, n) → (n, g)

// ---- activations (engine/ops_activation.cpp) ------------------------------------------
Var relu(const Var& x);
Var relu6(const Var& x);
Var leaky_relu(const Var& x, float slope = 0.01f);
Var sigmoid(const Var& x);
Var tanh(const Var& x);
Var hard_sigmoid(const Var& x);          // relu6(x + 3) / 6   (MobileNetV3)
Var hard_swish(const Var& x);            // x · relu6(x + 3) / 6
Var softmax(const Var& x);               // along the last dim of [N, C]
Var log_softmax(const Var& x);           // along the last dim of [N, C], stable

// ---- losses (engine/ops_loss.cpp) -----------------------------------------------------
// Mean over the batch of −log softmax(logits)[label]; numerically stable (log-sum-exp).
Var cross_entropy(const Var& logits, const std::vector<int32_t>& labels);
// Hinton 2015 soft targets: mean over the batch of −Σ_c softmax(t/T)_c · log softmax(z/T)_c,
// z = logits (student), t = teacher_logits (a constant). The caller multiplies by T² (§2).
Var soft_target_cross_entropy(const Var& logits, const Tensor& teacher_logits, float T);
Var mse_loss(const Var& a, const Var& b);   // mean of (a − b)², shapes must match

// ---- convolution and pooling (engine/ops_conv.cpp) ------------------------------------
struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, groups = 1;
};
// x[N, C, H, W], w[OC, C/groups, KH, KW], bias[OC] or undefined → [N, OC, OH, OW],
// OH = (H + 2·pad_h − KH)/stride_h + 1. im2col + one sgemm per image and group; depthwise
// (groups == C == OC) uses the direct kernels. Results do not depend on the thread count.
Var conv2d(const Var& x, const Var& w, const Var& bias, const Conv2dOptions& o = {});
// Pools take a k×k window moved by `stride`, with 0 <= pad <= k/2. Max-pool ties go to the
// first maximum in row-major window order; padding never wins a max.
Var max_pool2d(const Var& x, int64_t k, int64_t stride, int64_t pad = 0);
Var avg_pool2d(const Var& x, int64_t k, int64_t stride, int64_t pad = 0);  // padding counts as 0, divisor k²
Var global_avg_pool(const Var& x);       // [N, C, H, W] → [N, C]

// ---- normalisation and regularisation (engine/ops_norm.cpp) ---------------------------
// x is [N, C] or [N, C, H, W]; gamma, beta are [C]. In training the batch statistics are
// used and the running averages updated in place: r ← (1 − momentum)·r + momentum·batch
// (variance unbiased, as PyTorch does); in eval the running averages are used.
Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean, Tensor& running_var,
               bool training, float momentum = 0.1f, float eps = 1e-5f);
// Inverted dropout: zero with probability p, scale survivors by 1/(1−p); identity when !training.
Var dropout(const Var& x, float p, bool training, Rng& rng);

}  // namespace mgf
