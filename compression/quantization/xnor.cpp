// compression/quantization/xnor.cpp — XNOR-Net: the ops, the binary LeNet-5, the packed file and
// the packed inference. See xnor.h for the paper's equations. Book: book/23-xnor.md.
#include "compression/quantization/xnor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/bitpack.h"
#include "compression/quantization/xnorpp.h"
#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/gemm.h"
#include "engine/ops.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
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

// ---- the experiment's network ------------------------------------------------------------------
std::string BinaryNetConfig::name() const {
  switch (mode) {
    case BinaryMode::real: return "float";
    case BinaryMode::bwn: return use_alpha ? "BWN" : "BWN, no alpha";
    case BinaryMode::xnor: {
      std::string s = order == BlockOrder::bacp ? "XNOR B-A-C-P" : "XNOR C-B-A-P";
      if (!use_alpha) s += ", no alpha";
      if (!use_beta) s += ", no beta";
      return s;
    }
    case BinaryMode::xnorpp: return "XNOR++ case " + std::to_string(gamma_case);
  }
  return "?";
}

static Tensor kaiming(Shape s, int64_t fan_in) {
  Tensor t(std::move(s));
  const float sd = std::sqrt(2.0f / static_cast<float>(fan_in));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = global_rng().normal(0.0f, sd);
  return t;
}

void BinaryLeNet5::add_bn(Bn& b, const std::string& name, int64_t C) {
  b.gamma = &register_parameter(name + ".gamma", Tensor::ones({C}));
  b.beta = &register_parameter(name + ".beta", Tensor::zeros({C}));
  b.mean = Tensor::zeros({C});
  b.var = Tensor::ones({C});
  register_buffer(name + ".running_mean", &b.mean);
  register_buffer(name + ".running_var", &b.var);
}

BinaryLeNet5::BinaryLeNet5(BinaryNetConfig cfg) : cfg_(cfg) {
  if (cfg.mode == BinaryMode::xnorpp && (cfg.gamma_case < 1 || cfg.gamma_case > 4))
    throw std::invalid_argument("BinaryLeNet5: expected XNOR-Net++ case 1..4, found " + std::to_string(cfg.gamma_case));
  const int64_t c1 = cfg.c1, c2 = cfg.c2, fc = cfg.fc, flat = c2 * 16;
  w1 = &register_parameter("conv1.weight", kaiming({c1, 1, 5, 5}, 25));
  b1 = &register_parameter("conv1.bias", Tensor::zeros({c1}));
  w2 = &register_parameter("conv2.weight", kaiming({c2, c1, 5, 5}, c1 * 25));
  w3 = &register_parameter("fc1.weight", kaiming({fc, flat}, flat));
  w4 = &register_parameter("fc2.weight", kaiming({10, fc}, fc));
  b4 = &register_parameter("fc2.bias", Tensor::zeros({10}));
  add_bn(bn1, "bn1", c1);
  const bool bacp = cfg.mode == BinaryMode::xnorpp || (cfg.mode == BinaryMode::xnor && cfg.order == BlockOrder::bacp);
  if (bacp) {  // BN before every binary layer, and one before the real classifier
    add_bn(bn2, "bn2", c1);
    add_bn(bn3, "bn3", flat);
    add_bn(bn4, "bn4", fc);
  } else {     // BN after every conv / fc
    add_bn(bn2, "bn2", c2);
    add_bn(bn3, "bn3", fc);
    bn4.gamma = nullptr;
  }
  if (cfg.mode == BinaryMode::xnorpp) {
    auto f2 = gamma_factors(cfg.gamma_case, c2, 8, 8);
    auto v2 = gamma_init(cfg.gamma_case, w2->var.value(), 8, 8);
    for (size_t i = 0; i < f2.size(); ++i) g2.push_back(&register_parameter("conv2." + f2[i].name, v2[i]));
    auto f3 = gamma_factors(cfg.gamma_case, fc, 0, 0);
    auto v3 = gamma_init(cfg.gamma_case, w3->var.value(), 0, 0);
    for (size_t i = 0; i < f3.size(); ++i) g3.push_back(&register_parameter("fc1." + f3[i].name, v3[i]));
  }
}

Var BinaryLeNet5::bn(Bn& b, const Var& x) {
  return batch_norm(x, b.gamma->var, b.beta->var, b.mean, b.var, training());
}

Var BinaryLeNet5::binary_layer(const Var& x, Parameter* w, const std::vector<Parameter*>& gamma) {
  BinaryConvOptions o;
  if (cfg_.mode == BinaryMode::xnorpp) {  // sign(W), no α and no β: Γ carries the whole scale
    o.binarize_input = true;
    std::vector<Var> f;
    for (Parameter* p : gamma) f.push_back(p->var);
    return apply_gamma(binary_conv2d(x, bwn_weights(w->var, false), o), f);
  }
  o.binarize_input = cfg_.mode == BinaryMode::xnor;
  o.use_beta = cfg_.mode == BinaryMode::xnor && cfg_.use_beta;
  return binary_conv2d(x, bwn_weights(w->var, cfg_.use_alpha, cfg_.wgrad), o);
}

Var BinaryLeNet5::forward(const Var& x) {
  if (x.value().ndim() != 4 || x.value().dim(1) != 1 || x.value().dim(2) != 28 || x.value().dim(3) != 28)
    shape_error("BinaryLeNet5", "images [N, 1, 28, 28]", x.value().shape());
  Var h = bn(bn1, conv2d(x, w1->var, b1->var));  // conv1: real (Algorithm 1 keeps it real)
  const bool xnor_like = cfg_.mode == BinaryMode::xnor || cfg_.mode == BinaryMode::xnorpp;
  if (!xnor_like) {  // float or BWN: the conventional block, real activations
    h = max_pool2d(relu(h), 2, 2);
    Var w2e = cfg_.mode == BinaryMode::real ? w2->var : bwn_weights(w2->var, cfg_.use_alpha, cfg_.wgrad);
    Var w3e = cfg_.mode == BinaryMode::real ? w3->var : bwn_weights(w3->var, cfg_.use_alpha, cfg_.wgrad);
    h = max_pool2d(relu(bn(bn2, binary_conv2d(h, w2e, {}))), 2, 2);
    h = relu(bn(bn3, binary_conv2d(flatten(h), w3e, {})));
  } else if (cfg_.mode == BinaryMode::xnorpp || cfg_.order == BlockOrder::bacp) {
    // B-A-C-P: BN → BinActiv (inside binary_conv2d, with K from the real BN output) → BinConv → Pool
    h = max_pool2d(relu(h), 2, 2);
    h = max_pool2d(binary_layer(bn(bn2, h), w2, g2), 2, 2);
    h = binary_layer(bn(bn3, flatten(h)), w3, g3);
    h = relu(bn(bn4, h));
  } else {
    // C-B-A-P: the binary activation comes before the pool, so max-pooling sees ±1 values
    h = max_pool2d(sign_ste(h), 2, 2);
    h = max_pool2d(sign_ste(bn(bn2, binary_layer(h, w2, g2))), 2, 2);
    h = relu(bn(bn3, binary_layer(flatten(h), w3, g3)));
  }
  return linear(h, w4->var, b4->var);  // fc2: real
}

int64_t BinaryLeNet5::float_weight_bytes() const {
  int64_t n = 0;
  for (auto* self = const_cast<BinaryLeNet5*>(this); auto* p : self->parameters()) n += p->var.value().numel();
  for (auto* self = const_cast<BinaryLeNet5*>(this); auto& b : self->named_buffers()) n += b.second->numel();
  return 4 * n;
}

int64_t BinaryLeNet5::deployed_weight_bytes() const {
  if (cfg_.mode == BinaryMode::real) return float_weight_bytes();
  int64_t bytes = float_weight_bytes();
  for (Parameter* w : {w2, w3}) {
    const int64_t O = w->var.value().dim(0), K = w->var.value().numel() / O;
    bytes -= 4 * O * K;                   // the fp32 latent weights are not deployed ...
    bytes += 8 * O * bit_words(K);        // ... their signs are, 1 bit each (rows padded to 64)
    if (cfg_.mode != BinaryMode::xnorpp && cfg_.use_alpha) bytes += 4 * O;  // + α per filter
  }
  return bytes;  // (XNOR-Net++'s Γ factors are parameters, already counted)
}

// ---- the packed file ------------------------------------------------------------------------------
// The layout is documented once, above export_packed in xnor.h. Fields go through ByteWriter /
// ByteReader (engine/io/bytes.h), so the file is little-endian on every host and every read
// is checked against the bytes left; the checksum is the project's crc32() (engine/io/crc32.h).
namespace {

constexpr char kMagic[8] = {'M', 'G', 'F', 'X', 'N', 'O', 'R', '1'};
constexpr uint32_t kVersion = 2;      // 1: native byte order and FNV-1a; no longer read
constexpr size_t kHeader = 8 + 4 + 4 + 8 + 4;

void put_header(ByteWriter& w, const std::string& name, uint32_t kind, const std::vector<int64_t>& dims) {
  w.str_u32(name);
  w.u32(kind);
  w.u32(static_cast<uint32_t>(dims.size()));
  for (int64_t d : dims) w.i64(d);
}

void put_floats(ByteWriter& w, const std::string& name, const Tensor& t) {
  put_header(w, name, 0, t.shape());
  w.f32s(t.data(), static_cast<size_t>(t.numel()));
}

}  // namespace

int64_t export_packed(BinaryLeNet5& m, const std::string& path) {
  const BinaryNetConfig& c = m.config();
  const bool pp = c.mode == BinaryMode::xnorpp;
  if (!pp && !(c.mode == BinaryMode::xnor && c.order == BlockOrder::bacp))
    throw std::invalid_argument("export_packed: expected an XNOR B-A-C-P or XNOR++ model, found " + c.name());
  ByteWriter payload;
  uint32_t count = 0;
  auto floats = [&](const std::string& name, const Tensor& t) { put_floats(payload, name, t), ++count; };
  // meta: {XNOR-Net++?, β used?, α used?, Γ case}
  Tensor meta({4}, {pp ? 1.0f : 0.0f, (!pp && c.use_beta) ? 1.0f : 0.0f, c.use_alpha ? 1.0f : 0.0f,
                    static_cast<float>(c.gamma_case)});
  floats("meta", meta);
  floats("conv1.weight", m.w1->var.value());
  floats("conv1.bias", m.b1->var.value());
  for (auto [name, b] : {std::pair<const char*, BinaryLeNet5::Bn*>{"bn1", &m.bn1}, {"bn2", &m.bn2}, {"bn3", &m.bn3},
                         {"bn4", &m.bn4}}) {
    floats(std::string(name) + ".gamma", b->gamma->var.value());
    floats(std::string(name) + ".beta", b->beta->var.value());
    floats(std::string(name) + ".mean", b->mean);
    floats(std::string(name) + ".var", b->var);
  }
  auto binary = [&](const std::string& name, Parameter* w, const std::vector<Parameter*>& g, int64_t OH, int64_t OW) {
    const Tensor& W = w->var.value();
    const int64_t O = W.dim(0), K = W.numel() / O;
    PackedSigns bits = PackedSigns::from_rows(W.data(), O, K);  // B = sign(W), 1 bit per weight
    put_header(payload, name + ".bits", 1, {O, K});
    for (uint64_t word : bits.bits) payload.u64(word);
    ++count;
    if (pp) {  // Γ materialised once: one multiply per output at inference
      std::vector<Tensor> f;
      for (Parameter* p : g) f.push_back(p->var.value());
      floats(name + ".scale", gamma_full(c.gamma_case, f, O, OH, OW));
    } else {
      std::vector<float> a = c.use_alpha ? bwn_alpha(W) : std::vector<float>(static_cast<size_t>(O), 1.0f);
      floats(name + ".scale", Tensor({O, 1}, a));
    }
  };
  binary("conv2", m.w2, m.g2, 8, 8);
  binary("fc1", m.w3, m.g3, 0, 0);
  floats("fc2.weight", m.w4->var.value());
  floats("fc2.bias", m.b4->var.value());

  ByteWriter file;
  file.bytes(kMagic, 8);
  file.u32(kVersion);
  file.u32(count);
  file.u64(static_cast<uint64_t>(payload.size()));
  file.u32(crc32(payload.data().data(), payload.size()));
  file.bytes(payload.data().data(), payload.size());
  write_file_atomic(path, file.data().data(), file.size());
  return static_cast<int64_t>(file.size());
}

PackedBinaryNet::PackedBinaryNet(const std::string& path) {
  std::vector<uint8_t> bytes;
  try {
    bytes = read_file(path);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (run the example that writes the packed model first)");
  }
  *this = from_bytes(bytes, path);
}

PackedBinaryNet PackedBinaryNet::from_bytes(const std::vector<uint8_t>& buf, const std::string& name) {
  PackedBinaryNet net;
  net.file_bytes_ = static_cast<int64_t>(buf.size());
  ByteReader c(buf, "packed model " + name);
  if (buf.size() < 12)
    c.fail("header", "expected a header of " + std::to_string(kHeader) + " bytes, found a file of " +
                         std::to_string(buf.size()));
  if (std::memcmp(c.bytes(8, "magic"), kMagic, 8) != 0)
    c.fail_at(0, "magic", "expected MGFXNOR1, found something else (not a packed XNOR model)");
  const uint32_t version = c.u32("version");
  if (version == 1)
    c.fail_at(8, "version", "found version 1 (native byte order, FNV-1a checksum), which is no longer read: "
                            "expected version " + std::to_string(kVersion) + "; re-export the model with export_packed");
  if (version != kVersion)
    c.fail_at(8, "version", "expected version " + std::to_string(kVersion) + ", found " + std::to_string(version));
  if (buf.size() < kHeader)
    c.fail("header", "expected a header of " + std::to_string(kHeader) + " bytes, found a file of " +
                         std::to_string(buf.size()));
  const uint32_t count = c.u32("record count");
  const uint64_t size = c.u64("payload size");
  const uint32_t sum = c.u32("checksum");
  if (size != buf.size() - kHeader)
    c.fail("payload size", "expected a payload of " + std::to_string(size) + " bytes, found " +
                               std::to_string(buf.size() - kHeader) + " (truncated or padded file)");
  if (crc32(buf.data() + kHeader, buf.size() - kHeader) != sum)
    c.fail("checksum", "CRC-32 mismatch: the file is corrupt");
  for (uint32_t r = 0; r < count; ++r) {
    std::string rname = c.str_u32("record name");
    const uint32_t kind = c.u32("record kind"), nd = c.u32("record ndim");
    if (kind > 1 || nd < 1 || nd > 4)
      c.fail("record kind", "record " + rname + ": expected kind 0/1 and 1..4 dims, found kind " +
                                std::to_string(kind) + ", " + std::to_string(nd) + " dims");
    Rec rec;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      rec.dims.push_back(c.i64("record dims"));
      if (rec.dims.back() < 1 || rec.dims.back() > (int64_t{1} << 30))
        c.fail("record dims", "record " + rname + ": bad dimension " + std::to_string(rec.dims.back()));
      numel = checked_mul(numel, static_cast<uint64_t>(rec.dims.back()), c.what() + ": record " + rname);
      if (numel > (uint64_t{1} << 32)) c.fail("record dims", "record " + rname + ": too many elements");
    }
    // Sizes are checked against the bytes left BEFORE anything is allocated from them: a
    // 61-byte file must not make us reserve gigabytes.
    if (kind == 0) {
      c.need_array(numel, 4, "fp32 data of " + rname);
      rec.f.resize(static_cast<size_t>(numel));
      c.f32s(rec.f.data(), rec.f.size(), "fp32 data of " + rname);
    } else {
      if (nd != 2) c.fail("record ndim", "record " + rname + ": expected packed signs [rows, K]");
      const uint64_t words = checked_mul(static_cast<uint64_t>(rec.dims[0]),
                                         static_cast<uint64_t>(bit_words(rec.dims[1])), c.what() + ": " + rname);
      c.need_array(words, 8, "packed bits of " + rname);
      rec.b.resize(static_cast<size_t>(words));
      for (auto& word : rec.b) word = c.u64("packed bits of " + rname);
      // Bits past K in each row's last word must be 0: the popcount kernels count them.
      const int64_t K = rec.dims[1], wpr = bit_words(K);
      const uint64_t pad = K % 64 ? ~uint64_t{0} << (K % 64) : 0;
      for (int64_t row = 0; row < rec.dims[0]; ++row)
        if (rec.b[static_cast<size_t>((row + 1) * wpr - 1)] & pad)
          c.fail("packed bits of " + rname, "row " + std::to_string(row) + " has padding bits set past K = " +
                                                std::to_string(K) + " (expected 0)");
    }
    net.recs_.emplace_back(std::move(rname), std::move(rec));
  }
  if (c.remaining() != 0)
    c.fail("end", "expected the end of the payload, found " + std::to_string(c.remaining()) + " more bytes");
  // forward() indexes these records directly (scales per output, packed rows of K bits), so
  // every one it reads must exist with exactly the kind and shape it assumes: LeNet-5's
  // geometry (28 → conv 5×5 → 24 → pool → 12 → conv 5×5 → 8 → pool → 4) fixes all but c1, c2, fc.
  auto find = [&](const std::string& rn) -> const Rec& {
    for (const auto& r : net.recs_)
      if (r.first == rn) return r.second;
    throw std::runtime_error(c.what() + ": expected a record named " + rn + ", found none");
  };
  auto expect = [&](const std::string& rn, uint32_t kind, const std::vector<int64_t>& want) -> const Rec& {
    const Rec& r = find(rn);
    if (r.dims != want || (kind == 1) != r.f.empty())
      throw std::runtime_error(c.what() + ": record " + rn + ": expected " + (kind ? "packed signs " : "fp32 ") +
                               shape_str(want) + ", found " + (r.f.empty() ? "packed signs " : "fp32 ") +
                               shape_str(r.dims));
    return r;
  };
  const Rec& meta = expect("meta", 0, {4});
  net.xnorpp_ = meta.f[0] != 0.0f;
  net.use_beta_ = meta.f[1] != 0.0f;
  const int64_t c1 = find("conv1.weight").dims[0], c2 = find("conv2.bits").dims[0], fc = find("fc1.bits").dims[0];
  expect("conv1.weight", 0, {c1, 1, 5, 5});
  expect("conv1.bias", 0, {c1});
  expect("conv2.bits", 1, {c2, c1 * 25});
  expect("conv2.scale", 0, {c2, net.xnorpp_ ? 64 : 1});   // Γ per output pixel (8×8), or α per filter
  expect("fc1.bits", 1, {fc, c2 * 16});
  expect("fc1.scale", 0, {fc, 1});
  expect("fc2.weight", 0, {10, fc});
  expect("fc2.bias", 0, {10});
  for (auto [b, n] : {std::pair<const char*, int64_t>{"bn1", c1}, {"bn2", c1}, {"bn3", c2 * 16}, {"bn4", fc}})
    for (const char* f : {".gamma", ".beta", ".mean", ".var"}) expect(std::string(b) + f, 0, {n});
  return net;
}

const PackedBinaryNet::Rec& PackedBinaryNet::rec(const std::string& name) const {
  for (const auto& r : recs_)
    if (r.first == name) return r.second;
  throw std::runtime_error("packed model: expected a record named " + name + ", found none");
}

int64_t PackedBinaryNet::binary_weight_bytes() const {
  return 8 * static_cast<int64_t>(rec("conv2.bits").b.size() + rec("fc1.bits").b.size());
}

Tensor PackedBinaryNet::forward(const Tensor& x) const {
  if (x.ndim() != 4 || x.dim(1) != 1 || x.dim(2) != 28 || x.dim(3) != 28)
    shape_error("PackedBinaryNet", "images [N, 1, 28, 28]", x.shape());
  NoGradGuard ng;
  auto T = [&](const std::string& n) {  // a record as a constant Tensor
    const Rec& r = rec(n);
    return Tensor(Shape(r.dims.begin(), r.dims.end()), r.f);
  };
  auto bn = [&](const Var& h, const std::string& n) {  // the same op as training, in eval mode
    Tensor mean = T(n + ".mean"), var = T(n + ".var");
    return batch_norm(h, Var(T(n + ".gamma")), Var(T(n + ".beta")), mean, var, false);
  };
  const int64_t N = x.dim(0);
  // conv1 and its block: real, on the float kernels
  Var h = max_pool2d(relu(bn(conv2d(Var(x), Var(T("conv1.weight")), Var(T("conv1.bias"))), "bn1")), 2, 2);
  Tensor H = bn(h, "bn2").value();  // [N, c1, 12, 12], the real input of the binary conv
  // conv2: im2col on bits, xnor + popcount, then the scales: y = α_o·K_p·(K − 2 popcount) (or Γ)
  const Rec &b2 = rec("conv2.bits"), &s2 = rec("conv2.scale");
  const int64_t c1 = H.dim(1), c2 = b2.dims[0], Kd2 = b2.dims[1];
  const ConvGeom g{c1, 12, 12, 5, 5, 1, 1, 0, 0};
  const int64_t P = g.OH() * g.OW();
  Tensor Y2({N, c2, g.OH(), g.OW()});
  parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    std::vector<uint64_t> in(static_cast<size_t>(P * bit_words(Kd2)));
    std::vector<int32_t> z(static_cast<size_t>(c2 * P));
    std::vector<float> K(static_cast<size_t>(P), 1.0f);
    for (int64_t n = lo; n < hi; ++n) {
      const float* hn = H.data() + n * c1 * 144;
      im2col_pack_signs(g, hn, in.data());
      if (!xnorpp_ && use_beta_) xnor_beta_map(g, hn, K.data());
      bgemm(c2, P, Kd2, b2.b.data(), in.data(), z.data(), P);
      float* y = Y2.data() + n * c2 * P;
      for (int64_t o = 0; o < c2; ++o)
        for (int64_t p = 0; p < P; ++p) {
          const float scale = xnorpp_ ? s2.f[static_cast<size_t>(o * P + p)] : K[static_cast<size_t>(p)] * s2.f[static_cast<size_t>(o)];
          y[o * P + p] = scale * static_cast<float>(z[static_cast<size_t>(o * P + p)]);
        }
    }
  });
  Tensor X3 = bn(flatten(max_pool2d(Var(Y2), 2, 2)), "bn3").value();  // [N, 800]
  // fc1: each image is one packed row; C[fc × N] = bgemm(weights, images)
  const Rec &b3 = rec("fc1.bits"), &s3 = rec("fc1.scale");
  const int64_t fc = b3.dims[0], Kd3 = b3.dims[1];
  std::vector<uint64_t> in(static_cast<size_t>(N * bit_words(Kd3)));
  pack_signs_rows(X3.data(), N, Kd3, Kd3, in.data());
  std::vector<float> K(static_cast<size_t>(N), 1.0f);
  const ConvGeom g1{Kd3, 1, 1, 1, 1, 1, 1, 0, 0};
  if (!xnorpp_ && use_beta_)
    for (int64_t n = 0; n < N; ++n) xnor_beta_map(g1, X3.data() + n * Kd3, K.data() + n);
  std::vector<int32_t> z(static_cast<size_t>(fc * N));
  bgemm(fc, N, Kd3, b3.b.data(), in.data(), z.data(), N);
  Tensor Y3({N, fc});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < fc; ++o)
      Y3[n * fc + o] = K[static_cast<size_t>(n)] * s3.f[static_cast<size_t>(o)] * static_cast<float>(z[static_cast<size_t>(o * N + n)]);
  Var out = linear(relu(bn(Var(Y3), "bn4")), Var(T("fc2.weight")), Var(T("fc2.bias")));
  return out.value();
}

// ---- training and evaluation helpers -------------------------------------------------------------
EvalResult train_binary_lenet(BinaryLeNet5& model, const DataSplits& data, const BinaryTrainOptions& o,
                              const std::string& label) {
  Adam opt(model.parameters(), AdamOptions{o.lr});
  Rng rng(global_rng().next_u64());
  DataLoader loader(data.train, o.batch, true, rng);
  // The cosine is followed per batch (t = batches done / batches per epoch), so a short
  // schedule (1–2 epochs of the full set) still decays to 0 instead of holding η0 for an epoch.
  BatchSchedule sched(cosine_schedule(o.lr, o.epochs), loader.num_batches());
  TrainHooks hooks;
  hooks.schedule = &sched;
  sched.reset(opt);
  for (int e = 0; e < o.epochs; ++e) {
    model.train();
    train_epoch(model, opt, loader, hooks, label + " epoch " + std::to_string(e + 1) + "/" + std::to_string(o.epochs));
  }
  return evaluate(model, data.test);
}

PackedEval evaluate_packed(const PackedBinaryNet& net, const Dataset& data, const Tensor* reference, int64_t batch) {
  PackedEval r;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 0; b < data.size(); b += batch) {
    const int64_t n = std::min(batch, data.size() - b);
    Dataset part = data.slice(b, n);
    Tensor logits = net.forward(part.images);
    r.errors += count_errors(logits, part.labels);
    if (reference) {  // predictions of the simulation, as labels
      std::vector<int32_t> ref(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        int32_t best = 0;
        for (int32_t j = 1; j < 10; ++j)
          if ((*reference)[(b + i) * 10 + j] > (*reference)[(b + i) * 10 + best]) best = j;
        ref[static_cast<size_t>(i)] = best;
      }
      r.disagreements += count_errors(logits, ref);
    }
  }
  r.count = data.size();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

BinarizeRow xnor_binarize_row(const DataSplits& data, int epochs, const std::string& packed_path) {
  BinaryNetConfig cfg;  // XNOR-Net, B-A-C-P, α and β
  BinaryLeNet5 model(cfg);
  BinarizeRow row;
  const auto t0 = std::chrono::steady_clock::now();
  BinaryTrainOptions o;
  o.epochs = epochs;
  row.sim_error = train_binary_lenet(model, data, o, "xnor").error_rate();
  row.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.float_bytes = model.float_weight_bytes();
  row.deployed_bytes = model.deployed_weight_bytes();
  row.file_bytes = export_packed(model, packed_path);
  PackedBinaryNet packed(packed_path);
  PackedEval pe = evaluate_packed(packed, data.test);
  row.packed_error = static_cast<double>(pe.errors) / static_cast<double>(std::max<int64_t>(1, pe.count));
  row.packed_images_per_s = pe.seconds > 0 ? static_cast<double>(pe.count) / pe.seconds : 0;
  return row;
}

}  // namespace mgf
