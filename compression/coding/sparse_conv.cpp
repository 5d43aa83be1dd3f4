// compression/coding/sparse_conv.cpp — see sparse_conv.h. The two algorithms (im2col + spmm,
// direct), the direct one scalar beside its two AVX2 forms, then SparseConv2d.
// Book: book/14-magnitude_pruning.md.
#include "compression/coding/sparse_conv.h"

#include <algorithm>
#include <climits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu.h"
#include "engine/kernels/elementwise.h"
#include "engine/threads.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

const char* sparse_conv_algo_name(SparseConvAlgo a) {
  switch (a) {
    case SparseConvAlgo::im2col: return "im2col";
    case SparseConvAlgo::direct: return "direct";
    case SparseConvAlgo::scatter: return "scatter";
  }
  return "?";
}

int64_t sparse_conv_scratch_floats(const ConvGeom& g, SparseConvAlgo a) {
  if (a == SparseConvAlgo::im2col) return g.C * g.KH * g.KW * g.OH() * g.OW();
  return g.PH == 0 && g.PW == 0 ? 0 : g.C * (g.H + 2 * g.PH) * (g.W + 2 * g.PW);
}

namespace {

// x itself when there is no padding, else x copied into the middle of a zeroed
// [C × (H+2PH) × (W+2PW)] scratch: the direct kernels then read every tap without a bounds test.
const float* padded_input(const ConvGeom& g, const float* x, float* scratch) {
  if (g.PH == 0 && g.PW == 0) return x;
  const int64_t Hp = g.H + 2 * g.PH, Wp = g.W + 2 * g.PW;
  std::fill(scratch, scratch + g.C * Hp * Wp, 0.0f);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::copy(x + (c * g.H + h) * g.W, x + (c * g.H + h + 1) * g.W, scratch + (c * Hp + h + g.PH) * Wp + g.PW);
  return scratch;
}

template <typename Index>
std::vector<int32_t> tap_offsets(const CsrT<Index>& W, const ConvGeom& g) {
  const int64_t KK = g.KH * g.KW, Hp = g.H + 2 * g.PH, Wp = g.W + 2 * g.PW;
  if (W.cols != g.C * KK)
    throw std::invalid_argument("sparse_conv_tap_offsets: expected a CSR of C·KH·KW = " + std::to_string(g.C * KK) +
                                " columns, found " + std::to_string(W.cols));
  if (g.C * Hp * Wp > INT32_MAX)
    throw std::invalid_argument("sparse_conv_tap_offsets: expected a padded input under 2^31 floats, found " +
                                std::to_string(g.C * Hp * Wp));
  std::vector<int32_t> off(static_cast<size_t>(W.nnz()));
  for (int64_t k = 0; k < W.nnz(); ++k) {
    const int64_t col = W.col_idx[k], c = col / KK, r = col % KK;  // col = (c·KH + kh)·KW + kw
    off[k] = static_cast<int32_t>((c * Hp + r / g.KW) * Wp + r % g.KW);
  }
  return off;
}

// ---- (a) im2col + sparse × dense ------------------------------------------------------------
template <typename Index>
void conv_im2col(const CsrT<Index>& W, const ConvGeom& g, const float* x, float* col, float* y) {
  im2col(g, x, col);                          // col [C·KH·KW × P]
  csr_spmm(W, col, g.OH() * g.OW(), y);       // y [OC × P] = W_csr · col
}

// ---- (b) direct: each nonzero scatters its shifted input plane into y[oc] ------------------------
template <typename Index>
void direct_scalar(const CsrT<Index>& W, const int32_t* off, const ConvGeom& g, const float* x, float* scratch, float* y) {
  const float* xp = padded_input(g, x, scratch);
  const int64_t Wp = g.W + 2 * g.PW, OH = g.OH(), OW = g.OW(), P = OH * OW;
  for (int64_t oc = 0; oc < W.rows; ++oc) {
    float* yo = y + oc * P;  // y[oc] [OH × OW]
    std::fill(yo, yo + P, 0.0f);
    for (int32_t k = W.row_ptr[oc]; k < W.row_ptr[oc + 1]; ++k) {
      const float v = W.values[k];
      const float* src = xp + off[k];  // src[ih·Wp + iw] = xp[c][kh + ih][kw + iw]
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) yo[oh * OW + ow] += v * src[oh * g.SH * Wp + ow * g.SW];
    }
  }
}

#if MGF_HAVE_X86
// The scalar loop order, 8 output columns per FMA: y[oc][oh][·] += v · xp[c][oh·SH + kh][kw + ·].
template <typename Index>
MGF_AVX2 void direct_avx2_scatter(const CsrT<Index>& W, const int32_t* off, const ConvGeom& g, const float* x,
                                  float* scratch, float* y) {
  if (g.SW != 1) return direct_scalar(W, off, g, x, scratch, y);
  const float* xp = padded_input(g, x, scratch);
  const int64_t Wp = g.W + 2 * g.PW, OH = g.OH(), OW = g.OW(), P = OH * OW;
  for (int64_t oc = 0; oc < W.rows; ++oc) {
    float* yo = y + oc * P;
    std::fill(yo, yo + P, 0.0f);
    for (int32_t k = W.row_ptr[oc]; k < W.row_ptr[oc + 1]; ++k) {
      const float v = W.values[k];
      const __m256 vv = _mm256_set1_ps(v);
      const float* src = xp + off[k];
      for (int64_t oh = 0; oh < OH; ++oh) {
        float* dst = yo + oh * OW;
        const float* s = src + oh * g.SH * Wp;
        int64_t ow = 0;
        for (; ow + 8 <= OW; ow += 8)  // dst[ow..ow+7] += v · s[ow..ow+7]
          _mm256_storeu_ps(dst + ow, _mm256_fmadd_ps(vv, _mm256_loadu_ps(s + ow), _mm256_loadu_ps(dst + ow)));
        for (; ow < OW; ++ow) dst[ow] += v * s[ow];
      }
    }
  }
}

// Output-stationary: y[oc] is cut into vectors of 8 outputs along a row (the last one of a row
// overlaps the one before it when 8 does not divide OW: it recomputes a few outputs with the
// same sums in the same order, so they are stored twice with equal values). Four vectors at a
// time stay in registers while row oc's nonzeros stream past:
//   acc_t += v · xp[off[k] + base_t],  base_t = oh_t·SH·Wp + ow_t.
template <typename Index>
MGF_AVX2 void direct_avx2_tiled(const CsrT<Index>& W, const int32_t* off, const ConvGeom& g, const float* x,
                                float* scratch, float* y) {
  const int64_t OH = g.OH(), OW = g.OW(), P = OH * OW;
  if (g.SW != 1 || OW < 8) return direct_scalar(W, off, g, x, scratch, y);
  const float* xp = padded_input(g, x, scratch);
  const int32_t Wp = static_cast<int32_t>(g.W + 2 * g.PW), SH = static_cast<int32_t>(g.SH);
  // The vectors of y[oc]: where each reads in the shifted plane, and where it is stored. Kept
  // per thread, so a batch does not allocate them once per image.
  thread_local std::vector<int32_t> base, out;
  base.clear();
  out.clear();
  for (int32_t oh = 0; oh < OH; ++oh)
    for (int32_t ow = 0;; ow += 8) {
      const int32_t o = std::min<int32_t>(ow, static_cast<int32_t>(OW - 8));
      base.push_back(oh * SH * Wp + o);
      out.push_back(oh * static_cast<int32_t>(OW) + o);
      if (o + 8 >= OW) break;
    }
  const float* val = W.values.data();
  const int64_t T = static_cast<int64_t>(base.size());
  for (int64_t oc = 0; oc < W.rows; ++oc) {
    const int32_t b = W.row_ptr[oc], e = W.row_ptr[oc + 1];
    float* yo = y + oc * P;
    int64_t t = 0;
    for (; t + 4 <= T; t += 4) {
      const int32_t b0 = base[t], b1 = base[t + 1], b2 = base[t + 2], b3 = base[t + 3];
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int32_t k = b; k < e; ++k) {  // acc_t += v · (the 8 inputs vector t reads for this tap)
        const __m256 v = _mm256_broadcast_ss(val + k);
        const float* s = xp + off[k];
        a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(s + b0), a0);
        a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(s + b1), a1);
        a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(s + b2), a2);
        a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(s + b3), a3);
      }
      _mm256_storeu_ps(yo + out[t], a0);
      _mm256_storeu_ps(yo + out[t + 1], a1);
      _mm256_storeu_ps(yo + out[t + 2], a2);
      _mm256_storeu_ps(yo + out[t + 3], a3);
    }
    for (; t < T; ++t) {  // the last 0..3 vectors, one at a time
      __m256 a0 = _mm256_setzero_ps();
      for (int32_t k = b; k < e; ++k)
        a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(val + k), _mm256_loadu_ps(xp + off[k] + base[t]), a0);
      _mm256_storeu_ps(yo + out[t], a0);
    }
  }
}
#endif

}  // namespace

// ---- the public entry points, for both index widths --------------------------------------------
void sparse_conv_im2col(const CsrMatrix& W, const ConvGeom& g, const float* x, float* s, float* y) {
  conv_im2col(W, g, x, s, y);
}
void sparse_conv_im2col(const CsrMatrix16& W, const ConvGeom& g, const float* x, float* s, float* y) {
  conv_im2col(W, g, x, s, y);
}
std::vector<int32_t> sparse_conv_tap_offsets(const CsrMatrix& W, const ConvGeom& g) { return tap_offsets(W, g); }
std::vector<int32_t> sparse_conv_tap_offsets(const CsrMatrix16& W, const ConvGeom& g) { return tap_offsets(W, g); }
void sparse_conv_direct_scalar(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                               float* y) {
  direct_scalar(W, off, g, x, s, y);
}
void sparse_conv_direct_scalar(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                               float* y) {
  direct_scalar(W, off, g, x, s, y);
}
#if MGF_HAVE_X86
void sparse_conv_direct_avx2(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                             float* y) {
  direct_avx2_tiled(W, off, g, x, s, y);
}
void sparse_conv_direct_avx2(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                             float* y) {
  direct_avx2_tiled(W, off, g, x, s, y);
}
void sparse_conv_direct_avx2_scatter(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                                     float* y) {
  direct_avx2_scatter(W, off, g, x, s, y);
}
void sparse_conv_direct_avx2_scatter(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                                     float* y) {
  direct_avx2_scatter(W, off, g, x, s, y);
}
#else
void sparse_conv_direct_avx2(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                             float* y) {
  direct_scalar(W, off, g, x, s, y);
}
void sparse_conv_direct_avx2(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                             float* y) {
  direct_scalar(W, off, g, x, s, y);
}
void sparse_conv_direct_avx2_scatter(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                                     float* y) {
  direct_scalar(W, off, g, x, s, y);
}
void sparse_conv_direct_avx2_scatter(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                                     float* y) {
  direct_scalar(W, off, g, x, s, y);
}
#endif
void sparse_conv_direct(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* s, float* y) {
  if (use_avx2()) return sparse_conv_direct_avx2(W, off, g, x, s, y);
  sparse_conv_direct_scalar(W, off, g, x, s, y);
}
void sparse_conv_direct(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* s, float* y) {
  if (use_avx2()) return sparse_conv_direct_avx2(W, off, g, x, s, y);
  sparse_conv_direct_scalar(W, off, g, x, s, y);
}

void sparse_conv_direct_scatter(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                                float* y) {
  if (use_avx2()) return sparse_conv_direct_avx2_scatter(W, off, g, x, s, y);
  sparse_conv_direct_scalar(W, off, g, x, s, y);
}
void sparse_conv_direct_scatter(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* s,
                                float* y) {
  if (use_avx2()) return sparse_conv_direct_avx2_scatter(W, off, g, x, s, y);
  sparse_conv_direct_scalar(W, off, g, x, s, y);
}

// ---- SparseConv2d ----------------------------------------------------------------------------
SparseConv2d::SparseConv2d(const Tensor& weight, const Tensor& bias, const Conv2dOptions& o, SparseConvAlgo algo)
    : o_(o), algo_(algo) {
  if (weight.ndim() != 4)
    throw std::invalid_argument("SparseConv2d: expected weight [OC, C/groups, KH, KW], found " + weight.str());
  OC_ = weight.dim(0);
  Cg_ = weight.dim(1);
  KH_ = weight.dim(2);
  KW_ = weight.dim(3);
  const int64_t G = o.groups;
  if (G < 1 || OC_ % G != 0 || o.stride_h < 1 || o.stride_w < 1 || o.pad_h < 0 || o.pad_w < 0)
    throw std::invalid_argument("SparseConv2d: expected groups >= 1 dividing OC = " + std::to_string(OC_) +
                                ", strides >= 1, padding >= 0, found groups " + std::to_string(G) + ", stride " +
                                std::to_string(o.stride_h) + "x" + std::to_string(o.stride_w) + ", padding " +
                                std::to_string(o.pad_h) + "x" + std::to_string(o.pad_w));
  if (!bias.empty() && bias.shape() != Shape{OC_})
    throw std::invalid_argument("SparseConv2d: expected bias " + shape_str({OC_}) + ", found " + bias.str());
  // Group gi owns output channels [gi·OCg, (gi+1)·OCg): rows of the [OC × Cg·KH·KW] weight.
  const int64_t OCg = OC_ / G, Kg = Cg_ * KH_ * KW_;
  for (int64_t gi = 0; gi < G; ++gi) {
    CsrMatrix w = csr_from_dense(weight.data() + gi * OCg * Kg, OCg, Kg);
    if (Kg <= 65536) w16_.push_back(csr_narrow(w));
    else w32_.push_back(std::move(w));
  }
  if (!bias.empty()) bias_ = bias.to_vector();
}

int64_t SparseConv2d::nnz() const {
  int64_t n = 0;
  for (auto& w : w16_) n += w.nnz();
  for (auto& w : w32_) n += w.nnz();
  return n;
}

int64_t SparseConv2d::storage_bytes() const {
  int64_t b = 0;
  for (auto& w : w16_) b += w.storage_bytes();
  for (auto& w : w32_) b += w.storage_bytes();
  return b;
}

template <typename Index>
void SparseConv2d::run(const std::vector<CsrT<Index>>& w, const Tensor& x, Tensor& y) const {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), Wd = x.dim(3), G = o_.groups, OCg = OC_ / G;
  const ConvGeom g{Cg_, H, Wd, KH_, KW_, o_.stride_h, o_.stride_w, o_.pad_h, o_.pad_w};
  const int64_t P = g.OH() * g.OW();
  const float* px = x.data();
  float* py = y.data();
  const SparseConvAlgo algo = algo_;
  // The direct kernels read each nonzero's tap as an input offset, which depends on the input
  // size: computed on the first call with this size, then reused (a deployed layer always sees
  // one size; the divisions would otherwise cost as much as conv2's arithmetic at batch 1).
  const std::vector<std::vector<int32_t>>* off = nullptr;
  if (algo != SparseConvAlgo::im2col) {
    std::lock_guard<std::mutex> lock(off_mutex_);
    if (off_H_ != H || off_W_ != Wd) {
      off_.clear();
      for (auto& wg : w) off_.push_back(sparse_conv_tap_offsets(wg, g));
      off_H_ = H;
      off_W_ = Wd;
    }
    off = &off_;
  }
  // Images are independent: each chunk of the batch has its own scratch.
  parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> scratch(static_cast<size_t>(sparse_conv_scratch_floats(g, algo)));
    for (int64_t n = lo; n < hi; ++n) {
      for (int64_t gi = 0; gi < G; ++gi) {
        const float* xg = px + (n * C + gi * Cg_) * H * Wd;  // this group's input channels
        float* yg = py + (n * OC_ + gi * OCg) * P;          // and its output channels
        if (algo == SparseConvAlgo::im2col) sparse_conv_im2col(w[gi], g, xg, scratch.data(), yg);
        else if (algo == SparseConvAlgo::direct) sparse_conv_direct(w[gi], (*off)[gi].data(), g, xg, scratch.data(), yg);
        else sparse_conv_direct_scatter(w[gi], (*off)[gi].data(), g, xg, scratch.data(), yg);
      }
      if (!bias_.empty()) bias_add_channels(py + n * OC_ * P, bias_.data(), 1, OC_, P);  // y[oc][p] += b[oc]
    }
  });
}

Tensor SparseConv2d::forward(const Tensor& x) const {
  if (x.ndim() != 4 || x.dim(1) != Cg_ * o_.groups)
    throw std::invalid_argument("SparseConv2d::forward: expected x [N, " + std::to_string(Cg_ * o_.groups) +
                                ", H, W], found " + x.str());
  const ConvGeom g{Cg_, x.dim(2), x.dim(3), KH_, KW_, o_.stride_h, o_.stride_w, o_.pad_h, o_.pad_w};
  check_conv_geom(g);  // names every field when the kernel does not fit the padded input
  Tensor y = Tensor::uninit({x.dim(0), OC_, g.OH(), g.OW()});  // every output is written by a kernel
  if (narrow()) run(w16_, x, y);
  else run(w32_, x, y);
  return y;
}

}  // namespace mgf
