// compression/quantization/int8.cpp — see int8.h.
#include "compression/quantization/int8.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/gemm.h"
#include "engine/ops.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/models/lenet.h"
#include "layers/pool.h"
#include "layers/sequential.h"
#include "layers/shape.h"
#include "layers/activation.h"

#if MGF_HAVE_X86
#include <immintrin.h>
#endif

namespace mgf {

namespace {
constexpr char kMagic[8] = {'M', 'G', 'F', 'Q', '8', '\r', '\n', '\x1a'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 8 + 4;
constexpr int32_t kQMax = 127;   // 7-bit activations (gemm_int8.h)

}  // namespace

// ---- scalars ----

// Every caller clamps the result to a 7/8-bit code or stores it as a bias, so saturating at
// ±2^30 changes no answer, and a zero point (≤ 127) added after cannot overflow.
int32_t round_half_up(double v) {
  constexpr double kLimit = 1073741824.0;   // 2^30
  const double r = std::floor(v + 0.5);
  if (!(r > -kLimit)) return -(1 << 30);
  if (r >= kLimit) return 1 << 30;
  return static_cast<int32_t>(r);
}


ActQuant act_quant_from_range(float lo, float hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo)
    throw std::invalid_argument("act_quant_from_range: expected finite lo <= hi, found [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "]");
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  ActQuant a;
  if (hi - lo <= 0.0f) return a;   // all zeros: any scale; 1 keeps codes 0
  a.scale = (hi - lo) / static_cast<float>(kQMax);
  a.zero_point = std::clamp(round_half_up(-lo / a.scale), 0, kQMax);
  return a;
}

namespace {
// x·inv + zh, clamped to [0, 127] (NaN → 0), then truncated: on [0, 127] truncation is the
// floor, so no libm call. The one expression quantize_act() and quantize_u7_scalar() share.
inline uint8_t quantize_one(float x, float inv, float zh) {
  float v = x * inv;
  v = v + zh;   // two statements: a multiply, then an add (the AVX2 body does the same)
  if (!(v > 0.0f)) v = 0.0f;
  if (v > static_cast<float>(kQMax)) v = static_cast<float>(kQMax);
  return static_cast<uint8_t>(static_cast<int32_t>(v));
}
}  // namespace

uint8_t quantize_act(float x, const ActQuant& a) {
  return quantize_one(x, 1.0f / a.scale, static_cast<float>(a.zero_point) + 0.5f);
}

void quantize_u7_scalar(int64_t n, const float* x, float inv, float zh, uint8_t* q) {
  for (int64_t i = 0; i < n; ++i) q[i] = quantize_one(x[i], inv, zh);
}

#if MGF_HAVE_X86
MGF_AVX2 void quantize_u7_avx2(int64_t n, const float* x, float inv, float zh, uint8_t* q) {
  const __m256 vinv = _mm256_set1_ps(inv), vzh = _mm256_set1_ps(zh);
  const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(static_cast<float>(kQMax));
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i v[4];
    for (int j = 0; j < 4; ++j) {
      // v = x·inv + zh as a multiply and an add (an FMA would round once, the spec twice).
      __m256 f = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), vinv), vzh);
      // max(f, 0) returns its second operand when f is NaN: NaN → 0, as in the spec.
      f = _mm256_min_ps(_mm256_max_ps(f, zero), top);
      v[j] = _mm256_cvttps_epi32(f);   // truncation = floor on [0, 127]
    }
    // int32 → int16 → u8 (no saturation: all in [0, 127]); the packs interleave the 128-bit
    // lanes, so one permute puts the 32 bytes back in order.
    const __m256i w = _mm256_packus_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i),
                        _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
  quantize_u7_scalar(n - i, x + i, inv, zh, q + i);   // the ragged tail
}
#else
void quantize_u7_avx2(int64_t n, const float* x, float inv, float zh, uint8_t* q) {
  quantize_u7_scalar(n, x, inv, zh, q);
}
#endif

void quantize_u7(int64_t n, const float* x, float inv, float zh, uint8_t* q) {
  if (use_avx2()) return quantize_u7_avx2(n, x, inv, zh, q);
  quantize_u7_scalar(n, x, inv, zh, q);
}

QuantWeights quantize_weights(const float* W, int64_t N, int64_t K, bool per_row) {
  QuantWeights qw;
  qw.q.resize(static_cast<size_t>(N * K));
  qw.scale.assign(static_cast<size_t>(N), 1.0f);
  float layer_max = 0.0f;
  for (int64_t i = 0; i < N * K; ++i) layer_max = std::max(layer_max, std::fabs(W[i]));
  for (int64_t n = 0; n < N; ++n) {
    float m = layer_max;
    if (per_row) {
      m = 0.0f;
      for (int64_t k = 0; k < K; ++k) m = std::max(m, std::fabs(W[n * K + k]));
    }
    const float s = m > 0.0f ? m / 127.0f : 1.0f;
    qw.scale[n] = s;
    for (int64_t k = 0; k < K; ++k)
      qw.q[n * K + k] = static_cast<int8_t>(std::clamp(round_half_up(W[n * K + k] / s), -127, 127));
  }
  return qw;
}

double Requant::real() const { return std::ldexp(static_cast<double>(multiplier), -(31 + shift)); }

Requant make_requant(double real) {
  if (!(real >= std::ldexp(1.0, -31) && real <= std::ldexp(1.0, 30)))
    throw std::invalid_argument("make_requant: expected a multiplier in [2^-31, 2^30], found " + std::to_string(real));
  int e = 0;
  const double f = std::frexp(real, &e);   // real = f·2^e, f ∈ [0.5, 1)
  int64_t m = std::llround(std::ldexp(f, 31));
  if (m == (int64_t{1} << 31)) {           // f rounded up to 1.0
    m >>= 1;
    ++e;
  }
  Requant r;
  r.multiplier = static_cast<int32_t>(m);
  r.shift = -e;                            // real ≈ m·2^(e−31) = m·2^−(31+shift)
  return r;
}

// ---- requantisation of a layer's outputs ----

RequantTable make_requant_table(const std::vector<int32_t>& bias, const std::vector<Requant>& rq, int32_t zero_point,
                                bool relu) {
  if (bias.size() != rq.size())
    throw std::invalid_argument("make_requant_table: expected as many biases as multipliers, found " +
                                std::to_string(bias.size()) + " and " + std::to_string(rq.size()));
  RequantTable t;
  t.n = static_cast<int64_t>(bias.size());
  t.zero_point = zero_point;
  t.lo = relu ? zero_point : 0;
  t.bias = bias;
  t.rq = rq;
  t.multiplier.resize(bias.size());
  const size_t padded = (bias.size() + 7) / 8 * 8;
  t.round_flip.assign(padded, 0);
  t.total.assign(padded, 63);   // padding lanes: any legal shift (their results are not stored)
  t.unflip.assign(padded, 0);
  t.vector_ok = true;
  for (int64_t c = 0; c < t.n; ++c) {
    const int tot = 31 + rq[c].shift;
    if (tot < 1 || tot > 62)
      throw std::invalid_argument("make_requant_table: expected 31 + shift in [1, 62], found " + std::to_string(tot));
    t.multiplier[c] = rq[c].multiplier;
    t.vector_ok = t.vector_ok && rq[c].shift >= 0;
    // lane order within a block of 8: columns 0, 2, 4, 6, then 1, 3, 5, 7
    const int64_t slot = c / 8 * 8 + (c % 8) / 2 + (c % 2) * 4;
    const uint64_t flip = uint64_t{1} << 63;
    t.round_flip[slot] = static_cast<int64_t>((uint64_t{1} << (tot - 1)) + flip);
    t.total[slot] = tot;
    t.unflip[slot] = static_cast<int64_t>(flip >> tot);
  }
  return t;
}

namespace {
inline uint8_t requant_one(int32_t a, int64_t c, const RequantTable& t) {
  const int64_t v = requantize(a + t.bias[c], t.rq[c]);
  return static_cast<uint8_t>(std::clamp<int64_t>(v, t.lo - t.zero_point, kQMax - t.zero_point) + t.zero_point);
}
}  // namespace

void requantize_rows_scalar(int64_t M, const int32_t* acc, int64_t lda, const RequantTable& t, uint8_t* out,
                            int64_t ldo) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < t.n; ++c) out[m * ldo + c] = requant_one(acc[m * lda + c], c, t);
}

#if MGF_HAVE_X86
namespace {
MGF_AVX2 inline __m256i ld(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
}  // namespace

MGF_AVX2 void requantize_rows_avx2(int64_t M, const int32_t* acc, int64_t lda, const RequantTable& t, uint8_t* out,
                                   int64_t ldo) {
  if (!t.vector_ok) return requantize_rows_scalar(M, acc, lda, t, out, ldo);
  const int64_t full = t.n / 8 * 8;
  const __m256i vlo = _mm256_set1_epi32(t.lo - t.zero_point), vhi = _mm256_set1_epi32(kQMax - t.zero_point);
  const __m256i vz = _mm256_set1_epi32(t.zero_point);
  for (int64_t m = 0; m < M; ++m) {
    const int32_t* a = acc + m * lda;
    uint8_t* o = out + m * ldo;
    for (int64_t c = 0; c < full; c += 8) {
      // a + bias[c]                                    (int32; the file's bias bound keeps it exact)
      const __m256i x = _mm256_add_epi32(ld(a + c), ld(t.bias.data() + c));
      const __m256i mul = ld(t.multiplier.data() + c);
      // acc·m as 64-bit products: vpmuldq multiplies the even int32 lanes; shifting both operands
      // down by 32 bits brings the odd lanes there.
      __m256i pe = _mm256_mul_epi32(x, mul);
      __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mul, 32));
      // (p + 2^(tot−1)) >> tot, arithmetic: AVX2 has only the logical vpsrlvq, so add 2^63 too
      // (p + 2^63 is p's unsigned, order-preserving image), shift, and subtract 2^63 >> tot.
      pe = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_add_epi64(pe, ld(t.round_flip.data() + c)), ld(t.total.data() + c)),
                            ld(t.unflip.data() + c));
      po = _mm256_sub_epi64(
          _mm256_srlv_epi64(_mm256_add_epi64(po, ld(t.round_flip.data() + c + 4)), ld(t.total.data() + c + 4)),
          ld(t.unflip.data() + c + 4));
      // Every shift ≥ 0 (vector_ok), so each result fits int32: take the low halves, odd lanes
      // moved up, and the 8 values are back in column order.
      __m256i v = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
      // clamp(v, lo − z, 127 − z) + z: the ReLU and the 7-bit range, then the zero point.
      v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, vlo), vhi), vz);
      // 8 int32 in [0, 127] → 8 bytes: pack within each 128-bit half, then join the halves.
      const __m256i p = _mm256_packus_epi16(_mm256_packs_epi32(v, v), v);
      const __m128i b = _mm_unpacklo_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(o + c), b);
    }
    for (int64_t c = full; c < t.n; ++c) o[c] = requant_one(a[c], c, t);   // the ragged columns
  }
}
#else
void requantize_rows_avx2(int64_t M, const int32_t* acc, int64_t lda, const RequantTable& t, uint8_t* out,
                          int64_t ldo) {
  requantize_rows_scalar(M, acc, lda, t, out, ldo);
}
#endif

void requantize_rows(int64_t M, const int32_t* acc, int64_t lda, const RequantTable& t, uint8_t* out, int64_t ldo) {
  if (use_avx2()) return requantize_rows_avx2(M, acc, lda, t, out, ldo);
  requantize_rows_scalar(M, acc, lda, t, out, ldo);
}

// ---- the fast sigmoid ----

uint8_t sigmoid_code_exact(float x) {
  return static_cast<uint8_t>(round_half_up(127.0 / (1.0 + std::exp(-static_cast<double>(x)))));
}

SigmoidLut::SigmoidLut(float in_scale) : to_index_(in_scale * kEntries / (2 * kRange)) {
  const double h = 2.0 * kRange / kEntries;
  for (int i = 0; i < kEntries; ++i) table_[i] = sigmoid_code_exact(static_cast<float>(-kRange + (i + 0.5) * h));
}

uint8_t SigmoidLut::operator()(int32_t acc) const {
  const float t = static_cast<float>(acc) * to_index_ + kEntries / 2;
  if (t < 0.0f) return 0;
  if (t >= static_cast<float>(kEntries)) return kQMax;
  return table_[static_cast<int>(t)];
}

// ---- the network ----

void Int8Net::prepare() {
  for (size_t li = 0; li < layers.size(); ++li) {
    Int8Layer& L = layers[li];
    if (L.op == Int8Layer::Op::maxpool2) continue;
    L.packed = pack_s8(L.weight.data(), L.out, L.K());
    L.bias_eff.resize(L.out);
    L.rq.resize(L.out);
    L.w_float.resize(L.weight.size());
    for (int64_t r = 0; r < L.out; ++r) {
      // Σ (q − z)·q_w = Σ q·q_w − z·Σ q_w: the zero-point term is a constant per row.
      L.bias_eff[r] = L.bias[r] - L.in.zero_point * L.packed.row_sums[r];
      if (!L.last) L.rq[r] = make_requant(static_cast<double>(L.in.scale) * L.w_scale[r] / L.out_q.scale);
      for (int64_t k = 0; k < L.K(); ++k) L.w_float[r * L.K() + k] = L.w_scale[r] * L.weight[r * L.K() + k];
    }
    if (!L.last) L.requant = make_requant_table(L.bias_eff, L.rq, L.out_q.zero_point, L.relu);
  }
}

int64_t Int8Net::num_classes() const {
  for (auto it = layers.rbegin(); it != layers.rend(); ++it)
    if (it->op != Int8Layer::Op::maxpool2) return it->out;
  return 0;
}

int64_t Int8Net::weight_bytes() const {
  int64_t b = 0;
  for (const auto& L : layers) b += static_cast<int64_t>(L.weight.size() + 4 * L.w_scale.size() + 4 * L.bias.size());
  return b;
}

namespace {

// im2col of u8 codes, one image [C, H, W] → rows [OH·OW, C·k·k] (valid convolution, stride 1).
void im2col_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, int64_t k, uint8_t* out) {
  const int64_t OH = H - k + 1, OW = W - k + 1, K = C * k * k;
  for (int64_t oy = 0; oy < OH; ++oy)
    for (int64_t ox = 0; ox < OW; ++ox) {
      uint8_t* row = out + (oy * OW + ox) * K;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t ky = 0; ky < k; ++ky) {
          const uint8_t* src = x + (c * H + oy + ky) * W + ox;
          for (int64_t kx = 0; kx < k; ++kx) row[kx] = src[kx];   // k = 5: a call to memcpy costs more
          row += k;
        }
    }
}

// One fc/conv layer on u8 codes A [M, K]: integer or fake-quant, writing either u8 codes
// (codes: [N, out, positions], channel-major per image) or float logits (last layer).
// For conv, M = images·positions; for fc, positions = 1.
void layer_matmul(const Int8Layer& L, int64_t M, const uint8_t* A, Int8Path path, int64_t positions,
                  uint8_t* codes, float* logits, const std::vector<int64_t>* wanted) {
  const int64_t K = L.K(), O = L.out;
  const int32_t lo = L.relu ? L.out_q.zero_point : 0;
  auto dst_of = [&](int64_t m, int64_t r) { return (m / positions * O + r) * positions + m % positions; };
  if (path == Int8Path::fake_quant) {
    std::vector<float> x(static_cast<size_t>(M * K)), y(static_cast<size_t>(M * O));
    for (int64_t i = 0; i < M * K; ++i) x[i] = dequantize_act(A[i], L.in);
    sgemm(Trans::N, Trans::T, M, O, K, 1.0f, x.data(), K, L.w_float.data(), K, 0.0f, y.data(), O);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t r = 0; r < O; ++r) {
        // The float model: y = x̂·ŵ + b̂, b̂ = s_a·s_w·b_q, then quantised again.
        const float v = y[m * O + r] + L.in.scale * L.w_scale[r] * static_cast<float>(L.bias[r]);
        if (L.last) logits[dst_of(m, r)] = v;
        else codes[dst_of(m, r)] = static_cast<uint8_t>(std::clamp(round_half_up(v / L.out_q.scale) + L.out_q.zero_point, lo, kQMax));
      }
    return;
  }
  std::vector<int32_t> acc(static_cast<size_t>(M * O));
  if (wanted) {
    // Lazy: only the wanted rows of W, each as a one-row dot product per input.
    for (int64_t r : *wanted)
      for (int64_t m = 0; m < M; ++m) {
        int32_t s = 0;
        const int8_t* w = L.weight.data() + r * K;
        for (int64_t kk = 0; kk < K; ++kk) s += static_cast<int32_t>(A[m * K + kk]) * w[kk];
        acc[m * O + r] = s;
      }
  } else {
    gemm_u8s8(M, A, K, L.packed, acc.data(), O);
  }
  if (L.last) {
    // Logits in float, one multiply per class: acc·s_a·s_w[r] (lazy: the wanted classes only).
    auto logit = [&](int64_t m, int64_t r) {
      logits[dst_of(m, r)] = static_cast<float>(acc[m * O + r] + L.bias_eff[r]) * L.in.scale * L.w_scale[r];
    };
    for (int64_t m = 0; m < M; ++m)
      if (wanted) for (int64_t r : *wanted) logit(m, r);
      else for (int64_t r = 0; r < O; ++r) logit(m, r);
    return;
  }
  if (positions == 1) return requantize_rows(M, acc.data(), O, L.requant, codes, O);   // fc: already [N, O]
  // conv: requantise [M, O] in rows, then turn each image's [positions, O] into [O, positions].
  std::vector<uint8_t> rows(static_cast<size_t>(M * O));
  requantize_rows(M, acc.data(), O, L.requant, rows.data(), O);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t r = 0; r < O; ++r) codes[dst_of(m, r)] = rows[m * O + r];
}

Tensor run_net(const Int8Net& net, const Tensor& images, Int8Path path, std::vector<std::vector<uint8_t>>* codes,
               const std::vector<int64_t>* wanted) {
  const int64_t N = images.shape()[0];
  const int64_t in_numel = net.in_c * net.in_h * net.in_w;
  if (images.numel() != N * in_numel)
    throw std::invalid_argument("Int8Net::forward: expected images of " + std::to_string(in_numel) +
                                " values each, found a tensor of " + std::to_string(images.numel()) + " for " +
                                std::to_string(N));
  if (net.layers.empty()) throw std::invalid_argument("Int8Net::forward: the net has no layers");
  const Int8Layer& first = net.layers.front();
  std::vector<uint8_t> cur(static_cast<size_t>(N * in_numel));
  quantize_u7(N * in_numel, images.data(), 1.0f / first.in.scale, static_cast<float>(first.in.zero_point) + 0.5f,
              cur.data());
  Tensor logits(Shape{N, net.num_classes()});
  std::vector<uint8_t> next, cols;
  for (const Int8Layer& L : net.layers) {
    if (L.op == Int8Layer::Op::maxpool2) {
      const int64_t OH = L.out_h(), OW = L.out_w();
      next.resize(static_cast<size_t>(N * L.in_c * OH * OW));
      for (int64_t n = 0; n < N * L.in_c; ++n)
        for (int64_t y = 0; y < OH; ++y)
          for (int64_t x = 0; x < OW; ++x) {
            const uint8_t* s = cur.data() + (n * L.in_h + 2 * y) * L.in_w + 2 * x;
            next[(n * OH + y) * OW + x] = std::max(std::max(s[0], s[1]), std::max(s[L.in_w], s[L.in_w + 1]));
          }
    } else {
      const bool lazy = wanted && L.last;
      // Every code is written below (the layer covers all rows and columns), so no zero fill.
      next.resize(L.last ? 0 : static_cast<size_t>(N * L.out * L.out_h() * L.out_w()));
      if (L.op == Int8Layer::Op::fc) {
        layer_matmul(L, N, cur.data(), path, 1, next.data(), logits.data(), lazy ? wanted : nullptr);
      } else {
        const int64_t P = L.out_h() * L.out_w(), img = L.in_c * L.in_h * L.in_w;
        cols.resize(static_cast<size_t>(N * P * L.K()));
        for (int64_t n = 0; n < N; ++n) im2col_u8(cur.data() + n * img, L.in_c, L.in_h, L.in_w, L.k, cols.data() + n * P * L.K());
        layer_matmul(L, N * P, cols.data(), path, P, next.data(), logits.data(), lazy ? wanted : nullptr);
      }
      if (L.last) break;
    }
    if (codes) codes->push_back(next);
    cur.swap(next);
  }
  return logits;
}

// Weights to s8 codes with their scales, bias to int32 at scale s_a·s_w[r] (L.in set first).
void quantize_params(Int8Layer& L, const Tensor& W, const Parameter* bias, bool per_row) {
  QuantWeights qw = quantize_weights(W.data(), L.out, L.K(), per_row);
  L.weight = std::move(qw.q);
  L.w_scale = std::move(qw.scale);
  L.bias.assign(L.out, 0);
  if (bias)
    for (int64_t r = 0; r < L.out; ++r)
      L.bias[r] = round_half_up(bias->var.value().data()[r] / (static_cast<double>(L.in.scale) * L.w_scale[r]));
}

}  // namespace

Tensor Int8Net::forward(const Tensor& images, Int8Path path, std::vector<std::vector<uint8_t>>* codes) const {
  return run_net(*this, images, path, codes, nullptr);
}

Tensor Int8Net::forward_lazy(const Tensor& images, const std::vector<int64_t>& wanted) const {
  for (int64_t r : wanted)
    if (r < 0 || r >= num_classes())
      throw std::invalid_argument("Int8Net::forward_lazy: expected classes in [0, " + std::to_string(num_classes()) +
                                  "), found " + std::to_string(r));
  return run_net(*this, images, Int8Path::integer, nullptr, &wanted);
}

// ---- quantising a trained float model ----

Int8Net quantize_model(Sequential& model, const std::string& arch, const Tensor& calib, bool per_row) {
  NoGradGuard ng;
  Int8Net net;
  net.arch = arch;
  if (calib.ndim() != 4) throw std::invalid_argument("quantize_model: expected calibration images [N, C, H, W]");
  net.in_c = calib.shape()[1];
  net.in_h = calib.shape()[2];
  net.in_w = calib.shape()[3];
  Var h(calib);
  int64_t c = net.in_c, hh = net.in_h, ww = net.in_w;
  auto range_of = [](const Tensor& t) {
    const auto [lo, hi] = std::minmax_element(t.data(), t.data() + t.numel());
    return act_quant_from_range(*lo, *hi);
  };
  Int8Layer* prev = nullptr;   // the last fc/conv, whose out_q is the range of the next layer's input
  auto close_prev = [&](const ActQuant& q) {
    if (prev) prev->out_q = q;
  };
  bool flat = dynamic_cast<LeNet300*>(&model) != nullptr;
  for (const auto& [name, mod] : model.children()) {
    Module* m = mod.get();
    if (auto* lin = dynamic_cast<Linear*>(m)) {
      Var x = h.value().ndim() > 2 || flat ? flatten(h) : h;
      flat = false;
      const ActQuant in = range_of(x.value());
      close_prev(in);
      Int8Layer L;
      L.op = Int8Layer::Op::fc;
      const Tensor& W = lin->weight.var.value();
      L.out = W.shape()[0];
      L.in_c = W.shape()[1];
      L.in = in;
      quantize_params(L, W, lin->bias, per_row);
      net.layers.push_back(std::move(L));
      prev = &net.layers.back();
      h = m->forward(x);
      c = prev->out;
      hh = ww = 1;
    } else if (auto* conv = dynamic_cast<Conv2d*>(m)) {
      const Tensor& W = conv->weight.var.value();
      const Tensor probe = m->forward(h).value();
      if (W.shape()[2] != W.shape()[3] || probe.shape()[2] != hh - W.shape()[2] + 1 || W.shape()[1] != c)
        throw std::invalid_argument("quantize_model: " + name + ": expected a square, stride-1, unpadded, ungrouped "
                                    "convolution, found another geometry");
      const ActQuant in = range_of(h.value());
      close_prev(in);
      Int8Layer L;
      L.op = Int8Layer::Op::conv;
      L.out = W.shape()[0];
      L.in_c = c;
      L.in_h = hh;
      L.in_w = ww;
      L.k = W.shape()[2];
      L.in = in;
      quantize_params(L, W, conv->bias, per_row);
      net.layers.push_back(std::move(L));
      prev = &net.layers.back();
      h = Var(probe);
      c = prev->out;
      hh = prev->out_h();
      ww = prev->out_w();
    } else if (dynamic_cast<MaxPool2d*>(m)) {
      Var y = m->forward(h);
      if (y.value().shape()[2] != hh / 2 || y.value().shape()[3] != ww / 2)
        throw std::invalid_argument("quantize_model: " + name + ": expected a 2x2 max-pool with stride 2");
      Int8Layer L;
      L.op = Int8Layer::Op::maxpool2;
      L.in_c = c;
      L.in_h = hh;
      L.in_w = ww;
      L.out = c;
      net.layers.push_back(std::move(L));
      prev = nullptr;   // pointers into the vector may move; find the last fc/conv again below
      for (auto it = net.layers.rbegin(); it != net.layers.rend(); ++it)
        if (it->op != Int8Layer::Op::maxpool2) {
          prev = &*it;
          break;
        }
      h = y;
      hh /= 2;
      ww /= 2;
    } else if (dynamic_cast<ReLU*>(m)) {
      if (!prev || net.layers.back().op == Int8Layer::Op::maxpool2)
        throw std::invalid_argument("quantize_model: " + name + ": expected ReLU right after a Linear or Conv2d");
      prev->relu = true;
      h = m->forward(h);
    } else if (dynamic_cast<Flatten*>(m)) {
      h = m->forward(h);
      c = c * hh * ww;
      hh = ww = 1;
    } else {
      throw std::invalid_argument("quantize_model: " + name + ": no int8 form for a " + m->type_name());
    }
  }
  if (!prev || net.layers.back().op == Int8Layer::Op::maxpool2)
    throw std::invalid_argument("quantize_model: expected the model to end in a Linear or Conv2d");
  prev->last = true;
  net.prepare();
  return net;
}

// ---- the file ----

std::string serialize_int8(const Int8Net& net) {
  ByteWriter w;
  w.str_u8(net.arch);
  w.u32(static_cast<uint32_t>(net.in_c));
  w.u32(static_cast<uint32_t>(net.in_h));
  w.u32(static_cast<uint32_t>(net.in_w));
  const ActQuant in = net.layers.empty() ? ActQuant{} : net.layers.front().in;
  w.f32(in.scale);
  w.u8(static_cast<uint8_t>(in.zero_point));
  w.u32(static_cast<uint32_t>(net.layers.size()));
  for (const auto& L : net.layers) {
    w.u8(static_cast<uint8_t>(L.op));
    if (L.op == Int8Layer::Op::maxpool2) continue;
    for (int64_t v : {L.out, L.in_c, L.in_h, L.in_w, L.k}) w.u32(static_cast<uint32_t>(v));
    w.u8(L.relu ? 1 : 0);
    w.u8(L.last ? 1 : 0);
    w.f32(L.last ? 0.0f : L.out_q.scale);
    w.u8(static_cast<uint8_t>(L.last ? 0 : L.out_q.zero_point));
    w.f32s(L.w_scale.data(), L.w_scale.size());
    for (int32_t b : L.bias) w.u32(static_cast<uint32_t>(b));
    w.bytes(L.weight.data(), L.weight.size());
  }
  ByteWriter h;
  h.bytes(kMagic, 8);
  h.u32(kVersion);
  h.u64(static_cast<uint64_t>(w.size()));
  h.u32(crc32(w.data().data(), w.size()));
  h.bytes(w.data().data(), w.size());
  return std::string(h.data().begin(), h.data().end());
}

Int8Net parse_int8(const std::string& bytes, const std::string& what) {
  // Magic, version, length, checksum, then every field for plausibility, so that a change the
  // CRC cannot see still ends in a named error, never a bad read (fuzz/fuzz_int8.cpp).
  ByteReader r(bytes, what);
  r.need(8, "magic");
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) {
    std::ostringstream found;
    for (int i = 0; i < 8; ++i) found << (i ? " " : "") << std::hex << (static_cast<unsigned>(bytes[i]) & 0xFF);
    r.fail("magic", "expected \"MGFQ8\\r\\n\\x1a\" (an int8 model file), found bytes " + found.str());
  }
  r.seek(8);
  const uint32_t version = r.u32("version");
  if (version != kVersion)
    r.fail_at(8, "version", "expected " + std::to_string(kVersion) + ", found " + std::to_string(version));
  const uint64_t payload = r.u64("payload length");
  const uint32_t crc = r.u32("checksum");
  if (bytes.size() - kHeaderBytes != payload)
    r.fail("payload", "expected " + std::to_string(payload) + " payload bytes, found " +
                          std::to_string(bytes.size() - kHeaderBytes) +
                          (bytes.size() - kHeaderBytes < payload ? " (truncated)" : " (trailing bytes)"));
  const uint32_t actual = crc32(bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes);
  if (actual != crc) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "expected CRC-32 %08x (stored in the header), found %08x", crc, actual);
    r.fail("payload checksum", std::string(buf) + ": the file is corrupt");
  }
  auto dim = [&](const char* field, uint32_t lo, uint32_t hi) {
    const size_t at = r.pos();
    const uint32_t v = r.u32(field);
    if (v < lo || v > hi)
      r.fail_at(at, field, "expected " + std::to_string(lo) + ".." + std::to_string(hi) + ", found " + std::to_string(v));
    return static_cast<int64_t>(v);
  };
  auto act = [&](const char* sfield, const char* zfield) {
    ActQuant a;
    const size_t at = r.pos();
    a.scale = r.f32(sfield);
    if (!(std::isfinite(a.scale) && a.scale > 0.0f))
      r.fail_at(at, sfield, "expected a finite scale > 0, found " + std::to_string(a.scale));
    const size_t az = r.pos();
    a.zero_point = r.u8(zfield);
    if (a.zero_point > kQMax) r.fail_at(az, zfield, "expected 0..127, found " + std::to_string(a.zero_point));
    return a;
  };
  Int8Net net;
  net.arch = r.str_u8("architecture name");
  net.in_c = dim("input channels", 1, 4096);
  net.in_h = dim("input height", 1, 4096);
  net.in_w = dim("input width", 1, 4096);
  ActQuant in = act("input scale", "input zero point");
  const int64_t n_layers = dim("layer count", 1, 256);
  int64_t c = net.in_c, hh = net.in_h, ww = net.in_w;
  for (int64_t li = 0; li < n_layers; ++li) {
    const std::string p = "layer " + std::to_string(li) + " ";
    if (!net.layers.empty() && net.layers.back().last)
      r.fail(p + "op", "expected no layer after the last one (flagged is_last), found one");
    Int8Layer L;
    const size_t at_op = r.pos();
    const uint8_t op = r.u8(p + "op");
    if (op < 1 || op > 3) r.fail_at(at_op, p + "op", "expected 1 (fc), 2 (conv) or 3 (maxpool2), found " + std::to_string(op));
    L.op = static_cast<Int8Layer::Op>(op);
    if (L.op == Int8Layer::Op::maxpool2) {
      if (hh < 2 || ww < 2) r.fail_at(at_op, p + "op", "expected an input of at least 2x2 for a max-pool, found " +
                                                          std::to_string(hh) + "x" + std::to_string(ww));
      L.in_c = L.out = c;
      L.in_h = hh;
      L.in_w = ww;
      hh /= 2;
      ww /= 2;
      net.layers.push_back(std::move(L));
      continue;
    }
    L.out = dim((p + "out").c_str(), 1, 1 << 16);
    const size_t at_geo = r.pos();
    L.in_c = dim((p + "in_c").c_str(), 1, 1 << 20);
    L.in_h = dim((p + "in_h").c_str(), 1, 4096);
    L.in_w = dim((p + "in_w").c_str(), 1, 4096);
    L.k = dim((p + "k").c_str(), 1, 64);
    const bool geo_ok = L.op == Int8Layer::Op::fc
                            ? (L.in_h == 1 && L.in_w == 1 && L.k == 1 && L.in_c == c * hh * ww)
                            : (L.in_c == c && L.in_h == hh && L.in_w == ww && L.k <= hh && L.k <= ww);
    if (!geo_ok)
      r.fail_at(at_geo, p + "geometry",
                "expected an input matching the previous layer's output (" + std::to_string(c) + "x" +
                    std::to_string(hh) + "x" + std::to_string(ww) + "), found in_c " + std::to_string(L.in_c) +
                    ", " + std::to_string(L.in_h) + "x" + std::to_string(L.in_w) + ", k " + std::to_string(L.k));
    const size_t at_flags = r.pos();
    const uint8_t relu = r.u8(p + "relu"), last = r.u8(p + "is_last");
    if (relu > 1 || last > 1) r.fail_at(at_flags, p + "flags", "expected relu and is_last in {0, 1}, found " +
                                                                   std::to_string(relu) + ", " + std::to_string(last));
    L.relu = relu;
    L.last = last;
    if (L.last) {
      r.f32(p + "out scale");
      r.u8(p + "out zero point");
    } else {
      L.out_q = act((p + "out scale").c_str(), (p + "out zero point").c_str());
    }
    L.in = in;
    const int64_t n_w = L.out * L.K();   // ≤ 2^16 · 2^32: no overflow in int64
    L.w_scale.resize(L.out);
    const size_t at_s = r.pos();
    r.f32s(L.w_scale.data(), L.w_scale.size(), p + "weight scales");
    for (float s : L.w_scale)
      if (!(std::isfinite(s) && s > 0.0f))
        r.fail_at(at_s, p + "weight scales", "expected finite scales > 0, found " + std::to_string(s));
    r.need(4 * static_cast<uint64_t>(L.out), p + "biases");
    L.bias.resize(L.out);
    const size_t at_b = r.pos();
    for (auto& b : L.bias) b = static_cast<int32_t>(r.u32(p + "biases"));
    // The int32 accumulator is bias − z·Σw + Σ q·w, each sum at most 127·127·K in size: a bias
    // beyond what leaves room for them would overflow it (fuzz_int8 found one at 2^31 − 373).
    const double room = 2147483647.0 - 2.0 * 127.0 * 127.0 * static_cast<double>(L.K());
    for (int32_t b : L.bias)
      if (!(std::fabs(static_cast<double>(b)) <= room))
        r.fail_at(at_b, p + "biases", "expected |bias| <= 2^31 - 1 - 2*127*127*K = " + std::to_string(room) +
                                         " (room for the int32 sums), found " + std::to_string(b));
    const uint8_t* wb = r.bytes(static_cast<size_t>(n_w), p + "weights");
    L.weight.assign(reinterpret_cast<const int8_t*>(wb), reinterpret_cast<const int8_t*>(wb) + n_w);
    for (int64_t i = 0; i < n_w; ++i)
      if (L.weight[i] == -128) r.fail(p + "weights", "expected codes in [-127, 127], found -128 at index " + std::to_string(i));
    // The fixed-point multiplier must exist: s_a·s_w/s_out within make_requant's range.
    if (!L.last)
      for (int64_t o = 0; o < L.out; ++o) {
        const double m = static_cast<double>(L.in.scale) * L.w_scale[o] / L.out_q.scale;
        if (!(m >= std::ldexp(1.0, -31) && m <= std::ldexp(1.0, 30)))
          r.fail(p + "scales", "expected s_in*s_w/s_out in [2^-31, 2^30], found " + std::to_string(m) + " (row " +
                                   std::to_string(o) + ")");
      }
    in = L.out_q;
    c = L.out;
    hh = L.out_h();
    ww = L.out_w();
    net.layers.push_back(std::move(L));
  }
  if (net.layers.empty() || !net.layers.back().last)
    r.fail("layers", "expected the final layer to be an fc/conv flagged is_last, found none");
  if (r.pos() != r.size()) r.fail("payload", "expected the end of the payload, found " + std::to_string(r.size() - r.pos()) + " more bytes");
  net.prepare();
  return net;
}

void save_int8(const std::string& path, const Int8Net& net) {
  const std::string b = serialize_int8(net);
  write_bytes_atomic(path, std::vector<uint8_t>(b.begin(), b.end()));
}

Int8Net load_int8(const std::string& path) {
  const std::vector<uint8_t> b = read_file(path);
  return parse_int8(std::string(b.begin(), b.end()), path);
}

}  // namespace mgf
