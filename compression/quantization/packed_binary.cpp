// compression/quantization/packed_binary.cpp — the .xnor file and the packed inference. The
// layout is documented once, above export_packed in packed_binary.h. Fields go through
// ByteWriter / ByteReader (engine/io/bytes.h), so the file is little-endian on every host and
// every read is checked against the bytes left; the checksum is crc32() (engine/io/crc32.h).
#include "compression/quantization/packed_binary.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/binary_layers.h"
#include "compression/quantization/bitpack.h"
#include "compression/quantization/xnor.h"
#include "compression/quantization/xnorpp.h"
#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/kernels/elementwise.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/timing.h"
#include "engine/ops.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/models/binary_resnet.h"
#include "layers/norm.h"
#include "layers/pool.h"
#include "layers/shape.h"

namespace mgf {
namespace {

constexpr char kMagic[8] = {'M', 'G', 'F', 'X', 'N', 'O', 'R', '1'};
constexpr uint32_t kVersion = 4;  // 4: + binary_res_block records; 3: the other records, still read;
                                  // 2: a fixed LeNet-5 of named tensors; 1: native byte order, FNV-1a
constexpr size_t kHeader = 8 + 4 + 4 + 8 + 4;
constexpr int64_t kMaxDim = int64_t{1} << 20;  // any single size a record declares
using Kind = PackedBinaryNet::Kind;

std::string shape_of(const std::vector<int64_t>& s) { return shape_str(Shape(s.begin(), s.end())); }
int64_t numel_of(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;  // each d <= 2^20 and every shape is checked <= 2^26 as it is made
  return n;
}

// 1/√(σ² + ε) per channel, as the batch_norm op computes it in eval mode: once at load, not
// once per call (a square root and a division per channel cost more than the whole normalisation
// of a 500-feature vector at batch 1).
std::vector<float> bn_inv_std(const std::vector<float>& var, float eps) {
  std::vector<float> is(var.size());
  for (size_t c = 0; c < var.size(); ++c) is[c] = 1.0f / std::sqrt(var[c] + eps);
  return is;
}

// ---- export: walk the model's layers, track the shape and whether it is in bits ----------------
struct Exporter {
  ByteWriter w;
  uint32_t count = 0;
  std::vector<int64_t> shape;    // one image, as it reaches the next layer
  std::vector<int64_t> flat_of;  // bits: the [C, H, W] a flatten came from (the order fc weights need)
  bool bits = false;

  [[noreturn]] void refuse(const std::string& child, const std::string& why) const {
    throw std::invalid_argument("export_packed: layer " + child + ": " + why);
  }
  void begin(Kind k, const std::string& name) {
    w.u32(static_cast<uint32_t>(k));
    w.str_u32(name);
    ++count;
  }
  void floats(const Tensor& t) { w.f32s(t.data(), static_cast<size_t>(t.numel())); }
  void floats(const std::vector<float>& v) { w.f32s(v.data(), v.size()); }
  void packed(const std::vector<float>& rows, int64_t O, int64_t K) {  // O rows of K signs
    for (uint64_t word : PackedSigns::from_rows(rows.data(), O, K).bits) w.u64(word);
  }
};

// The batch-norm child of a model as fp32 arrays.
struct BnParams {
  std::vector<float> gamma, beta, mean, var;
  float eps;
};
BnParams bn_params(BatchNorm& b) {
  auto v = [](const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.numel()); };
  return {v(b.weight.var.value()), v(b.bias.var.value()), v(b.running_mean), v(b.running_var), b.eps};
}

}  // namespace

int64_t export_packed(BinaryLeNet5& m, const std::string& path) {
  const BinaryNetConfig& c = m.config();
  if (c.mode != BinaryMode::xnor && c.mode != BinaryMode::xnorpp)
    throw std::invalid_argument("export_packed: expected an XNOR (B-A-C-P or C-B-A-P) or XNOR++ model, found " + c.name());
  return export_packed(static_cast<const Sequential&>(m), {1, 28, 28}, path);
}

int64_t export_packed(const Sequential& model, const std::vector<int64_t>& input, const std::string& path) {
  if (input.size() != 3) throw std::invalid_argument("export_packed: expected an input shape [C, H, W], found " + shape_of(input));
  Exporter e;
  e.shape = input;
  for (int64_t d : input) e.w.u32(static_cast<uint32_t>(d));
  const auto& ch = model.children();
  for (size_t i = 0; i < ch.size(); ++i) {
    const std::string& name = ch[i].first;
    Module* mod = ch[i].second.get();
    auto need_real = [&](const char* what) {
      if (e.bits) e.refuse(name, std::string("expected a real input for ") + what + ", found bits (after a sign)");
    };
    auto need_image = [&]() {
      if (e.shape.size() != 3) e.refuse(name, "expected an image [C, H, W], found " + shape_of(e.shape));
    };
    if (auto* cv = dynamic_cast<Conv2d*>(mod)) {
      need_real("a real convolution");
      need_image();
      const Conv2dOptions& o = cv->options;
      if (o.groups != 1 || o.stride_h != o.stride_w || o.pad_h != o.pad_w || !cv->bias)
        e.refuse(name, "expected groups 1, square stride and padding, and a bias");
      const Tensor& W = cv->weight.var.value();
      e.begin(Kind::conv, name);
      for (int64_t v : {W.dim(0), W.dim(2), W.dim(3), o.stride_h, o.pad_h}) e.w.u32(static_cast<uint32_t>(v));
      e.floats(W);
      e.floats(cv->bias->var.value());
      const ConvGeom g{e.shape[0], e.shape[1], e.shape[2], W.dim(2), W.dim(3), o.stride_h, o.stride_w, o.pad_h, o.pad_w};
      e.shape = {W.dim(0), g.OH(), g.OW()};
    } else if (auto* bn = dynamic_cast<BatchNorm*>(mod)) {
      if (e.bits) e.refuse(name, "a batch norm on bits must follow a binary layer (it is folded into its threshold)");
      const BnParams p = bn_params(*bn);
      if (i + 1 < ch.size() && dynamic_cast<SignSTE*>(ch[i + 1].second.get())) {  // BN + sign: one threshold per channel
        const RealThresholds th = fold_bn_sign_real(p.gamma.data(), p.beta.data(), p.mean.data(), p.var.data(), p.eps,
                                                    e.shape[0]);
        e.begin(Kind::sign, name + "+" + ch[i + 1].first);
        e.floats(th.tau);
        for (uint64_t d : th.down) e.w.u64(d);
        e.bits = true;
        e.flat_of.clear();
        ++i;
        continue;
      }
      e.begin(Kind::batch_norm, name);
      e.w.f32(p.eps);
      for (const auto* v : {&p.gamma, &p.beta, &p.mean, &p.var}) e.floats(*v);
    } else if (dynamic_cast<ReLU*>(mod)) {
      need_real("a ReLU");
      e.begin(Kind::relu, name);
    } else if (auto* mp = dynamic_cast<MaxPool2d*>(mod)) {
      need_image();
      if (mp->stride != mp->k || mp->pad != 0) e.refuse(name, "expected a max-pool with stride = window and no padding");
      e.begin(e.bits ? Kind::or_pool : Kind::max_pool, name);
      e.w.u32(static_cast<uint32_t>(mp->k));
      e.shape = {e.shape[0], e.shape[1] / mp->k, e.shape[2] / mp->k};
    } else if (dynamic_cast<Flatten*>(mod)) {
      e.begin(Kind::flatten, name);
      e.flat_of = e.shape;
      int64_t f = 1;
      for (int64_t d : e.shape) f *= d;
      e.shape = {f};
    } else if (dynamic_cast<SignSTE*>(mod)) {
      if (!e.bits) {  // the sign of ±1 is itself: a second sign on bits is nothing
        e.begin(Kind::sign, name);
        e.floats(std::vector<float>(static_cast<size_t>(e.shape[0]), 0.0f));  // x ≥ 0: sign(0) = +1
        for (int64_t k = 0; k < bit_words(e.shape[0]); ++k) e.w.u64(0);
        e.bits = true;
        e.flat_of.clear();
      }
    } else if (auto* rb = dynamic_cast<BinaryResBlock*>(mod)) {
      // y = x + s ⊙ (sign(BN(x)) ⊛ sign(W)): one record, the batch norm, the packed weights and
      // the scale; the runner adds the real shortcut (layers/models/binary_resnet.h).
      need_real("a binary residual block");
      need_image();
      const BinaryLayerOptions& o = rb->conv->options;
      const Tensor& W = rb->conv->weight.var.value();
      const int64_t C = e.shape[0], O = W.dim(0), k = W.dim(2), K = W.numel() / O;
      if (O != C || W.dim(1) != C || W.dim(3) != k || o.stride != 1 || 2 * o.pad != k - 1)
        e.refuse(name, "expected a C -> C binary conv with a square odd kernel, stride 1 and 'same' padding "
                       "(the identity shortcut), found weight " + W.str() + ", stride " + std::to_string(o.stride) +
                       ", pad " + std::to_string(o.pad));
      if (!o.binarize_weights || !o.binarize_input)
        e.refuse(name, "expected binary weights and a binary input (a BWN or real layer has no popcount form)");
      e.begin(Kind::binary_res_block, name);
      const uint32_t scale = o.gamma_case ? 2 : o.use_beta ? 0 : 1;
      for (int64_t v : {O, k, o.pad, static_cast<int64_t>(scale)}) e.w.u32(static_cast<uint32_t>(v));
      const BnParams p = bn_params(*rb->bn);
      e.w.f32(p.eps);
      for (const auto* v : {&p.gamma, &p.beta, &p.mean, &p.var}) e.floats(*v);
      e.packed(std::vector<float>(W.data(), W.data() + W.numel()), O, K);  // (c, kh, kw): im2col's order
      if (o.gamma_case) {  // Γ materialised for the block's hw×hw output
        std::vector<Tensor> f;
        for (Parameter* q : rb->conv->gamma) f.push_back(q->var.value());
        e.floats(gamma_full(o.gamma_case, f, O, e.shape[1], e.shape[2]));
      } else {
        e.floats(o.use_alpha ? bwn_alpha(W) : std::vector<float>(static_cast<size_t>(O), 1.0f));
      }
      // the shape is unchanged: C channels, same padding
    } else if (auto* bl = dynamic_cast<BinaryLayer*>(mod)) {
      const BinaryLayerOptions& o = bl->options;
      const Tensor& W = bl->weight.var.value();
      const bool conv = W.ndim() == 4;
      const int64_t O = W.dim(0), K = W.numel() / O;
      if (!o.binarize_weights || (!o.binarize_input && o.gamma_case == 0))
        e.refuse(name, "expected binary weights and a binary input (a BWN or real layer has no popcount form)");
      if (conv) {
        need_image();
        if (o.stride != 1 || o.pad != 0 || W.dim(2) != W.dim(3)) e.refuse(name, "expected a square kernel, stride 1, no padding");
      } else if (e.shape.size() != 1) {
        e.refuse(name, "expected features [F], found " + shape_of(e.shape));
      }
      const int64_t k = conv ? W.dim(2) : 1;
      const int64_t OH = conv ? e.shape[1] - k + 1 : 1, OW = conv ? e.shape[2] - k + 1 : 1;
      const std::vector<float> alpha = o.use_alpha && o.gamma_case == 0 ? bwn_alpha(W) : std::vector<float>(static_cast<size_t>(O), 1.0f);
      if (!e.bits) {  // real input: sign + pack in the runner, scale after the popcount
        e.begin(conv ? Kind::binary_conv : Kind::binary_linear, name);
        e.w.u32(static_cast<uint32_t>(O));
        if (conv) e.w.u32(static_cast<uint32_t>(k));
        const uint32_t scale = o.gamma_case ? 2 : o.use_beta ? 0 : 1;
        e.w.u32(scale);
        e.packed(std::vector<float>(W.data(), W.data() + W.numel()), O, K);  // (c, kh, kw): im2col's order
        if (o.gamma_case) {  // Γ materialised once: one multiply per output at inference
          std::vector<Tensor> f;
          for (Parameter* p : bl->gamma) f.push_back(p->var.value());
          e.floats(gamma_full(o.gamma_case, f, O, conv ? OH : 0, conv ? OW : 0));
        } else {
          e.floats(alpha);
        }
      } else {
        if (o.gamma_case) e.refuse(name, "expected α·K scaling on a bit input, found an XNOR-Net++ Γ");
        // β on a ±1 input: K = A ∗ k with A = mean |±1| = 1 is a constant; computed as the
        // simulation computes it (xnor_beta_map on the layer's geometry) and folded into s.
        float beta = 1.0f;
        if (o.use_beta) {
          const ConvGeom g = conv ? ConvGeom{e.shape[0], e.shape[1], e.shape[2], k, k, 1, 1, 0, 0}
                                  : ConvGeom{e.shape[0], 1, 1, 1, 1, 1, 1, 0, 0};
          std::vector<float> ones(static_cast<size_t>(g.C * g.H * g.W), 1.0f), K_map(static_cast<size_t>(OH * OW));
          xnor_beta_map(g, ones.data(), K_map.data());
          beta = K_map[0];
          for (float v : K_map)
            if (v != beta) e.refuse(name, "expected a constant K on a ±1 input, found a varying one");
        }
        std::vector<float> s(static_cast<size_t>(O));
        for (int64_t j = 0; j < O; ++j) s[static_cast<size_t>(j)] = alpha[static_cast<size_t>(j)] * beta;
        // the weight rows in the order the bit input is gathered: (kh, kw, c) for a conv,
        // (h, w, c) of the flattened image for a fully connected layer
        std::vector<float> rows(static_cast<size_t>(O * K));
        const std::vector<int64_t> img = conv ? std::vector<int64_t>{e.shape[0], k, k}
                                              : (e.flat_of.size() == 3 ? e.flat_of : std::vector<int64_t>{K, 1, 1});
        const int64_t C = img[0], H = img[1], Wd = img[2];
        for (int64_t j = 0; j < O; ++j)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t h = 0; h < H; ++h)
              for (int64_t x = 0; x < Wd; ++x)
                rows[static_cast<size_t>(j * K + (h * Wd + x) * C + c)] = W[j * K + (c * H + h) * Wd + x];
        // followed by batch norm + sign: fold them (the comparison flips for a negative scale)
        BatchNorm* next_bn = i + 2 < ch.size() ? dynamic_cast<BatchNorm*>(ch[i + 1].second.get()) : nullptr;
        const bool fold = next_bn && dynamic_cast<SignSTE*>(ch[i + 2].second.get());
        e.begin(conv ? Kind::bit_conv : Kind::bit_linear,
                fold ? name + "+" + ch[i + 1].first + "+" + ch[i + 2].first : name);
        e.w.u32(static_cast<uint32_t>(O));
        if (conv) e.w.u32(static_cast<uint32_t>(k));
        e.w.u32(fold ? 1 : 0);
        e.packed(rows, O, K);
        if (fold) {
          const BnParams p = bn_params(*next_bn);
          const SignThresholds th = fold_bn_sign(s.data(), p.gamma.data(), p.beta.data(), p.mean.data(), p.var.data(),
                                                 p.eps, O, K);
          for (int32_t t : th.t) e.w.u32(static_cast<uint32_t>(t));
          for (uint64_t f : th.flip) e.w.u64(f);
          i += 2;
        } else {
          e.floats(s);
          e.bits = false;
        }
        e.flat_of.clear();
      }
      e.shape = conv ? std::vector<int64_t>{O, OH, OW} : std::vector<int64_t>{O};
    } else if (auto* li = dynamic_cast<Linear*>(mod)) {
      need_real("a real linear layer");
      if (e.shape.size() != 1 || !li->bias) e.refuse(name, "expected features [F] and a bias");
      e.begin(Kind::linear, name);
      e.w.u32(static_cast<uint32_t>(li->out_features));
      e.floats(li->weight.var.value());
      e.floats(li->bias->var.value());
      e.shape = {li->out_features};
    } else {
      e.refuse(name, "expected one of Conv2d, BatchNorm, ReLU, MaxPool2d, Flatten, SignSTE, BinaryConv2d, BinaryLinear, "
                     "BinaryResBlock, Linear, found " + mod->type_name());
    }
  }
  if (e.bits) throw std::invalid_argument("export_packed: expected real outputs at the end, found bits");

  ByteWriter file;
  file.bytes(kMagic, 8);
  file.u32(kVersion);
  file.u32(e.count);
  file.u64(static_cast<uint64_t>(e.w.size()));
  file.u32(crc32(e.w.data().data(), e.w.size()));
  file.bytes(e.w.data().data(), e.w.size());
  write_file_atomic(path, file.data().data(), file.size());
  return static_cast<int64_t>(file.size());
}

const char* PackedBinaryNet::kind_name(Kind k) {
  switch (k) {
    case Kind::conv: return "conv";
    case Kind::batch_norm: return "batch_norm";
    case Kind::relu: return "relu";
    case Kind::max_pool: return "max_pool";
    case Kind::flatten: return "flatten";
    case Kind::binary_conv: return "binary_conv";
    case Kind::binary_linear: return "binary_linear";
    case Kind::linear: return "linear";
    case Kind::sign: return "sign";
    case Kind::or_pool: return "or_pool";
    case Kind::bit_conv: return "bit_conv";
    case Kind::bit_linear: return "bit_linear";
    case Kind::binary_res_block: return "binary_res_block";
  }
  return "?";
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
  if (version == 1 || version == 2)
    c.fail_at(8, "version", "found version " + std::to_string(version) + (version == 1 ? " (native byte order, FNV-1a checksum)" :
                                " (a fixed LeNet-5 layout of named tensors)") +
                            ", which is no longer read: expected version 3 or " + std::to_string(kVersion) +
                            " (a list of layer records); re-export the model with export_packed");
  if (version != 3 && version != kVersion)
    c.fail_at(8, "version", "expected version 3 or " + std::to_string(kVersion) + ", found " + std::to_string(version));
  if (buf.size() < kHeader)
    c.fail("header", "expected a header of " + std::to_string(kHeader) + " bytes, found a file of " +
                         std::to_string(buf.size()));
  const uint32_t count = c.u32("layer count");
  const uint64_t size = c.u64("payload size");
  const uint32_t sum = c.u32("checksum");
  if (size != buf.size() - kHeader)
    c.fail("payload size", "expected a payload of " + std::to_string(size) + " bytes, found " +
                               std::to_string(buf.size() - kHeader) + " (truncated or padded file)");
  if (crc32(buf.data() + kHeader, buf.size() - kHeader) != sum)
    c.fail("checksum", "CRC-32 mismatch: the file is corrupt");

  // A size field: 1 ≤ v ≤ kMaxDim (so every product below stays far inside 64 bits).
  auto dim = [&](std::string_view field, int64_t lo = 1) -> int64_t {
    const uint32_t v = c.u32(field);
    if (v < lo || v > kMaxDim)
      c.fail(field, "expected " + std::to_string(lo) + " .. " + std::to_string(kMaxDim) + ", found " + std::to_string(v));
    return static_cast<int64_t>(v);
  };
  auto floats = [&](std::vector<float>& out, uint64_t n, const std::string& field) {
    c.need_array(n, 4, field);  // before the buffer is sized from n
    out.resize(static_cast<size_t>(n));
    c.f32s(out.data(), out.size(), field);
  };
  auto packed_rows = [&](Layer& l, int64_t O, int64_t K) {
    const std::string field = "packed bits of " + l.name;
    const uint64_t words = checked_mul(static_cast<uint64_t>(O), static_cast<uint64_t>(bit_words(K)), c.what());
    c.need_array(words, 8, field);
    l.bits.resize(static_cast<size_t>(words));
    for (auto& word : l.bits) word = c.u64(field);
    // Bits past K in each row's last word must be 0: the popcount kernels count them.
    const int64_t wpr = bit_words(K);
    const uint64_t pad = K % 64 ? ~uint64_t{0} << (K % 64) : 0;
    for (int64_t row = 0; row < O; ++row)
      if (l.bits[static_cast<size_t>((row + 1) * wpr - 1)] & pad)
        c.fail(field, "row " + std::to_string(row) + " has padding bits set past K = " + std::to_string(K) + " (expected 0)");
    l.K = K;
    l.out = O;
  };
  auto thresholds = [&](Layer& l, int64_t O) {
    const std::string field = "thresholds of " + l.name;
    c.need_array(static_cast<uint64_t>(O) + static_cast<uint64_t>(2 * bit_words(O)), 4, field);
    l.th.O = O;
    l.th.t.resize(static_cast<size_t>(O));
    for (auto& t : l.th.t) t = static_cast<int32_t>(c.u32(field));
    l.th.flip.resize(static_cast<size_t>(bit_words(O)));
    for (auto& f : l.th.flip) f = c.u64(field);
    if (O % 64 && (l.th.flip.back() & (~uint64_t{0} << (O % 64))))
      c.fail(field, "flip bits set past O = " + std::to_string(O) + " (expected 0)");
  };

  for (int i = 0; i < 3; ++i) net.input_.push_back(dim(i == 0 ? "input C" : i == 1 ? "input H" : "input W"));
  if (numel_of(net.input_) > (int64_t{1} << 26))
    c.fail("input W", "expected an input image of at most 2^26 values, found " + shape_of(net.input_));
  if (count < 1 || count > 4096) c.fail_at(12, "layer count", "expected 1 .. 4096 layers, found " + std::to_string(count));
  std::vector<int64_t> shape = net.input_;  // one image, as it reaches the next layer
  bool bits = false;
  for (uint32_t r = 0; r < count; ++r) {
    const size_t at = c.pos();
    const uint32_t kind = c.u32("layer kind");
    const uint32_t last = version == 3 ? static_cast<uint32_t>(Kind::bit_linear) : static_cast<uint32_t>(Kind::binary_res_block);
    if (kind > last)
      c.fail_at(at, "layer kind", "layer " + std::to_string(r) + ": expected a kind 0 .. " + std::to_string(last) +
                                      " (version " + std::to_string(version) + "), found " + std::to_string(kind));
    Layer l;
    l.kind = static_cast<Kind>(kind);
    l.name = c.str_u32("layer name");
    l.in = shape;
    l.in_bits = bits;
    auto fail = [&](const std::string& want) {
      c.fail_at(at, "layer", "layer " + std::to_string(r) + " (" + kind_name(l.kind) + " " + l.name + "): expected " + want +
                             ", found " + (bits ? "bits " : "real ") + shape_of(shape));
    };
    auto image = [&]() { if (shape.size() != 3) fail("an image [C, H, W]"); };
    auto real = [&]() { if (bits) fail("a real input"); };
    auto on_bits = [&]() { if (!bits) fail("a bit input"); };
    switch (l.kind) {
      case Kind::conv: {
        real(), image();
        l.out = dim("conv O");
        const int64_t KH = dim("conv KH"), KW = dim("conv KW"), S = dim("conv stride"), P = dim("conv pad", 0);
        l.g = ConvGeom{shape[0], shape[1], shape[2], KH, KW, S, S, P, P};
        if (shape[1] + 2 * P < KH || shape[2] + 2 * P < KW) fail("an image the " + std::to_string(KH) + "x" + std::to_string(KW) + " kernel fits");
        std::vector<float> w, b;
        floats(w, checked_mul(static_cast<uint64_t>(l.out * shape[0]), static_cast<uint64_t>(KH * KW), c.what()), "conv weight of " + l.name);
        floats(b, static_cast<uint64_t>(l.out), "conv bias of " + l.name);
        l.weight = Tensor({l.out, shape[0], KH, KW}, std::move(w));
        l.bias = Tensor({l.out}, std::move(b));
        shape = {l.out, l.g.OH(), l.g.OW()};
        break;
      }
      case Kind::batch_norm:
        real();
        l.eps = c.f32("batch norm eps");
        if (!(l.eps > 0.0f && l.eps < 1.0f)) c.fail("batch norm eps", "expected 0 < eps < 1, found " + std::to_string(l.eps));
        for (auto* v : {&l.gamma, &l.beta, &l.mean, &l.var}) floats(*v, static_cast<uint64_t>(shape[0]), "batch norm of " + l.name);
        l.istd = bn_inv_std(l.var, l.eps);
        break;
      case Kind::relu: real(); break;
      case Kind::max_pool:
      case Kind::or_pool:
        if (l.kind == Kind::max_pool) real(); else on_bits();
        image();
        l.out = dim("pool k");
        if (l.out > shape[1] || l.out > shape[2]) fail("an image of at least " + std::to_string(l.out) + "x" + std::to_string(l.out));
        shape = {shape[0], shape[1] / l.out, shape[2] / l.out};
        break;
      case Kind::flatten: {
        int64_t f = 1;
        for (int64_t d : shape) f *= d;
        shape = {f};
        break;
      }
      case Kind::sign: {
        real();
        const int64_t C = shape[0];
        floats(l.rth.tau, static_cast<uint64_t>(C), "thresholds of " + l.name);
        c.need_array(static_cast<uint64_t>(bit_words(C)), 8, "thresholds of " + l.name);
        l.rth.C = C;
        l.rth.down.resize(static_cast<size_t>(bit_words(C)));
        for (auto& d : l.rth.down) d = c.u64("thresholds of " + l.name);
        if (C % 64 && (l.rth.down.back() & (~uint64_t{0} << (C % 64))))
          c.fail("thresholds of " + l.name, "direction bits set past C = " + std::to_string(C) + " (expected 0)");
        bits = true;
        break;
      }
      case Kind::binary_conv:
      case Kind::bit_conv: {
        if (l.kind == Kind::binary_conv) real(); else on_bits();
        image();
        const int64_t O = dim("binary conv O"), k = dim("binary conv k");
        l.mode = c.u32("binary conv mode");
        if (l.mode > (l.kind == Kind::binary_conv ? 2u : 1u)) c.fail("binary conv mode", "expected a known scale / output mode, found " + std::to_string(l.mode));
        if (k > shape[1] || k > shape[2]) fail("an image the " + std::to_string(k) + "x" + std::to_string(k) + " kernel fits");
        l.g = ConvGeom{shape[0], shape[1], shape[2], k, k, 1, 1, 0, 0};
        const int64_t P = l.g.OH() * l.g.OW();
        packed_rows(l, O, shape[0] * k * k);
        if (l.kind == Kind::bit_conv && l.mode == 1) {
          thresholds(l, O);
        } else {
          floats(l.scale, static_cast<uint64_t>(l.kind == Kind::binary_conv && l.mode == 2 ? O * P : O), "scale of " + l.name);
        }
        if (l.kind == Kind::binary_conv && l.mode == 2) net.xnorpp_ = true;
        bits = l.kind == Kind::bit_conv && l.mode == 1;
        shape = {O, l.g.OH(), l.g.OW()};
        break;
      }
      case Kind::binary_linear:
      case Kind::bit_linear: {
        if (l.kind == Kind::binary_linear) real(); else on_bits();
        if (shape.size() != 1) fail("features [F]");
        const int64_t O = dim("binary linear O");
        l.mode = c.u32("binary linear mode");
        if (l.mode > (l.kind == Kind::binary_linear ? 2u : 1u)) c.fail("binary linear mode", "expected a known scale / output mode, found " + std::to_string(l.mode));
        l.g = ConvGeom{shape[0], 1, 1, 1, 1, 1, 1, 0, 0};  // the 1×1 case: β is the mean |x| of the row
        packed_rows(l, O, shape[0]);
        if (l.kind == Kind::bit_linear && l.mode == 1) thresholds(l, O);
        else floats(l.scale, static_cast<uint64_t>(O), "scale of " + l.name);
        if (l.kind == Kind::binary_linear && l.mode == 2) net.xnorpp_ = true;
        bits = l.kind == Kind::bit_linear && l.mode == 1;
        shape = {O};
        break;
      }
      case Kind::binary_res_block: {
        real(), image();
        const int64_t O = dim("res block O"), k = dim("res block k"), pad = dim("res block pad", 0);
        l.mode = c.u32("res block scale");
        if (l.mode > 2) c.fail("res block scale", "expected 0 (alpha*K), 1 (alpha) or 2 (Gamma), found " + std::to_string(l.mode));
        if (O != shape[0]) fail("a block of " + std::to_string(O) + " channels in and out (the identity shortcut)");
        if (2 * pad != k - 1) c.fail("res block pad", "expected 'same' padding (k - 1) / 2 for k = " + std::to_string(k) + ", found " + std::to_string(pad));
        l.g = ConvGeom{shape[0], shape[1], shape[2], k, k, 1, 1, pad, pad};
        l.eps = c.f32("res block eps");
        if (!(l.eps > 0.0f && l.eps < 1.0f)) c.fail("res block eps", "expected 0 < eps < 1, found " + std::to_string(l.eps));
        for (auto* v : {&l.gamma, &l.beta, &l.mean, &l.var}) floats(*v, static_cast<uint64_t>(shape[0]), "batch norm of " + l.name);
        l.istd = bn_inv_std(l.var, l.eps);
        packed_rows(l, O, shape[0] * k * k);
        floats(l.scale, static_cast<uint64_t>(l.mode == 2 ? O * shape[1] * shape[2] : O), "scale of " + l.name);
        if (l.mode == 2) net.xnorpp_ = true;
        break;  // the shape is unchanged
      }
      case Kind::linear:
        real();
        if (shape.size() != 1) fail("features [F]");
        l.out = dim("linear O");
        std::vector<float> w, b;
        floats(w, checked_mul(static_cast<uint64_t>(l.out), static_cast<uint64_t>(shape[0]), c.what()), "linear weight of " + l.name);
        floats(b, static_cast<uint64_t>(l.out), "linear bias of " + l.name);
        l.weight = Tensor({l.out, shape[0]}, std::move(w));
        l.bias = Tensor({l.out}, std::move(b));
        shape = {l.out};
        break;
    }
    // No activation of more than 2^26 values per image, whatever the sizes multiply to (the
    // runner allocates N times this).
    if (numel_of(shape) > (int64_t{1} << 26)) fail("an output of at most 2^26 values per image (the output is " + shape_of(shape) + ")");
    l.out_shape = shape;
    l.out_bits = bits;
    net.layers_.push_back(std::move(l));
  }
  if (c.remaining() != 0)
    c.fail("end", "expected the end of the payload, found " + std::to_string(c.remaining()) + " more bytes");
  if (bits || shape.size() != 1)
    throw std::runtime_error(c.what() + ": expected real logits [classes] after the last layer, found " +
                             (bits ? "bits " : "real ") + shape_of(shape));
  return net;
}

int64_t PackedBinaryNet::ops_per_image() const {
  int64_t ops = 0;
  for (const Layer& l : layers_) {
    // only the conv kinds have a geometry (the others keep ConvGeom{}, stride 0)
    const bool conv = l.kind == Kind::conv || l.kind == Kind::binary_conv || l.kind == Kind::bit_conv;
    const int64_t P = conv ? l.g.OH() * l.g.OW() : 1;
    switch (l.kind) {
      case Kind::conv: ops += l.out * P * l.g.C * l.g.KH * l.g.KW; break;
      case Kind::binary_conv:
      case Kind::bit_conv: ops += l.out * P * bit_words(l.K); break;
      case Kind::binary_res_block: ops += l.out * l.g.H * l.g.W * (bit_words(l.K) + 2); break;  // + BN and the add
      case Kind::binary_linear:
      case Kind::bit_linear: ops += l.out * bit_words(l.K); break;
      case Kind::linear: ops += l.out * l.in[0]; break;
      default: ops += numel_of(l.out_shape); break;
    }
  }
  return ops;
}

int64_t PackedBinaryNet::binary_weight_bytes() const {
  int64_t bytes = 0;
  for (const Layer& l : layers_) bytes += 8 * static_cast<int64_t>(l.bits.size());
  return bytes;
}

// ---- inference -----------------------------------------------------------------------------------
namespace {

using Layer = PackedBinaryNet::Layer;

// An activation between two layers: real (a Tensor [N, ...]) or HWC bits, N images of `stride`
// words. `owned`: f was made by a layer of this forward (not the caller's input), so the next
// layer may overwrite it in place (batch norm, ReLU) instead of allocating another tensor.
struct Act {
  Tensor f;
  std::vector<uint64_t> b;
  int64_t N = 0, stride = 0;
  bool owned = false;
};
// Words per image of a bit activation of shape s ([C, H, W] or [F]): H·W pixels of ⌈C/64⌉ words.
int64_t bit_image_words(const std::vector<int64_t>& s) {
  return s.size() == 3 ? s[1] * s[2] * bit_words(s[0]) : bit_words(s[0]);
}
Shape batch_shape(int64_t N, const std::vector<int64_t>& s) {
  Shape out{N};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// Scratch buffers reused from call to call (one set per thread: parallel_for's workers each get
// their own). A std::vector sized per call zero-fills what the kernel overwrites anyway — for
// conv1's im2col matrix (57 KB) that fill cost as much as the im2col itself (book 23).
template <class T>
T* scratch(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// A real convolution: the conv2d op's forward (im2col + sgemm + bias_add_channels per image, the
// same calls in the same order, so the same floats) without the autograd node or a zeroed buffer.
Tensor conv_real(const Layer& l, const Tensor& X) {
  const ConvGeom& g = l.g;
  const int64_t N = X.dim(0), O = l.out, P = g.OH() * g.OW(), Kc = g.C * g.KH * g.KW, img = g.C * g.H * g.W;
  const bool pointwise = g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0;
  Tensor Y = Tensor::uninit({N, O, g.OH(), g.OW()});
  parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    thread_local std::vector<float> col_buf;
    float* col = pointwise ? nullptr : scratch(col_buf, Kc * P);
    for (int64_t n = lo; n < hi; ++n) {
      const float* xn = X.data() + n * img;
      if (!pointwise) im2col(g, xn, col);
      float* yn = Y.data() + n * O * P;
      sgemm(Trans::N, Trans::N, O, P, Kc, 1.0f, l.weight.data(), Kc, pointwise ? xn : col, P, 0.0f, yn, P);
      bias_add_channels(yn, l.bias.data(), 1, O, P);
    }
  });
  return Y;
}

// Eval-mode batch norm with the batch_norm op's arithmetic, in the same order: y = γ·((x − μ)·istd) + β.
void batch_norm_real(const Layer& l, const float* x, float* y, int64_t N, int64_t C, int64_t S) {
  if (S == 1) {  // features [N, C]: the channel loop innermost, contiguous (it vectorises)
    const float *mu = l.mean.data(), *is = l.istd.data(), *gm = l.gamma.data(), *bt = l.beta.data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const float h = (x[n * C + c] - mu[c]) * is[c];
        y[n * C + c] = gm[c] * h + bt[c];
      }
    return;
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float mu = l.mean[static_cast<size_t>(c)], is = l.istd[static_cast<size_t>(c)];
      const float gm = l.gamma[static_cast<size_t>(c)], bt = l.beta[static_cast<size_t>(c)];
      const float* xc = x + (n * C + c) * S;
      float* yc = y + (n * C + c) * S;
      for (int64_t i = 0; i < S; ++i) {
        const float h = (xc[i] - mu) * is;
        yc[i] = gm * h + bt;
      }
    }
}

// im2col on bits, xnor + popcount, then the scales: y = α_o·K_p·z (or Γ_op)
Tensor binary_conv_real(const Layer& l, const Tensor& H) {
  const ConvGeom& g = l.g;
  const int64_t N = H.dim(0), O = l.out, Kd = l.K, P = g.OH() * g.OW(), img = g.C * g.H * g.W;
  Tensor Y = Tensor::uninit({N, O, g.OH(), g.OW()});
  parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    thread_local std::vector<uint64_t> in_buf;
    thread_local std::vector<int32_t> z_buf;
    thread_local std::vector<float> K_buf;
    uint64_t* in = scratch(in_buf, P * bit_words(Kd));
    int32_t* z = scratch(z_buf, O * P);
    float* K = scratch(K_buf, P);
    std::fill(K, K + P, 1.0f);  // no β (scale 1): y = α_o·z
    for (int64_t n = lo; n < hi; ++n) {
      const float* hn = H.data() + n * img;
      im2col_pack_signs(g, hn, in);
      if (l.mode == 0) xnor_beta_map(g, hn, K);
      bgemm(O, P, Kd, l.bits.data(), in, z, P);
      float* y = Y.data() + n * O * P;
      for (int64_t o = 0; o < O; ++o)
        for (int64_t p = 0; p < P; ++p) {
          const size_t i = static_cast<size_t>(o * P + p);
          const float s = l.mode == 2 ? l.scale[i] : K[p] * l.scale[static_cast<size_t>(o)];
          y[o * P + p] = s * static_cast<float>(z[i]);
        }
    }
  });
  return Y;
}

// Each image is one packed row; C[O × N] = bgemm(weights, images), then α_o·K_n (K_n = mean |x_n|)
Tensor binary_linear_real(const Layer& l, const Tensor& X) {
  const int64_t N = X.dim(0), O = l.out, Kd = l.K;
  std::vector<uint64_t> in(static_cast<size_t>(N * bit_words(Kd)));
  pack_signs_rows(X.data(), N, Kd, Kd, in.data());
  std::vector<float> K(static_cast<size_t>(N), 1.0f);
  if (l.mode == 0)
    for (int64_t n = 0; n < N; ++n) xnor_beta_map(l.g, X.data() + n * Kd, K.data() + n);
  std::vector<int32_t> z(static_cast<size_t>(O * N));
  bgemm(O, N, Kd, l.bits.data(), in.data(), z.data(), N);
  Tensor Y = Tensor::uninit({N, O});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      Y[n * O + o] = K[static_cast<size_t>(n)] * l.scale[static_cast<size_t>(o)] * static_cast<float>(z[static_cast<size_t>(o * N + n)]);
  return Y;
}

// The popcount results z [rows × O] of a bit layer → bits (thresholds) or real y = s_o·z.
void bit_outputs(const Layer& l, const int32_t* z, int64_t rows, uint64_t* bits_out, float* real_out, int64_t real_stride_o,
                 int64_t real_stride_r) {
  const int64_t O = l.out;
  if (l.mode == 1) return sign_threshold_rows(z, rows, O, l.th, bits_out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < O; ++o)
      real_out[o * real_stride_o + r * real_stride_r] = l.scale[static_cast<size_t>(o)] * static_cast<float>(z[r * O + o]);
}

Act run_layer(const Layer& l, Act a) {
  const int64_t N = a.N;
  Act out;
  out.N = N;
  out.owned = true;
  if (l.out_bits) {
    out.stride = bit_image_words(l.out_shape);
    out.b.resize(static_cast<size_t>(N * out.stride));  // every word is written by the layer's kernel
  }
  switch (l.kind) {
    case Kind::conv: out.f = conv_real(l, a.f); break;
    case Kind::batch_norm: {
      const int64_t C = l.in[0], S = numel_of(l.in) / C;
      out.f = a.owned ? a.f : Tensor::uninit(a.f.shape());  // in place on a tensor this forward made
      batch_norm_real(l, a.f.data(), out.f.data(), N, C, S);
      break;
    }
    case Kind::relu:
      out.f = a.owned ? a.f : Tensor::uninit(a.f.shape());
      relu_forward(a.f.data(), out.f.data(), a.f.numel());
      break;
    case Kind::max_pool: out.f = max_pool2d(Var(a.f), l.out, l.out).value(); break;
    case Kind::flatten:
      if (!l.in_bits) {
        out.f = flatten(Var(a.f)).value();
        out.owned = a.owned;  // a view of the same storage
      } else if (l.in.size() == 3) {  // the pixels in (h, w, c) order: one row per image
        for (int64_t n = 0; n < N; ++n)
          im2col_bits(a.b.data() + n * a.stride, l.in[1], l.in[2], l.in[0], l.in[1], l.in[2], out.b.data() + n * out.stride);
      } else {
        out.b = std::move(a.b);
      }
      break;
    case Kind::sign: {  // real [N, C, (H, W)] → HWC bits (a batch norm before it folded into rth)
      const int64_t C = l.in[0], S = numel_of(l.in) / C;
      for (int64_t n = 0; n < N; ++n) sign_pack_chw(a.f.data() + n * C * S, C, S, l.rth, out.b.data() + n * out.stride);
      break;
    }
    case Kind::or_pool:
      for (int64_t n = 0; n < N; ++n)
        or_pool_bits(a.b.data() + n * a.stride, l.in[1], l.in[2], bit_words(l.in[0]), l.out, out.b.data() + n * out.stride);
      break;
    case Kind::binary_conv: out.f = binary_conv_real(l, a.f); break;
    case Kind::binary_res_block: {  // x + s ⊙ (sign(BN(x)) ⊛ sign(W)), in the block's order: BN, conv, then x + branch
      const int64_t C = l.in[0], S = l.in[1] * l.in[2];
      Tensor h = Tensor::uninit(a.f.shape());
      batch_norm_real(l, a.f.data(), h.data(), N, C, S);
      out.f = binary_conv_real(l, h);
      const float* x = a.f.data();
      float* y = out.f.data();
      for (int64_t i = 0; i < out.f.numel(); ++i) y[i] = x[i] + y[i];  // add(x, branch): the real shortcut
      break;
    }
    case Kind::binary_linear: out.f = binary_linear_real(l, a.f); break;
    case Kind::bit_conv: {  // C[P × O] = bgemm(receptive fields, weights): pixel-major, as the next layer wants
      const int64_t P = l.g.OH() * l.g.OW(), O = l.out;
      if (!l.out_bits) out.f = Tensor::uninit({N, O, l.g.OH(), l.g.OW()});
      thread_local std::vector<uint64_t> cols_buf;
      thread_local std::vector<int32_t> z_buf;
      uint64_t* cols = scratch(cols_buf, P * bit_words(l.K));
      int32_t* z = scratch(z_buf, P * O);
      for (int64_t n = 0; n < N; ++n) {
        im2col_bits(a.b.data() + n * a.stride, l.g.H, l.g.W, l.g.C, l.g.KH, l.g.KW, cols);
        bgemm(P, O, l.K, cols, l.bits.data(), z, O);
        bit_outputs(l, z, P, l.out_bits ? out.b.data() + n * out.stride : nullptr,
                    l.out_bits ? nullptr : out.f.data() + n * O * P, P, 1);
      }
      break;
    }
    case Kind::bit_linear: {  // C[N × O] = bgemm(images, weights)
      const int64_t O = l.out;
      thread_local std::vector<int32_t> z_buf;
      int32_t* z = scratch(z_buf, N * O);
      bgemm(N, O, l.K, a.b.data(), l.bits.data(), z, O);
      if (!l.out_bits) out.f = Tensor::uninit({N, O});
      bit_outputs(l, z, N, l.out_bits ? out.b.data() : nullptr, l.out_bits ? nullptr : out.f.data(), 1, O);
      break;
    }
    case Kind::linear: {  // the linear op's forward: sgemm(x, Wᵀ) + bias, without the autograd node
      const int64_t F = l.in[0], O = l.out;
      out.f = Tensor::uninit({N, O});
      sgemm(Trans::N, Trans::T, N, O, F, 1.0f, a.f.data(), F, l.weight.data(), F, 0.0f, out.f.data(), O);
      bias_add_rows(out.f.data(), l.bias.data(), N, O);
      break;
    }
  }
  return out;
}

}  // namespace

Tensor PackedBinaryNet::forward(const Tensor& x, std::vector<double>* layer_us, bool cpu_time) const {
  const Shape want = batch_shape(x.ndim() == 4 ? x.dim(0) : 0, input_);
  if (x.ndim() != 4 || x.shape() != want) shape_error("PackedBinaryNet", "images " + shape_str(batch_shape(-1, input_)).replace(1, 2, "N"), x.shape());
  NoGradGuard ng;
  if (layer_us) layer_us->resize(layers_.size(), 0.0);
  Act a;
  a.f = x;
  a.N = x.dim(0);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const double t0 = layer_us ? now_us(cpu_time) : 0.0;
    a = run_layer(layers_[i], std::move(a));
    if (layer_us) (*layer_us)[i] += now_us(cpu_time) - t0;
  }
  return a.f;
}

// ---- evaluation ------------------------------------------------------------------------------------
PackedEval evaluate_packed(const PackedBinaryNet& net, const Dataset& data, const Tensor* reference, int64_t batch) {
  PackedEval r;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 0; b < data.size(); b += batch) {
    const int64_t n = std::min(batch, data.size() - b);
    Dataset part = data.slice(b, n);
    Tensor logits = net.forward(part.images);
    r.errors += count_errors(logits, part.labels);
    if (reference) {  // predictions of the simulation, as labels
      const int64_t classes = reference->dim(1);
      std::vector<int32_t> ref(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        int32_t best = 0;
        for (int32_t j = 1; j < classes; ++j)
          if ((*reference)[(b + i) * classes + j] > (*reference)[(b + i) * classes + best]) best = j;
        ref[static_cast<size_t>(i)] = best;
      }
      r.disagreements += count_errors(logits, ref);
    }
  }
  r.count = data.size();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace mgf
