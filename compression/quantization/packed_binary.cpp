// compression/quantization/packed_binary.cpp — the .xnor file and the packed inference. The
// layout is documented once, above export_packed in packed_binary.h. Fields go through
// ByteWriter / ByteReader (engine/io/bytes.h), so the file is little-endian on every host and
// every read is checked against the bytes left; the checksum is crc32() (engine/io/crc32.h).
#include "compression/quantization/packed_binary.h"

#include <algorithm>
#include <iterator>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "compression/quantization/binary_gemm.h"
#include "compression/quantization/bitpack.h"
#include "compression/quantization/xnor.h"
#include "compression/quantization/xnorpp.h"
#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/ops.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/norm.h"

namespace mgf {
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

// The network a .xnor file holds: BinaryLeNet5 in B-A-C-P order (binary_lenet5.h), on MNIST-sized
// images. Sizes are not here: every layer takes them from its records and the shape reaching it.
using Kind = PackedBinaryNet::Kind;
struct LayoutStep {
  Kind kind;
  const char* name;
};
constexpr LayoutStep kLayout[] = {
    {Kind::conv, "conv1"},   {Kind::batch_norm, "bn1"},        {Kind::relu, ""},        {Kind::max_pool, ""},
    {Kind::batch_norm, "bn2"}, {Kind::binary_conv, "conv2"},   {Kind::max_pool, ""},    {Kind::flatten, ""},
    {Kind::batch_norm, "bn3"}, {Kind::binary_linear, "fc1"},   {Kind::batch_norm, "bn4"}, {Kind::relu, ""},
    {Kind::linear, "fc2"}};
constexpr int64_t kInput[3] = {1, 28, 28};  // C, H, W of one image
constexpr int64_t kPool = 2;                // every max-pool: 2×2, stride 2
constexpr int64_t kClasses = 10;

}  // namespace

int64_t export_packed(BinaryLeNet5& m, const std::string& path) {
  const BinaryNetConfig& c = m.config();
  const bool pp = c.mode == BinaryMode::xnorpp;
  if (!c.bacp())
    throw std::invalid_argument("export_packed: expected an XNOR B-A-C-P or XNOR++ model, found " + c.name());
  ByteWriter payload;
  uint32_t count = 0;
  auto floats = [&](const std::string& name, const Tensor& t) { put_floats(payload, name, t), ++count; };
  // meta: {XNOR-Net++?, β used?, α used?, Γ case}
  Tensor meta({4}, {pp ? 1.0f : 0.0f, (!pp && c.use_beta) ? 1.0f : 0.0f, c.use_alpha ? 1.0f : 0.0f,
                    static_cast<float>(c.gamma_case)});
  floats("meta", meta);
  floats("conv1.weight", m.conv1->weight.var.value());
  floats("conv1.bias", m.conv1->bias->var.value());
  for (const char* name : {"bn1", "bn2", "bn3", "bn4"}) {
    BatchNorm& b = m.at<BatchNorm>(name);
    floats(std::string(name) + ".gamma", b.weight.var.value());
    floats(std::string(name) + ".beta", b.bias.var.value());
    floats(std::string(name) + ".mean", b.running_mean);
    floats(std::string(name) + ".var", b.running_var);
  }
  auto binary = [&](const std::string& name, const BinaryLayer& l) {
    const Tensor& W = l.weight.var.value();
    const int64_t OH = l.options.out_h, OW = l.options.out_w;
    const int64_t O = W.dim(0), K = W.numel() / O;
    PackedSigns bits = PackedSigns::from_rows(W.data(), O, K);  // B = sign(W), 1 bit per weight
    put_header(payload, name + ".bits", 1, {O, K});
    for (uint64_t word : bits.bits) payload.u64(word);
    ++count;
    if (pp) {  // Γ materialised once: one multiply per output at inference
      std::vector<Tensor> f;
      for (Parameter* p : l.gamma) f.push_back(p->var.value());
      floats(name + ".scale", gamma_full(c.gamma_case, f, O, OH, OW));
    } else {
      std::vector<float> a = c.use_alpha ? bwn_alpha(W) : std::vector<float>(static_cast<size_t>(O), 1.0f);
      floats(name + ".scale", Tensor({O, 1}, a));
    }
  };
  binary("conv2", *m.conv2);
  binary("fc1", *m.fc1);
  floats("fc2.weight", m.fc2->weight.var.value());
  floats("fc2.bias", m.fc2->bias->var.value());

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
  // every one it reads must exist with exactly the kind and shape it assumes. Walk the layout
  // from the input shape: each layer's records fix its output size (c1, c2, fc, kernel sizes),
  // and must agree with the shape that reaches it.
  auto find = [&](const std::string& rn) -> size_t {
    for (size_t i = 0; i < net.recs_.size(); ++i)
      if (net.recs_[i].first == rn) return i;
    throw std::runtime_error(c.what() + ": expected a record named " + rn + ", found none");
  };
  auto expect = [&](const std::string& rn, uint32_t kind, const std::vector<int64_t>& want) -> size_t {
    const size_t i = find(rn);
    const Rec& r = net.recs_[i].second;
    if (r.dims != want || (kind == 1) != r.f.empty())
      throw std::runtime_error(c.what() + ": record " + rn + ": expected " + (kind ? "packed signs " : "fp32 ") +
                               shape_str(want) + ", found " + (r.f.empty() ? "packed signs " : "fp32 ") +
                               shape_str(r.dims));
    return i;
  };
  // The dims of a record, checked for rank only (its sizes are what the layer learns from it).
  auto dims_of = [&](const std::string& rn, size_t nd) -> const std::vector<int64_t>& {
    const std::vector<int64_t>& d = net.recs_[find(rn)].second.dims;
    if (d.size() != nd)
      throw std::runtime_error(c.what() + ": record " + rn + ": expected " + std::to_string(nd) + " dims, found " +
                               shape_str(d));
    return d;
  };
  const Rec& meta = net.recs_[expect("meta", 0, {4})].second;
  net.xnorpp_ = meta.f[0] != 0.0f;
  net.use_beta_ = meta.f[1] != 0.0f;
  std::vector<int64_t> shape(std::begin(kInput), std::end(kInput));  // one image: [C, H, W] or [features]
  auto fail_shape = [&](const std::string& layer, const std::string& want) {
    throw std::runtime_error(c.what() + ": layer " + layer + ": expected an input " + want + ", found " +
                             shape_str(shape));
  };
  for (const LayoutStep& s : kLayout) {
    Layer l{s.kind, s.name, {}, 0, {}};
    const std::string n = s.name;
    switch (s.kind) {
      case Kind::conv: {  // real, stride 1, no padding
        if (shape.size() != 3) fail_shape(n, "[C, H, W]");
        const std::vector<int64_t>& d = dims_of(n + ".weight", 4);
        l.g = ConvGeom{shape[0], shape[1], shape[2], d[2], d[3], 1, 1, 0, 0};
        if (l.g.OH() < 1 || l.g.OW() < 1) fail_shape(n, "at least " + std::to_string(d[2]) + "×" + std::to_string(d[3]));
        l.out = d[0];
        l.recs = {expect(n + ".weight", 0, {l.out, shape[0], d[2], d[3]}), expect(n + ".bias", 0, {l.out})};
        shape = {l.out, l.g.OH(), l.g.OW()};
        break;
      }
      case Kind::batch_norm:
        for (const char* f : {".gamma", ".beta", ".mean", ".var"}) l.recs.push_back(expect(n + f, 0, {shape[0]}));
        break;
      case Kind::relu: break;
      case Kind::max_pool:
        if (shape.size() != 3 || shape[1] < kPool || shape[2] < kPool) fail_shape("max-pool", "[C, H, W] of at least 2×2");
        l.out = kPool;
        shape = {shape[0], shape[1] / kPool, shape[2] / kPool};
        break;
      case Kind::flatten:
        shape = {shape[0] * (shape.size() == 3 ? shape[1] * shape[2] : 1)};
        break;
      case Kind::binary_conv: {  // packed rows [O, C·k·k], square kernel, stride 1, no padding
        if (shape.size() != 3) fail_shape(n, "[C, H, W]");
        const std::vector<int64_t>& d = dims_of(n + ".bits", 2);
        int64_t k = 1;
        while (k * k * shape[0] < d[1]) ++k;
        if (k * k * shape[0] != d[1] || k > shape[1] || k > shape[2])
          throw std::runtime_error(c.what() + ": record " + n + ".bits: expected [O, C·k·k] with C = " +
                                   std::to_string(shape[0]) + " and a square k×k kernel that fits " +
                                   shape_str(shape) + ", found " + shape_str(d));
        l.g = ConvGeom{shape[0], shape[1], shape[2], k, k, 1, 1, 0, 0};
        l.out = d[0];
        const int64_t P = l.g.OH() * l.g.OW();
        l.recs = {expect(n + ".bits", 1, {l.out, d[1]}), expect(n + ".scale", 0, {l.out, net.xnorpp_ ? P : 1})};
        shape = {l.out, l.g.OH(), l.g.OW()};  // Γ per output pixel, or α per filter
        break;
      }
      case Kind::binary_linear: {  // packed rows [O, in]
        if (shape.size() != 1) fail_shape(n, "[features]");
        const std::vector<int64_t>& d = dims_of(n + ".bits", 2);
        l.g = ConvGeom{shape[0], 1, 1, 1, 1, 1, 1, 0, 0};  // the 1×1 case: β is the mean |x| of the row
        l.out = d[0];
        l.recs = {expect(n + ".bits", 1, {l.out, shape[0]}), expect(n + ".scale", 0, {l.out, 1})};
        shape = {l.out};
        break;
      }
      case Kind::linear:
        if (shape.size() != 1) fail_shape(n, "[features]");
        l.out = kClasses;
        l.recs = {expect(n + ".weight", 0, {l.out, shape[0]}), expect(n + ".bias", 0, {l.out})};
        shape = {l.out};
        break;
    }
    net.layers_.push_back(std::move(l));
  }
  return net;
}

Tensor PackedBinaryNet::tensor(size_t i) const {
  const Rec& r = rec(i);
  return Tensor(Shape(r.dims.begin(), r.dims.end()), r.f);
}

int64_t PackedBinaryNet::binary_weight_bytes() const {
  int64_t bytes = 0;
  for (const Layer& l : layers_)
    if (l.kind == Kind::binary_conv || l.kind == Kind::binary_linear) bytes += 8 * static_cast<int64_t>(rec(l.recs[0]).b.size());
  return bytes;
}

// im2col on bits, xnor + popcount, then the scales: y = α_o·K_p·(K − 2 popcount) (or Γ_op)
Tensor PackedBinaryNet::binary_conv(const Layer& l, const Tensor& H) const {
  const Rec &bits = rec(l.recs[0]), &scale = rec(l.recs[1]);
  const ConvGeom& g = l.g;
  const int64_t N = H.dim(0), C = g.C, O = l.out, Kd = bits.dims[1], P = g.OH() * g.OW(), img = C * g.H * g.W;
  Tensor Y({N, O, g.OH(), g.OW()});
  parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    std::vector<uint64_t> in(static_cast<size_t>(P * bit_words(Kd)));
    std::vector<int32_t> z(static_cast<size_t>(O * P));
    std::vector<float> K(static_cast<size_t>(P), 1.0f);
    for (int64_t n = lo; n < hi; ++n) {
      const float* hn = H.data() + n * img;
      im2col_pack_signs(g, hn, in.data());
      if (!xnorpp_ && use_beta_) xnor_beta_map(g, hn, K.data());
      bgemm(O, P, Kd, bits.b.data(), in.data(), z.data(), P);
      float* y = Y.data() + n * O * P;
      for (int64_t o = 0; o < O; ++o)
        for (int64_t p = 0; p < P; ++p) {
          const float s = xnorpp_ ? scale.f[static_cast<size_t>(o * P + p)] : K[static_cast<size_t>(p)] * scale.f[static_cast<size_t>(o)];
          y[o * P + p] = s * static_cast<float>(z[static_cast<size_t>(o * P + p)]);
        }
    }
  });
  return Y;
}

// Each image is one packed row; C[O × N] = bgemm(weights, images), then α_o·K_n (K_n = mean |x_n|)
Tensor PackedBinaryNet::binary_linear(const Layer& l, const Tensor& X) const {
  const Rec &bits = rec(l.recs[0]), &scale = rec(l.recs[1]);
  const int64_t N = X.dim(0), O = l.out, Kd = bits.dims[1];
  std::vector<uint64_t> in(static_cast<size_t>(N * bit_words(Kd)));
  pack_signs_rows(X.data(), N, Kd, Kd, in.data());
  std::vector<float> K(static_cast<size_t>(N), 1.0f);
  if (!xnorpp_ && use_beta_)
    for (int64_t n = 0; n < N; ++n) xnor_beta_map(l.g, X.data() + n * Kd, K.data() + n);
  std::vector<int32_t> z(static_cast<size_t>(O * N));
  bgemm(O, N, Kd, bits.b.data(), in.data(), z.data(), N);
  Tensor Y({N, O});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      Y[n * O + o] = K[static_cast<size_t>(n)] * scale.f[static_cast<size_t>(o)] * static_cast<float>(z[static_cast<size_t>(o * N + n)]);
  return Y;
}

Tensor PackedBinaryNet::forward(const Tensor& x) const {
  if (x.ndim() != 4 || x.dim(1) != kInput[0] || x.dim(2) != kInput[1] || x.dim(3) != kInput[2])
    shape_error("PackedBinaryNet", "images [N, 1, 28, 28]", x.shape());
  NoGradGuard ng;
  Var h(x);
  for (const Layer& l : layers_) {
    switch (l.kind) {
      case Kind::conv: h = conv2d(h, Var(tensor(l.recs[0])), Var(tensor(l.recs[1]))); break;
      case Kind::batch_norm: {  // the same op as training, in eval mode
        Tensor mean = tensor(l.recs[2]), var = tensor(l.recs[3]);
        h = batch_norm(h, Var(tensor(l.recs[0])), Var(tensor(l.recs[1])), mean, var, false);
        break;
      }
      case Kind::relu: h = relu(h); break;
      case Kind::max_pool: h = max_pool2d(h, l.out, l.out); break;
      case Kind::flatten: h = flatten(h); break;
      case Kind::binary_conv: h = Var(binary_conv(l, h.value())); break;
      case Kind::binary_linear: h = Var(binary_linear(l, h.value())); break;
      case Kind::linear: h = linear(h, Var(tensor(l.recs[0])), Var(tensor(l.recs[1]))); break;
    }
  }
  return h.value();
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

}  // namespace mgf
