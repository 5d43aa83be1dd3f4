// compression/quantization/int8.h — 8-bit fixed-point inference (Vanhoucke, Senior, Mao 2011).
//
// The paper's recipe (§4, "fixed-point implementation"): weights as signed bytes with a
// per-layer scale, activations as unsigned bytes, integer accumulation; SSSE3 pmaddubsw does
// the multiplies. Here every quantised layer keeps
//
//   activations  x ≈ s_a·(q − z)           q ∈ [0, 127] (7 bits, u8), one (s_a, z) per layer,
//                                           calibrated as the [min, max] seen on training images
//   weights      w[r][k] ≈ s_w[r]·q_w       q_w ∈ [−127, 127] (s8), s_w[r] = max_k |w[r][k]|/127
//                                           per output row (or one max over the layer, the paper's)
//   bias         b_q[r] = round(b[r] / (s_a·s_w[r]))                      int32
//   accumulator  acc[r] = Σ_k q[k]·q_w[r][k] + b_q[r] − z·Σ_k q_w[r][k]   int32 (the zero-point
//                term is folded into the bias once, at load)
//   output       q_out = clamp(z_out + round(acc·M_r), lo, 127),  M_r = s_a·s_w[r]/s_out
//
// M_r is applied in integers as M_r ≈ m·2^−(31+shift) with m ∈ [2^30, 2^31) (make_requant),
// rounding half up; tests compare it against double precision. ReLU is lo = z_out (the code of
// 0.0); without ReLU lo = 0. Max-pooling runs on the codes (monotone, so it commutes with
// quantisation). The first layer quantises the normalised image with its own calibrated (s, z);
// the last layer is not requantised: its logits are acc·s_a·s_w[r] in float, one multiply per
// class (needed with per-row scales: the raw accumulators of two rows are not comparable).
//
// Activations are 7-bit by design, so the AVX2 kernel's vpmaddubsw cannot saturate
// (gemm_int8.h). The two stages around the GEMM, the input quantisation (quantize_u7) and the
// requantisation (requantize_rows), are kernels like the GEMM: a scalar spec, an AVX2 body
// exactly equal to it, a dispatcher on the kernel mode. Conv layers run as im2col on the u8 codes × the s8 filter rows.
//
// Simulation = deployment: forward(..., Int8Path::fake_quant) runs the same net in float —
// dequantised weights and activations through the float sgemm, quantised again after each
// layer — and must give the integer path's predictions (asserted in examples/int8.cpp).
//
// File (.mgfq8): written with ByteWriter (engine/io/bytes.h), atomically (engine/io/file.h):
//   header  "MGFQ8\r\n\x1a" (8 bytes), u32 version, u64 payload length, u32 CRC-32 of payload
//   payload str_u8 arch, u32 in_c, u32 in_h, u32 in_w, f32 input scale, u8 input zero point,
//           u32 layer count, then per layer: u8 op (1 fc, 2 conv, 3 maxpool2);
//           fc/conv: u32 out, u32 in_c, u32 in_h, u32 in_w, u32 k (fc: in_h = in_w = k = 1),
//           u8 relu, u8 is_last, f32 out scale, u8 out zero point (0 on the last layer),
//           out × f32 weight scales, out × i32 biases, out·in_c·k·k s8 weights.
// Every field is checked on read (parse_int8) and a failure names the field, offset, expected
// and found values. Book: book/21-int8.md.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compression/quantization/gemm_int8.h"
#include "engine/tensor.h"

namespace mgf {

class Sequential;

// ---- scalars ----
struct ActQuant {
  float scale = 1.0f;
  int32_t zero_point = 0;   // the code of 0.0, in [0, 127]
};
// The 7-bit asymmetric grid covering [min(lo, 0), max(hi, 0)]; throws if hi < lo or not finite.
ActQuant act_quant_from_range(float lo, float hi);
uint8_t quantize_act(float x, const ActQuant& a);   // clamp(⌊x·(1/s) + z + ½⌋, 0, 127), in float
// Rounds half up (⌊v + ½⌋), saturating at ±2^30 instead of an out-of-range cast (undefined
// behaviour): a file's scales can make v/scale huge (fuzz_int8 found 1.4e10). NaN → −2^30.
int32_t round_half_up(double v);

// ---- the stages around the GEMM, each a scalar spec + an AVX2 body, exactly equal ----
// Input quantisation of n floats with inv = 1/s, zh = z + ½ (quantize_act() on each):
//   v = x·inv + zh (a multiply, then an add: no FMA, so both bodies round alike),
//   q = ⌊clamp(v, 0, 127)⌋, NaN → 0.
void quantize_u7(int64_t n, const float* x, float inv, float zh, uint8_t* q);
void quantize_u7_scalar(int64_t n, const float* x, float inv, float zh, uint8_t* q);
void quantize_u7_avx2(int64_t n, const float* x, float inv, float zh, uint8_t* q);
inline float dequantize_act(uint8_t q, const ActQuant& a) {
  return a.scale * static_cast<float>(static_cast<int32_t>(q) - a.zero_point);
}

// Symmetric s8 weights of W [N, K]: per_row → one scale per row, else one for the layer.
// An all-zero row gets scale 1 (its codes are 0). q ∈ [−127, 127].
struct QuantWeights {
  std::vector<int8_t> q;
  std::vector<float> scale;   // N entries (all equal when !per_row)
};
QuantWeights quantize_weights(const float* W, int64_t N, int64_t K, bool per_row);

// Fixed-point multiplier: real ≈ multiplier·2^−(31+shift), multiplier ∈ [2^30, 2^31).
struct Requant {
  int32_t multiplier = 0;
  int32_t shift = 0;
  double real() const;   // the multiplier it actually applies
};
// real in [2^−31, 2^30]; throws std::invalid_argument otherwise.
Requant make_requant(double real);
// ⌊(acc·multiplier + 2^(30+shift)) / 2^(31+shift)⌋ in 64-bit integers: round half up, exact,
// no float. Not narrowed: with shift < 0 (a factor above 1) it can leave int32's range, and
// the callers clamp it to a code first (requantize_rows).
inline int64_t requantize(int32_t acc, const Requant& r) {
  const int total = 31 + r.shift;
  const int64_t prod = static_cast<int64_t>(acc) * r.multiplier;
  return (prod + (int64_t{1} << (total - 1))) >> total;
}

// One layer's requantisation, prepared once at load (make_requant_table): the output code of
// column n (an output row of W) for an int32 accumulator a is
//   q = clamp(requantize(a + bias[n], rq[n]), lo − z, 127 − z) + z          (the spec)
// where z is the output zero point and lo = z with a ReLU (the clamp is the ReLU), else 0.
// The AVX2 body needs the 64-bit constants in its lane order: per block of 8 columns, the 4
// even columns then the 4 odd ones (vpmuludq/vpmuldq multiply the even int32 lanes).
struct RequantTable {
  int64_t n = 0;
  int32_t zero_point = 0, lo = 0;
  std::vector<int32_t> bias, multiplier;   // [n]
  std::vector<Requant> rq;                 // [n]
  // [⌈n/8⌉·8] in the lane order above: 2^(30+shift) + 2^63 (the rounding term, and the sign
  // flip that lets a logical shift act as an arithmetic one), 31 + shift, and 2^63 >> (31 + shift).
  std::vector<int64_t> round_flip, total, unflip;
  bool vector_ok = false;   // every shift ≥ 0 (factor ≤ 1): the shifted value fits int32
};
RequantTable make_requant_table(const std::vector<int32_t>& bias, const std::vector<Requant>& rq, int32_t zero_point,
                                bool relu);
// acc [M, t.n] at row stride lda → codes [M, t.n] at row stride ldo. The AVX2 body does 8
// columns per step and hands the ragged columns (and a table with !vector_ok) to the spec.
// Precondition: every acc + bias fits int32 (parse_int8's bias bound guarantees it for a net).
void requantize_rows(int64_t M, const int32_t* acc, int64_t lda, const RequantTable& t, uint8_t* out, int64_t ldo);
void requantize_rows_scalar(int64_t M, const int32_t* acc, int64_t lda, const RequantTable& t, uint8_t* out,
                            int64_t ldo);
void requantize_rows_avx2(int64_t M, const int32_t* acc, int64_t lda, const RequantTable& t, uint8_t* out,
                          int64_t ldo);

// ---- the fast activation (the paper's trick 5) ----
// Sigmoid of an int32 pre-activation with real value acc·in_scale, returned as a 7-bit code
// q = round(127·σ(x)) (scale 1/127, zero point 0), by a 1024-entry table over x ∈ [−8, 8).
// Outside the table σ is within 3.4e-4 of 0 or 1, so the code is 0 or 127 exactly. Error bound
// (tested over all table cells): |q/127 − σ(x)| ≤ 1/254 + 1/128·max σ' = 1/254 + 1/512.
class SigmoidLut {
 public:
  explicit SigmoidLut(float in_scale);
  uint8_t operator()(int32_t acc) const;
  static constexpr float kRange = 8.0f;
  static constexpr int kEntries = 1024;

 private:
  float to_index_;   // in_scale · kEntries / (2·kRange)
  uint8_t table_[kEntries];
};
uint8_t sigmoid_code_exact(float x);   // round_half_up(127·σ(x)) with std::exp: the reference

// ---- the quantised network ----
struct Int8Layer {
  enum class Op : uint8_t { fc = 1, conv = 2, maxpool2 = 3 };
  Op op = Op::fc;
  int64_t out = 0;                           // output features / channels
  int64_t in_c = 0, in_h = 1, in_w = 1, k = 1;  // input geometry (fc: in_c = K)
  bool relu = false, last = false;
  ActQuant in, out_q;                        // input codes; output codes (unused when last)
  std::vector<float> w_scale;                // [out]
  std::vector<int32_t> bias;                 // [out], b_q at scale s_a·s_w[r]
  std::vector<int8_t> weight;                // [out, in_c·k·k]  (conv: [OC, C, kh, kw] flattened)
  // Prepared once at load (prepare()): the packed panels, bias with the zero point folded in,
  // the per-row fixed-point multipliers, and the dequantised weights of the fake-quant path.
  PackedS8 packed;
  std::vector<int32_t> bias_eff;
  std::vector<Requant> rq;
  RequantTable requant;                      // bias_eff, rq, out_q and relu, for requantize_rows
  std::vector<float> w_float;
  int64_t K() const { return in_c * k * k; }
  int64_t out_h() const { return op == Op::conv ? in_h - k + 1 : op == Op::maxpool2 ? in_h / 2 : 1; }
  int64_t out_w() const { return op == Op::conv ? in_w - k + 1 : op == Op::maxpool2 ? in_w / 2 : 1; }
};

enum class Int8Path { integer, fake_quant };

struct Int8Net {
  std::string arch;
  int64_t in_c = 1, in_h = 28, in_w = 28;
  std::vector<Int8Layer> layers;
  void prepare();   // fills the prepared fields of every layer; called by quantize_model and parse
  int64_t num_classes() const;
  // images [N, in_c, in_h, in_w] (normalised floats) → logits [N, classes]. With codes != null,
  // the u8 output codes of every requantised layer are appended (for comparisons).
  Tensor forward(const Tensor& images, Int8Path path = Int8Path::integer,
                 std::vector<std::vector<uint8_t>>* codes = nullptr) const;
  // The lazy variant (the paper's trick 6): only the logits of `wanted` classes are computed
  // in the last layer (the others are left 0).
  Tensor forward_lazy(const Tensor& images, const std::vector<int64_t>& wanted) const;
  int64_t weight_bytes() const;   // s8 weights + f32 scales + i32 biases
};

// Quantises a trained float model (Linear, Conv2d with stride 1 / no padding, MaxPool2d(2, 2),
// ReLU, Flatten; the LeNet300 class flattens its input) with activation ranges calibrated on
// `calib` ([N, C, H, W]). Throws std::invalid_argument naming the first unsupported module.
Int8Net quantize_model(Sequential& model, const std::string& arch, const Tensor& calib, bool per_row = true);

std::string serialize_int8(const Int8Net& net);
Int8Net parse_int8(const std::string& bytes, const std::string& what);
void save_int8(const std::string& path, const Int8Net& net);   // atomic, parents created
Int8Net load_int8(const std::string& path);

}  // namespace mgf
