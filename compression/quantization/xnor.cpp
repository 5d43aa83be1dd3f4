// compression/quantization/xnor.cpp — XNOR-Net's ops: sign with the STE, BWN weights, the binary
// convolution. See xnor.h for the paper's equations. Book: book/23-xnor.md.
#include "compression/quantization/xnor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "compression/quantization/bitpack.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/gemm.h"
#include "engine/ops.h"
#include "engine/threads.h"

namespace mgf {
namespace {

inline float sign_pm1(float v) { return v >= 0.0f ? 1.0f : -1.0f; }  // the forward sign, sign(0) = +1
inline float sgn0(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }  // d|v|/dv
inline float ste(float v) { return std::fabs(v) <= 1.0f ? 1.0f : 0.0f; }  // 1_{|r|≤1}

constexpr int64_t kWeightBlocks = 8;  // dW partials, fixed so the sum ignores the thread count

}  // namespace

// ---- sign with the straight-through estimator (Eq. 10; Hubara/Courbariaux's STE) -------------
Var sign_ste(const Var& x) {
  const Tensor& X = x.value();
  Tensor Y(X.shape());
  for (int64_t i = 0; i < X.numel(); ++i) Y[i] = sign_pm1(X[i]);
  return make_result("sign_ste", std::move(Y), {x}, [xn = x.node()](Node& self) {
    // sign has derivative 0 almost everywhere; the STE passes the gradient where |x| ≤ 1
    // ("cancels the gradient when r is too large", §3.2)
    float* dx = grad_buffer(*xn).data();
    const float *dy = self.grad.data(), *px = xn->value.data();
    for (int64_t i = 0; i < xn->value.numel(); ++i) dx[i] += dy[i] * ste(px[i]);
  });
}

// ---- BWN weights: W̃ = α·sign(W) per output filter (§3.1, Eq. 6) -----------------------------
std::vector<float> bwn_alpha(const Tensor& w) {
  if (w.ndim() < 2) shape_error("bwn_alpha", "weights [O, ...] with at least 2 dims", w.shape());
  const int64_t O = w.dim(0), n = w.numel() / O;
  std::vector<float> alpha(static_cast<size_t>(O));
  for (int64_t o = 0; o < O; ++o) {
    float s = 0.0f;  // ‖W_o‖ℓ1, summed in index order (the export recomputes exactly this)
    for (int64_t i = 0; i < n; ++i) s += std::fabs(w[o * n + i]);
    alpha[static_cast<size_t>(o)] = s / static_cast<float>(n);
  }
  return alpha;
}

Var bwn_weights(const Var& w, bool use_alpha, BwnGrad grad) {
  const Tensor& W = w.value();
  if (W.ndim() < 2) shape_error("bwn_weights", "weights [O, ...] with at least 2 dims", W.shape());
  const int64_t O = W.dim(0), n = W.numel() / O;
  std::vector<float> alpha = use_alpha ? bwn_alpha(W) : std::vector<float>(static_cast<size_t>(O), 1.0f);
  Tensor Y(W.shape());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < n; ++i) Y[o * n + i] = alpha[static_cast<size_t>(o)] * sign_pm1(W[o * n + i]);
  return make_result("bwn_weights", std::move(Y), {w}, [wn = w.node(), alpha, use_alpha, grad, O, n](Node& self) {
    float* dW = grad_buffer(*wn).data();
    const float *dY = self.grad.data(), *pW = wn->value.data();
    const float inv_n = 1.0f / static_cast<float>(n);
    for (int64_t o = 0; o < O; ++o) {
      const float a = alpha[static_cast<size_t>(o)];
      const float* dy = dY + o * n;
      const float* wo = pW + o * n;
      float* dw = dW + o * n;
      if (!use_alpha) {  // W̃ = sign(W): the STE alone
        for (int64_t i = 0; i < n; ++i) dw[i] += dy[i] * ste(wo[i]);
      } else if (grad == BwnGrad::paper) {  // Algorithm 1: ∂C/∂W_i = ∂C/∂W̃_i·(1/n + α·1_{|W_i|≤1})
        for (int64_t i = 0; i < n; ++i) dw[i] += dy[i] * (inv_n + a * ste(wo[i]));
      } else {  // exact: ∂α/∂W_i = sign(W_i)/n reaches W_i from every W̃_j of the filter
        float through_alpha = 0.0f;  // Σ_j ∂C/∂W̃_j · sign(W_j) = ∂C/∂α
        for (int64_t i = 0; i < n; ++i) through_alpha += dy[i] * sign_pm1(wo[i]);
        for (int64_t i = 0; i < n; ++i) dw[i] += sgn0(wo[i]) * inv_n * through_alpha + a * ste(wo[i]) * dy[i];
      }
    }
  });
}

// ---- binary convolution (simulation in float): y = K ⊙ (w · s),  s = sign(im2col(x)) ----------
namespace {

struct BinGeom {
  bool dense;      // x [N, C] (fully connected, the 1×1 case)
  ConvGeom g;      // one image
  int64_t N, O, Kd, P;
};

BinGeom bin_geom(const Tensor& X, const Tensor& W, const BinaryConvOptions& o) {
  BinGeom b{};
  if (X.ndim() == 2 && W.ndim() == 2) {
    if (X.dim(1) != W.dim(1))
      throw std::invalid_argument("binary_conv2d: expected x [N, " + std::to_string(W.dim(1)) + "] for w " + W.str() +
                                  ", found x " + X.str());
    b.dense = true;
    b.g = ConvGeom{X.dim(1), 1, 1, 1, 1, 1, 1, 0, 0};
  } else if (X.ndim() == 4 && W.ndim() == 4) {
    if (X.dim(1) != W.dim(1))
      throw std::invalid_argument("binary_conv2d: expected x with " + std::to_string(W.dim(1)) +
                                  " channels for w " + W.str() + ", found x " + X.str());
    b.dense = false;
    b.g = ConvGeom{X.dim(1), X.dim(2), X.dim(3), W.dim(2), W.dim(3), o.stride, o.stride, o.pad, o.pad};
    if (o.stride < 1 || o.pad < 0 || b.g.OH() < 1 || b.g.OW() < 1)
      throw std::invalid_argument("binary_conv2d: kernel " + W.str() + " with stride " + std::to_string(o.stride) +
                                  " and padding " + std::to_string(o.pad) + " does not fit input " + X.str());
  } else {
    throw std::invalid_argument("binary_conv2d: expected x [N, C, H, W] with w [O, C, KH, KW], or x [N, C] with w [O, C]; found x " +
                                X.str() + " and w " + W.str());
  }
  b.N = X.dim(0);
  b.O = W.dim(0);
  b.Kd = b.g.C * b.g.KH * b.g.KW;
  b.P = b.dense ? 1 : b.g.OH() * b.g.OW();
  return b;
}

}  // namespace

Var binary_conv2d(const Var& x, const Var& w, const BinaryConvOptions& o) {
  const Tensor &X = x.value(), &W = w.value();
  const BinGeom b = bin_geom(X, W, o);
  const int64_t N = b.N, O = b.O, Kd = b.Kd, P = b.P;
  const int64_t img = b.g.C * b.g.H * b.g.W;
  Tensor Y = b.dense ? Tensor({N, O}) : Tensor({N, O, b.g.OH(), b.g.OW()});
  Tensor Kmap = o.use_beta ? Tensor({N, P}) : Tensor();  // β of every receptive field
  Tensor Z = o.use_beta ? Tensor(Y.shape()) : Tensor();   // w·s before the β scale (for dK)
  const float *px = X.data(), *pw = W.data();

  if (b.dense) {
    // S [N × C] = sign(x) (or x), Z [N × O] = S · Wᵀ: one GEMM for the whole batch
    Tensor S(X.shape());
    for (int64_t i = 0; i < X.numel(); ++i) S[i] = o.binarize_input ? sign_pm1(px[i]) : px[i];
    sgemm(Trans::N, Trans::T, N, O, Kd, 1.0f, S.data(), Kd, pw, Kd, 0.0f, Y.data(), O);
    if (o.use_beta) {
      std::memcpy(Z.data(), Y.data(), sizeof(float) * static_cast<size_t>(Y.numel()));
      for (int64_t n = 0; n < N; ++n) {
        xnor_beta_map(b.g, px + n * img, Kmap.data() + n);  // K_n = mean |x_n|
        for (int64_t j = 0; j < O; ++j) Y[n * O + j] *= Kmap[n];
      }
    }
  } else {
    parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
      std::vector<float> col(static_cast<size_t>(Kd * P));
      for (int64_t n = lo; n < hi; ++n) {
        im2col(b.g, px + n * img, col.data());                               // [Kd × P]
        if (o.binarize_input)
          for (float& v : col) v = sign_pm1(v);                              // s = sign(im2col(x)); a pad 0 → +1
        float* yn = Y.data() + n * O * P;
        sgemm(Trans::N, Trans::N, O, P, Kd, 1.0f, pw, Kd, col.data(), P, 0.0f, yn, P);  // w · s
        if (o.use_beta) {
          float* kn = Kmap.data() + n * P;
          xnor_beta_map(b.g, px + n * img, kn);                              // K = A ∗ k
          std::memcpy(Z.data() + n * O * P, yn, sizeof(float) * static_cast<size_t>(O * P));
          for (int64_t j = 0; j < O; ++j)
            for (int64_t p = 0; p < P; ++p) yn[j * P + p] *= kn[p];
        }
      }
    });
  }

  return make_result("binary_conv2d", std::move(Y), {x, w}, [xn = x.node(), wn = w.node(), b, o, Kmap, Z](Node& self) {
    const int64_t N = b.N, O = b.O, Kd = b.Kd, P = b.P, img = b.g.C * b.g.H * b.g.W;
    const float *px = xn->value.data(), *pw = wn->value.data(), *dY = self.grad.data();
    // dZ = dY ⊙ K: the gradient reaching w·s
    Tensor dZ = self.grad.clone();
    if (o.use_beta)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < O * P; ++j) dZ[n * O * P + j] *= Kmap[n * P + j % P];
    float* dx = xn->requires_grad ? grad_buffer(*xn).data() : nullptr;
    float* dw = wn->requires_grad ? grad_buffer(*wn).data() : nullptr;

    if (b.dense) {
      Tensor S(xn->value.shape());
      for (int64_t i = 0; i < S.numel(); ++i) S[i] = o.binarize_input ? sign_pm1(px[i]) : px[i];
      if (dw) sgemm(Trans::T, Trans::N, O, Kd, N, 1.0f, dZ.data(), O, S.data(), Kd, 1.0f, dw, Kd);  // dW += dZᵀ·S
      if (dx) {
        Tensor dS({N, Kd});
        sgemm(Trans::N, Trans::N, N, Kd, O, 1.0f, dZ.data(), O, pw, Kd, 0.0f, dS.data(), Kd);  // dS = dZ·W
        for (int64_t n = 0; n < N; ++n) {
          float dK = 0.0f;  // ∂C/∂K_n = Σ_o dY·Z
          if (o.use_beta)
            for (int64_t j = 0; j < O; ++j) dK += dY[n * O + j] * Z[n * O + j];
          for (int64_t k = 0; k < Kd; ++k) {
            const float v = px[n * Kd + k];
            float g = dS[n * Kd + k] * (o.binarize_input ? ste(v) : 1.0f);
            if (o.use_beta) g += dK * sgn0(v) / static_cast<float>(Kd);  // K_n = Σ|x|/Kd
            dx[n * Kd + k] += g;
          }
        }
      }
      return;
    }

    // Convolution: images in kWeightBlocks fixed blocks; each block owns a dW partial.
    const int64_t nb = std::min<int64_t>(kWeightBlocks, N);
    std::vector<Tensor> dw_part(static_cast<size_t>(nb));
    parallel_for(0, nb, 1, [&](int64_t blo, int64_t bhi) {
      std::vector<float> col(static_cast<size_t>(Kd * P)), s(static_cast<size_t>(Kd * P)),
          dcol(static_cast<size_t>(Kd * P)), dK(static_cast<size_t>(P));
      for (int64_t bi = blo; bi < bhi; ++bi) {
        if (dw) dw_part[static_cast<size_t>(bi)] = Tensor({O, Kd});
        for (int64_t n = bi * N / nb; n < (bi + 1) * N / nb; ++n) {
          im2col(b.g, px + n * img, col.data());
          for (size_t i = 0; i < col.size(); ++i) s[i] = o.binarize_input ? sign_pm1(col[i]) : col[i];
          const float* dzn = dZ.data() + n * O * P;
          if (dw)  // dW += dZ_n · sᵀ
            sgemm(Trans::N, Trans::T, O, Kd, P, 1.0f, dzn, P, s.data(), P, 1.0f,
                  dw_part[static_cast<size_t>(bi)].data(), Kd);
          if (!dx) continue;
          sgemm(Trans::T, Trans::N, Kd, P, O, 1.0f, pw, Kd, dzn, P, 0.0f, dcol.data(), P);  // ∂C/∂s = Wᵀ·dZ
          if (o.use_beta) {  // ∂C/∂K_p = Σ_o dY·Z
            std::fill(dK.begin(), dK.end(), 0.0f);
            for (int64_t j = 0; j < O; ++j)
              for (int64_t p = 0; p < P; ++p) dK[static_cast<size_t>(p)] += dY[(n * O + j) * P + p] * Z[(n * O + j) * P + p];
          }
          for (int64_t k = 0; k < Kd; ++k)
            for (int64_t p = 0; p < P; ++p) {
              const size_t i = static_cast<size_t>(k * P + p);
              if (o.binarize_input) dcol[i] *= ste(col[i]);  // through sign: the STE
              // K_p is the mean of |col[:, p]| (the box filter of A, Eq. 11): d/dcol = sign/Kd
              if (o.use_beta) dcol[i] += dK[static_cast<size_t>(p)] * sgn0(col[i]) / static_cast<float>(Kd);
            }
          col2im(b.g, dcol.data(), dx + n * img);  // adds into the image
        }
      }
    });
    if (dw)
      for (int64_t bi = 0; bi < nb; ++bi) {
        const Tensor& part = dw_part[static_cast<size_t>(bi)];
        for (int64_t i = 0; i < part.numel(); ++i) dw[i] += part[i];
      }
  });
}

}  // namespace mgf
