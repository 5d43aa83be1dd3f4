// compression/coding/sparse_conv.h — a pruned convolution run from CSR (Han et al. 2015 prune
// LeNet-5's and AlexNet's conv layers too; Table 2: conv1 66 %, conv2 12 % of the weights kept),
// two ways, each scalar beside AVX2:
//   (a) im2col + sparse × dense: col = im2col(x) [C·KH·KW × OH·OW], y = W_csr · col (csr_spmm);
//   (b) direct: no col matrix; each nonzero w[oc][c][kh][kw] meets the input plane x[c] shifted
//       by (kh, kw), so y[oc] += w · shift(x[c]) — the im2col row that (a) would have copied is
//       read straight from the image.
// Book: book/14-magnitude_pruning.md ("Running the pruned net from CSR": the two measured side
// by side at LeNet-5's shapes, and why the default is what it is). Tests: make test
// SUITE=magnitude_pruning.
//
// Shapes of one group's convolution, one image (engine/kernels/conv.h's ConvGeom): C input
// channels of H×W, KH×KW kernel, stride SH,SW, zero padding PH,PW, output OH×OW, P = OH·OW.
// W_csr is the weight [OC, C, KH, KW] viewed as [OC × C·KH·KW] (csr_from_tensor): a nonzero in
// column k = (c·KH + kh)·KW + kw is tap (c, kh, kw) — im2col's row order, so (a) and (b) read
// the same matrix. Every kernel exists for int32 and 16-bit columns.
// Deliberately not here: dilation, channel-last layouts, the backward (a deployed net only
// runs forward; retraining uses the masked float conv in engine/ops_conv.cpp).
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "compression/coding/csr.h"
#include "engine/kernels/conv.h"
#include "engine/ops.h"
#include "engine/tensor.h"

namespace mgf {

// im2col: (a). direct: (b), the AVX2 side output-stationary (tiled). scatter: (b) with the
// AVX2 side in the scatter loop order — kept for the comparison table.
enum class SparseConvAlgo { im2col, direct, scatter };
const char* sparse_conv_algo_name(SparseConvAlgo a);  // "im2col" | "direct" | "scatter"

// Floats of scratch the kernels below need for geometry g: (a) the col matrix C·KH·KW·P;
// (b), either loop order: a zero-padded copy of x, C·(H+2PH)·(W+2PW), or 0 without padding.
int64_t sparse_conv_scratch_floats(const ConvGeom& g, SparseConvAlgo a);

// y[OC × P] = conv(x[C × H × W]) with the CSR weight, one image, one group, no bias. The
// caller owns x, y and scratch (sparse_conv_scratch_floats(g, ...) floats); W must have
// C·KH·KW columns (checked by the SparseConv2d that builds it, not here).
//
// (a) im2col (dispatched by im2col and csr_spmm themselves).
void sparse_conv_im2col(const CsrMatrix& W, const ConvGeom& g, const float* x, float* scratch, float* y);
void sparse_conv_im2col(const CsrMatrix16& W, const ConvGeom& g, const float* x, float* scratch, float* y);
// (b) direct. The CSR's column k = (c·KH + kh)·KW + kw is first turned into the offset of tap
// (c, kh, kw) in the zero-padded input xp [C × (H+2PH) × (W+2PW)]:
//   off[nz] = (c·(H+2PH) + kh)·(W+2PW) + kw        (sparse_conv_tap_offsets, once per input size)
// — the form in which Park et al. 2017 ("Faster CNNs with direct sparse convolutions") store a
// sparse filter — so the shifted plane of a nonzero starts at xp + off[nz].
// Scalar: the scatter, the specification —
//   for each nonzero (oc, off, v):  y[oc][oh][ow] += v · xp[off + oh·SH·(W+2PW) + ow·SW]
//   any stride.
// AVX2 (scatter): the same loop order, 8 output columns per FMA; y[oc] (≤ 576 floats for
//   LeNet-5) is loaded and stored once per nonzero per row, from L1.
// AVX2 (tiled): the loops swapped, output-stationary: 4 vectors of 8 outputs (anywhere in
//   y[oc]) stay in registers while all of row oc's nonzeros stream past, each costing one
//   broadcast and 4 loads + FMAs and no store — csr_spmm's inner loop, with the col entries
//   read from the shifted image instead of a copy. The dispatcher uses this one.
// Both AVX2 sides handle stride 1 along W (the tiled one with OW ≥ 8) and hand other
// geometries to the scalar. Throws std::invalid_argument when W does not have C·KH·KW columns.
std::vector<int32_t> sparse_conv_tap_offsets(const CsrMatrix& W, const ConvGeom& g);
std::vector<int32_t> sparse_conv_tap_offsets(const CsrMatrix16& W, const ConvGeom& g);
void sparse_conv_direct(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* scratch,
                        float* y);
void sparse_conv_direct_scalar(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x,
                               float* scratch, float* y);
void sparse_conv_direct_avx2(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x, float* scratch,
                             float* y);
void sparse_conv_direct_avx2_scatter(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x,
                                     float* scratch, float* y);
void sparse_conv_direct(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x, float* scratch,
                        float* y);
void sparse_conv_direct_scalar(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x,
                               float* scratch, float* y);
void sparse_conv_direct_avx2(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x,
                             float* scratch, float* y);
void sparse_conv_direct_avx2_scatter(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x,
                                     float* scratch, float* y);
// The scatter loop order on both sides (AVX2 scatter, else scalar): SparseConvAlgo::scatter.
void sparse_conv_direct_scatter(const CsrMatrix& W, const int32_t* off, const ConvGeom& g, const float* x,
                                float* scratch, float* y);
void sparse_conv_direct_scatter(const CsrMatrix16& W, const int32_t* off, const ConvGeom& g, const float* x,
                                float* scratch, float* y);

// The algorithm SparseConv2d uses unless told otherwise: the one that measured faster at
// LeNet-5's shapes (book/14-magnitude_pruning.md has the table).
constexpr SparseConvAlgo kDefaultSparseConvAlgo = SparseConvAlgo::direct;

// A pruned Conv2d for inference, built from its (masked) weight [OC, C/groups, KH, KW], bias
// [OC] (or empty) and options (stride, padding, groups): one CSR per group, 16-bit columns
// when C/groups·KH·KW <= 65536 (always, for real layers), else int32.
// forward(x [N, C, H, W]) → [N, OC, OH, OW], images in parallel (parallel_for), so the result
// does not depend on the thread count; forward may be called from several threads. Same outputs as the masked float conv up to float
// reassociation (simulation = deployment, tested).
class SparseConv2d {
 public:
  SparseConv2d(const Tensor& weight, const Tensor& bias, const Conv2dOptions& o,
               SparseConvAlgo algo = kDefaultSparseConvAlgo);
  Tensor forward(const Tensor& x) const;
  SparseConvAlgo algo() const { return algo_; }
  void set_algo(SparseConvAlgo a) { algo_ = a; }
  bool narrow() const { return !w16_.empty(); }
  int64_t nnz() const;
  int64_t storage_bytes() const;  // the CSR arrays of every group (row_ptr, columns, values), no bias
  int64_t out_channels() const { return OC_; }

 private:
  template <typename Index>
  void run(const std::vector<CsrT<Index>>& w, const Tensor& x, Tensor& y) const;
  int64_t OC_, Cg_, KH_, KW_;
  Conv2dOptions o_;
  SparseConvAlgo algo_;
  std::vector<CsrMatrix16> w16_;  // one per group, or empty
  std::vector<CsrMatrix> w32_;    // one per group when the columns do not fit 16 bits
  std::vector<float> bias_;       // empty = no bias
  // The direct kernels' tap offsets for the last input size seen (one vector per group).
  mutable std::mutex off_mutex_;
  mutable int64_t off_H_ = -1, off_W_ = -1;
  mutable std::vector<std::vector<int32_t>> off_;
};

}  // namespace mgf
