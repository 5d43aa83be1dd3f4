// engine/ops_conv.cpp — 2-D convolution (stride, padding, groups) and pooling.
// Book: book/01-autograd.md (the op), book/02-kernels.md (im2col + GEMM, depthwise).
//
// Convolution is lowered to GEMM one image at a time (Chellapilla et al. 2006):
//   col = im2col(x_n)                      [C·KH·KW × P],   P = OH·OW
//   y_n = W · col                          [OC × P]          (one sgemm per group)
// and its backward is two more GEMMs plus the adjoint of im2col:
//   dW += dy_n · colᵀ                      [OC × C·KH·KW]
//   dcol = Wᵀ · dy_n,   dx_n += col2im(dcol)
// Groups (AlexNet, ShuffleNet): channel group g only sees input channels g·C/G … and
// im2col's rows are ordered (c, kh, kw), so group g's rows of col are one contiguous block:
// a grouped conv is G smaller GEMMs on slices, no copies. Depthwise (groups == C == OC, the
// MobileNet case) has a GEMM of one row per group, which is all overhead, so it goes to the
// direct kernels depthwise_forward / depthwise_backward instead.
//
// Threads: images are independent, so forward and dx run parallel_for over the batch with
// one scratch col buffer per chunk. dW sums over images, so to make the result independent
// of the thread count the batch is cut into a FIXED number of blocks (kWeightBlocks, not
// the thread count); each block sums its images in order into its own partial, and the
// partials are added in block order at the end.
// The backward redoes im2col instead of keeping the forward's cols: we tried keeping them
// (12 MB per LeNet-5 batch of 64) and 150 batches took the same CPU time (1.93 s either
// way) — kept cols come back from DRAM, a fresh im2col of a small image comes from cache.
// Not here: dilation, Winograd/FFT convolution, NHWC layout.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/kernels/conv.h"
#include "engine/kernels/elementwise.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/gemm.h"
#include "engine/ops.h"
#include "engine/threads.h"

namespace mgf {
namespace {

constexpr int64_t kWeightBlocks = 8;  // dW, db partials; fixed so results ignore the thread count

std::string geom_str(const Conv2dOptions& o) {
  return "stride " + std::to_string(o.stride_h) + "x" + std::to_string(o.stride_w) + ", padding " +
         std::to_string(o.pad_h) + "x" + std::to_string(o.pad_w) + ", groups " + std::to_string(o.groups);
}

// Block b of nb covers images [N·b/nb, N·(b+1)/nb).
int64_t block_begin(int64_t N, int64_t nb, int64_t b) { return N * b / nb; }

}  // namespace

Var conv2d(const Var& x, const Var& w, const Var& bias, const Conv2dOptions& o) {
  const Tensor &X = x.value(), &Wt = w.value();
  if (X.ndim() != 4 || Wt.ndim() != 4)
    throw std::invalid_argument("conv2d: expected x [N, C, H, W] and w [OC, C/groups, KH, KW], found x " + X.str() +
                                " and w " + Wt.str());
  const int64_t N = X.dim(0), C = X.dim(1), H = X.dim(2), Wd = X.dim(3);
  const int64_t OC = Wt.dim(0), KH = Wt.dim(2), KW = Wt.dim(3), G = o.groups;
  if (G < 1 || o.stride_h < 1 || o.stride_w < 1 || o.pad_h < 0 || o.pad_w < 0)
    throw std::invalid_argument("conv2d: expected groups >= 1, strides >= 1, padding >= 0, found " + geom_str(o));
  if (C % G != 0 || OC % G != 0 || Wt.dim(1) != C / G)
    throw std::invalid_argument("conv2d: x " + X.str() + " and w " + Wt.str() + " do not fit groups = " +
                                std::to_string(G) + " (need C and OC divisible by groups and w.dim(1) = C/groups)");
  if (bias.defined() && bias.shape() != Shape{OC})
    throw std::invalid_argument("conv2d: expected bias " + shape_str({OC}) + ", found " + bias.value().str());
  const ConvGeom g{C, H, Wd, KH, KW, o.stride_h, o.stride_w, o.pad_h, o.pad_w};
  if (H + 2 * o.pad_h < KH || Wd + 2 * o.pad_w < KW)
    throw std::invalid_argument("conv2d: kernel " + Wt.str() + " is larger than the padded input " + X.str() +
                                " (" + geom_str(o) + ")");
  const int64_t OH = g.OH(), OW = g.OW(), P = OH * OW;
  const int64_t Cg = C / G, OCg = OC / G, Kg = Cg * KH * KW;  // per-group GEMM sizes
  const bool depthwise = G == C && OC == C;
  // A 1×1, stride-1, unpadded conv reads x as it is: col == x_n, so skip im2col.
  const bool pointwise = KH == 1 && KW == 1 && o.stride_h == 1 && o.stride_w == 1 && o.pad_h == 0 && o.pad_w == 0;

  Tensor Y = Tensor::uninit({N, OC, OH, OW});  // every y_n is written by sgemm (beta = 0) or depthwise
  const float* px = X.data();
  const float* pw = Wt.data();
  const float* pb = bias.defined() ? bias.value().data() : nullptr;
  float* py = Y.data();

  // ---- forward: one image at a time, in parallel over the batch ----------------------
  parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> col(depthwise || pointwise ? 0 : static_cast<size_t>(C * KH * KW * P));
    for (int64_t n = lo; n < hi; ++n) {
      const float* xn = px + n * C * H * Wd;  // [C, H, W]
      float* yn = py + n * OC * P;            // [OC, P]
      if (depthwise) {
        depthwise_forward(g, xn, pw, pb, yn);
        continue;
      }
      const float* cn = xn;
      if (!pointwise) {
        im2col(g, xn, col.data());
        cn = col.data();                      // [C·KH·KW, P]
      }
      for (int64_t gi = 0; gi < G; ++gi)      // y_g[OCg × P] = W_g[OCg × Kg] · col_g[Kg × P]
        sgemm(Trans::N, Trans::N, OCg, P, Kg, 1.0f, pw + gi * OCg * Kg, Kg, cn + gi * Kg * P, P, 0.0f,
              yn + gi * OCg * P, P);
      if (pb) bias_add_channels(yn, pb, 1, OC, P);  // y[oc][p] += b[oc]
    }
  });

  // ---- backward ----------------------------------------------------------------------
  auto backward = [xn_ = x.node(), wn = w.node(), bn = bias.defined() ? bias.node() : nullptr, g, N, C, H, Wd,
                   OC, G, P, OCg, Kg, depthwise, pointwise](Node& self) {
    const float* dy = self.grad.data();  // [N, OC, P]
    const float* px = xn_->value.data();
    const float* pw = wn->value.data();
    float* dx = xn_->requires_grad ? grad_buffer(*xn_).data() : nullptr;
    float* dw = wn->requires_grad ? grad_buffer(*wn).data() : nullptr;
    float* db = bn && bn->requires_grad ? grad_buffer(*bn).data() : nullptr;
    // Each block's partial holds its dW (OC·Kg floats) followed by its db (OC floats).
    const int64_t wsize = dw ? OC * Kg : 0, psize = wsize + (db ? OC : 0);
    const int64_t nb = std::min<int64_t>(N, kWeightBlocks);
    std::vector<float> partial(static_cast<size_t>(nb * psize), 0.0f);

    parallel_for(0, nb, 1, [&](int64_t blo, int64_t bhi) {
      const size_t col_size = depthwise || pointwise ? 0 : static_cast<size_t>(G * Kg * P);
      std::vector<float> col(dw ? col_size : 0), dcol(dx ? col_size : 0);
      for (int64_t b = blo; b < bhi; ++b) {
        float* dwb = dw ? partial.data() + b * psize : nullptr;         // this block's dW partial
        float* dbb = db ? partial.data() + b * psize + wsize : nullptr;  // and its db partial
        for (int64_t n = block_begin(N, nb, b); n < block_begin(N, nb, b + 1); ++n) {
          const float* xn = px + n * C * H * Wd;
          const float* dyn = dy + n * OC * P;
          float* dxn = dx ? dx + n * C * H * Wd : nullptr;
          if (dbb) sum_rows(dyn, OC, P, dbb);  // db[oc] += Σ_p dy[n][oc][p]
          if (depthwise) {
            depthwise_backward(g, xn, pw, dyn, dxn, dwb);
            continue;
          }
          if (dwb) {  // dW_g += dy_g[OCg × P] · col_gᵀ[P × Kg]
            const float* cn = xn;
            if (!pointwise) {
              im2col(g, xn, col.data());
              cn = col.data();
            }
            for (int64_t gi = 0; gi < G; ++gi)
              sgemm(Trans::N, Trans::T, OCg, Kg, P, 1.0f, dyn + gi * OCg * P, P, cn + gi * Kg * P, P, 1.0f,
                    dwb + gi * OCg * Kg, Kg);
          }
          if (dxn) {  // dcol_g = W_gᵀ[Kg × OCg] · dy_g[OCg × P];  dx_n += col2im(dcol)
            float* dc = pointwise ? dxn : dcol.data();
            const float beta = pointwise ? 1.0f : 0.0f;  // pointwise: accumulate straight into dx
            for (int64_t gi = 0; gi < G; ++gi)
              sgemm(Trans::T, Trans::N, Kg, P, OCg, 1.0f, pw + gi * OCg * Kg, Kg, dyn + gi * OCg * P, P, beta,
                    dc + gi * Kg * P, P);
            if (!pointwise) col2im(g, dcol.data(), dxn);
          }
        }
      }
    });
    // Partials are added in block order: the same sums whatever the thread count.
    for (int64_t b = 0; b < nb; ++b) {
      const float* pb = partial.data() + b * psize;
      for (int64_t i = 0; i < wsize; ++i) dw[i] += pb[i];
      for (int64_t oc = 0; db && oc < OC; ++oc) db[oc] += pb[wsize + oc];
    }
  };
  std::vector<Var> parents{x, w};
  if (bias.defined()) parents.push_back(bias);
  return make_result("conv2d", std::move(Y), std::move(parents), std::move(backward));
}

// ---- pooling -----------------------------------------------------------------------------
// The window loops are the kernels in engine/kernels/pool.h (scalar and AVX2), one image at
// a time; here are the shape checks, the batch loop and the graph.
namespace {

ConvGeom pool_geom(const char* op, const Tensor& X, int64_t k, int64_t stride, int64_t pad) {
  check_ndim(op, X, 4);
  if (k < 1 || stride < 1 || pad < 0 || 2 * pad > k)
    throw std::invalid_argument(std::string(op) + ": expected k >= 1, stride >= 1, 0 <= pad <= k/2, found k = " +
                                std::to_string(k) + ", stride = " + std::to_string(stride) + ", pad = " +
                                std::to_string(pad));
  const int64_t H = X.dim(2), W = X.dim(3);
  if (X.dim(1) < 1 || H + 2 * pad < k || W + 2 * pad < k)
    throw std::invalid_argument(std::string(op) + ": window " + std::to_string(k) + "x" + std::to_string(k) +
                                " (padding " + std::to_string(pad) + ") does not fit the input " + X.str());
  return {X.dim(1), H, W, k, k, stride, stride, pad, pad};
}

}  // namespace

// ---- max pool: y = max over the window; the gradient goes to the arg-max only --------
// Ties go to the first maximum in row-major window order (a deterministic choice; the
// derivative is undefined there, so tests keep inputs away from ties).
Var max_pool2d(const Var& x, int64_t k, int64_t stride, int64_t pad) {
  const ConvGeom g = pool_geom("max_pool2d", x.value(), k, stride, pad);
  const int64_t N = x.value().dim(0), in_size = g.C * g.H * g.W, out_size = g.C * g.OH() * g.OW();
  Tensor Y = Tensor::uninit({N, g.C, g.OH(), g.OW()});  // the kernel writes every output
  std::vector<int32_t> argmax(static_cast<size_t>(Y.numel()));  // index into each input plane
  const float* px = x.value().data();
  float* py = Y.data();
  parallel_for(0, N, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n)
      max_pool2d_forward(g, px + n * in_size, py + n * out_size, argmax.data() + n * out_size);
  });
  return make_result("max_pool2d", std::move(Y), {x},
                     [xn = x.node(), g, N, in_size, out_size, argmax = std::move(argmax)](Node& self) {
                       const float* dy = self.grad.data();
                       float* dx = grad_buffer(*xn).data();
                       for (int64_t n = 0; n < N; ++n)  // dx[arg] += dy
                         max_pool2d_backward(g, dy + n * out_size, argmax.data() + n * out_size, dx + n * in_size);
                     });
}

// ---- average pool: y = (1/k²) Σ window (padding counts as zeros);  dx += dy/k² each ----
Var avg_pool2d(const Var& x, int64_t k, int64_t stride, int64_t pad) {
  const ConvGeom g = pool_geom("avg_pool2d", x.value(), k, stride, pad);
  const int64_t N = x.value().dim(0), in_size = g.C * g.H * g.W, out_size = g.C * g.OH() * g.OW();
  Tensor Y = Tensor::uninit({N, g.C, g.OH(), g.OW()});  // the kernel writes every output
  const float* px = x.value().data();
  float* py = Y.data();
  parallel_for(0, N, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) avg_pool2d_forward(g, px + n * in_size, py + n * out_size);
  });
  return make_result("avg_pool2d", std::move(Y), {x}, [xn = x.node(), g, N, in_size, out_size](Node& self) {
    const float* dy = self.grad.data();
    float* dx = grad_buffer(*xn).data();
    for (int64_t n = 0; n < N; ++n) avg_pool2d_backward(g, dy + n * out_size, dx + n * in_size);
  });
}

// ---- global average pool: [N, C, H, W] → [N, C], y = mean over H·W;  dx += dy/(H·W) ---
Var global_avg_pool(const Var& x) {
  const Tensor& X = x.value();
  check_ndim("global_avg_pool", X, 4);
  const int64_t N = X.dim(0), C = X.dim(1), S = X.dim(2) * X.dim(3);
  if (S == 0) shape_error("global_avg_pool", "a non-empty spatial size", X.shape());
  Tensor Y({N, C});
  const float inv = 1.0f / static_cast<float>(S);
  for (int64_t pl = 0; pl < N * C; ++pl) {
    float s = 0.0f;
    for (int64_t i = 0; i < S; ++i) s += X[pl * S + i];
    Y[pl] = s * inv;
  }
  return make_result("global_avg_pool", std::move(Y), {x}, [xn = x.node(), N, C, S, inv](Node& self) {
    const float* dy = self.grad.data();
    float* dx = grad_buffer(*xn).data();
    for (int64_t pl = 0; pl < N * C; ++pl)
      for (int64_t i = 0; i < S; ++i) dx[pl * S + i] += inv * dy[pl];
  });
}

}  // namespace mgf
