// compression/quantization/bit_activations.h — activations that stay in bits between two binary
// layers: batch norm + sign folded into an integer threshold, max-pooling as OR, and im2col on
// packed pixels. What lets the packed LeNet-5 run conv2 → fc1 without a float in between.
//
// XNOR-Net (Rastegari et al. 2016) §3.2 computes a binary layer as xnor + popcount, but its
// output z = K − 2·popcount is an integer, and the next binary layer wants signs again. In the
// C-B-A-P block (Conv → BN → BinActiv → Pool) the float steps between two popcounts are
//   y = s_o·z              (s_o = α_o·β, positive: the layer's scale; β ≡ 1 on ±1 inputs)
//   bit = sign(BN(y)) = sign(γ_o·(y − μ_o)/√(σ²_o + ε) + b_o)
// and y ↦ BN(y) is affine in z per output channel, so the bit is a comparison of the INTEGER
// z with a per-channel threshold, fixed at export (fold_bn_sign):
//   γ_o·s_o > 0:  bit = z ≥ τ_o  ⇔  z > τ_o − 1       (BN increasing in z)
//   γ_o·s_o < 0:  bit = z ≤ τ'_o ⇔ ¬(z > τ'_o)         (BN decreasing: the comparison flips)
//   γ_o·s_o = 0:  bit = sign(b_o) for every z          (a constant channel)
// stored uniformly as bit = (z > t_o) XOR flip_o. sign(0) = +1, so a BN output of exactly 0
// (a tie) gives bit 1, as the float simulation's sign does.
//
// Bit layout of an activation ("HWC bits"): an image of H×W pixels with C channels is H·W
// pixels of cw = ⌈C/64⌉ words each; bit c%64 of word c/64 of pixel p = h·W + w is 1 for +1 and
// 0 for −1 (the convention of bitpack.h), padding bits (c ≥ C) are 0. Channels are the packed
// dimension because both consumers want them together: OR-pooling ORs whole pixels, and a
// receptive field is the concatenation of its pixels' channel fields.
// Max-pooling of ±1 values: with +1 ↦ 1 and −1 ↦ 0 the order −1 < +1 is the order 0 < 1, so
// max over a window = bitwise OR of the window's words (and min would be AND).
//
// Kernels, each with a _scalar specification and an _avx2 body, exactly equal (tests/test_xnor.cpp):
//   sign_threshold_rows   int32 popcount results → HWC bits (8 channels per vpcmpgtd + vmovmskps)
//   sign_pack_chw         real channel-major activations (a conv's output) → HWC bits, with a
//                         batch norm before the sign folded into one float threshold per channel
//   or_pool_bits          k×k max-pool of HWC bits (the k rows OR'ed 4 words per vpor)
//   im2col_bits           im2col on HWC bits (4 receptive fields per 256-bit shift on the AVX2 side)
// Book: book/23-xnor.md ("A pipeline that stays binary").
// Not here: padding (a padded ±1 input has no sign for the zeros), strides other than 1 in
// im2col_bits, average pooling (not a bit operation).
#pragma once
#include <cstdint>
#include <vector>

namespace mgf {

// The folded BN + sign of one layer: bit o = (z_o > t[o]) XOR flip bit o (flip packed like
// an HWC pixel: ⌈O/64⌉ words, padding bits 0).
struct SignThresholds {
  int64_t O = 0;
  std::vector<int32_t> t;
  std::vector<uint64_t> flip;
};

// Folds y = scale[o]·z, then eval-mode batch norm (gamma, beta, mean, var, eps), then sign, for
// integer z in [−K, K], into thresholds. The BN is evaluated in float exactly as the
// batch_norm op does in eval mode, ((y − μ)·(1/√(σ² + ε)))·γ + b, at every integer z of the
// range, so the thresholds reproduce that float arithmetic bit for bit, ties included; the
// scan also checks the result is monotone in z (it is: each float step is monotone).
SignThresholds fold_bn_sign(const float* scale, const float* gamma, const float* beta, const float* mean,
                            const float* var, float eps, int64_t O, int64_t K);

// out[r·⌈O/64⌉ + o/64] bit o%64 = (z[r·O + o] > t[o]) XOR flip bit o, for r < rows, o < O.
void sign_threshold_rows_scalar(const int32_t* z, int64_t rows, int64_t O, const SignThresholds& th, uint64_t* out);
void sign_threshold_rows_avx2(const int32_t* z, int64_t rows, int64_t O, const SignThresholds& th, uint64_t* out);
void sign_threshold_rows(const int32_t* z, int64_t rows, int64_t O, const SignThresholds& th, uint64_t* out);

// The sign of a real activation as HWC bits, optionally after an eval-mode batch norm folded
// into it: per channel c, bit = x ≥ tau[c], or x ≤ tau[c] where bit c%64 of down[c/64] is set
// (a negative γ turns the comparison round). Plain sign is tau = 0, up: sign(0) = +1, −0 ≥ 0.
struct RealThresholds {
  int64_t C = 0;
  std::vector<float> tau;
  std::vector<uint64_t> down;
};
// BN (as the batch_norm op computes it in eval mode) + sign folded to one float per channel:
// the order of floats is the order of their keys (sign-magnitude flipped), and BN(x) is
// monotone in x, so a binary search over the 2^32 keys finds the exact boundary. Equal to
// BN + sign for every finite x (tests: boundary values and their neighbours included); a
// channel that never or always gives +1 on finite inputs gets tau = NaN (never) or −∞ (always).
RealThresholds fold_bn_sign_real(const float* gamma, const float* beta, const float* mean, const float* var, float eps,
                                 int64_t C);
// x [C, S] (one image, channel-major as a conv writes it) → out [S, ⌈C/64⌉] HWC bits.
//   _scalar  one compare and one shift-or per value
//   _avx2    8 pixels per vcmpps; the masks of 32 channels are shifted into 8 lanes of 32-bit
//            pixel words (acc = 2·acc − mask, bit c of lane j = channel c of pixel j), so the
//            transpose from channel-major floats to pixel-major bits costs 3 vector operations
//            per channel (plus its load), all in registers
void sign_pack_chw_scalar(const float* x, int64_t C, int64_t S, const RealThresholds& th, uint64_t* out);
void sign_pack_chw_avx2(const float* x, int64_t C, int64_t S, const RealThresholds& th, uint64_t* out);
void sign_pack_chw(const float* x, int64_t C, int64_t S, const RealThresholds& th, uint64_t* out);

// One image: in [H, W, cw] → out [H/k, W/k, cw] (floor, stride k, no padding, as max_pool2d),
// out pixel = OR of its k×k window.
void or_pool_bits_scalar(const uint64_t* in, int64_t H, int64_t W, int64_t cw, int64_t k, uint64_t* out);
void or_pool_bits_avx2(const uint64_t* in, int64_t H, int64_t W, int64_t cw, int64_t k, uint64_t* out);
void or_pool_bits(const uint64_t* in, int64_t H, int64_t W, int64_t cw, int64_t k, uint64_t* out);

// im2col on HWC bits, stride 1, no padding: row p = oh·OW + ow of out (OH = H − KH + 1,
// OW = W − KW + 1) holds ⌈KH·KW·C/64⌉ words with bit (kh·KW + kw)·C + c = channel c of pixel
// (oh + kh, ow + kw); padding bits 0. With KH = H and KW = W it is the flatten of the image
// in (h, w, c) order: one row. A weight row for it is ordered (kh, kw, c) (export reorders).
//   _scalar  each field's pixels appended to one register, a word stored when full (the spec)
//   _avx2    C ≤ 64: the shifts planned once per call, 4 fields per 256-bit load + shift, then a
//            4×4 transpose of words; other C and the ragged fields go to the scalar rows
void im2col_bits_scalar(const uint64_t* in, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, uint64_t* out);
void im2col_bits_avx2(const uint64_t* in, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, uint64_t* out);
void im2col_bits(const uint64_t* in, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, uint64_t* out);

}  // namespace mgf
