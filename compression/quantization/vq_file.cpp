// compression/quantization/vq_file.cpp — see vq_file.h (the .mgfvq file and VqRunner).
#include "compression/quantization/vq_file.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "compression/coding/huffman.h"
#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/file.h"
#include "engine/io/frame.h"
#include "layers/linear.h"

namespace mgf {

static const char kMagic[8] = {'M', 'G', 'F', 'V', 'Q', '\r', '\n', '\x1a'};
static constexpr uint32_t kVersion = 1;
static constexpr int kMaxStages = 16;

Tensor VqTensor::decode() const {
  if (!quantized) return Tensor(shape, values);
  return q.decode();
}

const VqTensor* VqModel::find(const std::string& name) const {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

VqModel make_vq_model(Module& m, const std::vector<std::pair<std::string, VqMatrix>>& quantized, const std::string& arch) {
  VqModel vm;
  vm.arch = arch;
  size_t used = 0;
  for (auto& np : m.named_parameters()) {
    VqTensor t;
    t.name = np.name;
    t.shape = np.param->var.value().shape();
    const VqMatrix* q = nullptr;
    for (auto& [name, mat] : quantized)
      if (name == np.name) q = &mat;
    if (q) {
      if (t.shape.size() != 2 || t.shape[0] != q->rows || t.shape[1] != q->cols)
        throw std::invalid_argument("make_vq_model: '" + np.name + "' is " + shape_str(t.shape) + ", the quantized matrix is " +
                                    std::to_string(q->rows) + " x " + std::to_string(q->cols));
      t.quantized = true;
      t.q = *q;
      ++used;
    } else {
      t.values = np.param->var.value().to_vector();
    }
    vm.tensors.push_back(std::move(t));
  }
  if (used != quantized.size())
    throw std::invalid_argument("make_vq_model: " + std::to_string(quantized.size() - used) + " quantized matrices name no parameter of the model");
  return vm;
}

// ---- writing -----------------------------------------------------------------------------------
std::string serialize_vq(const VqModel& vm, VqFileLayout* layout) {
  ByteWriter w;
  VqFileLayout fl;
  w.str_u8(vm.arch);
  w.u32(static_cast<uint32_t>(vm.tensors.size()));
  fl.header_bytes = static_cast<int64_t>(kFrameHeaderBytes + w.size());
  for (const auto& t : vm.tensors) {
    VqTensorBytes tb;
    tb.name = t.name;
    tb.quantized = t.quantized;
    const size_t t0 = w.size();
    w.str_u8(t.name);
    w.u8(static_cast<uint8_t>(t.shape.size()));
    for (int64_t d : t.shape) w.u32(static_cast<uint32_t>(d));
    w.u8(t.quantized ? 1 : 0);
    if (!t.quantized) {
      if (static_cast<int64_t>(t.values.size()) != shape_numel(t.shape))
        throw std::invalid_argument("serialize_vq: " + t.name + " has " + std::to_string(t.values.size()) + " values, expected " +
                                    std::to_string(shape_numel(t.shape)));
      w.f32s(t.values.data(), t.values.size());
    } else {
      const VqMatrix& q = t.q;
      q.validate("serialize_vq: " + t.name);
      if (t.shape.size() != 2 || t.shape[0] != q.rows || t.shape[1] != q.cols)
        throw std::invalid_argument("serialize_vq: " + t.name + ": shape " + shape_str(t.shape) + " does not match its codes");
      w.u8(static_cast<uint8_t>(q.method));
      w.u8(static_cast<uint8_t>(q.bits));
      w.u8(q.shared ? 1 : 0);
      w.u32(static_cast<uint32_t>(q.seg));
      w.u8(static_cast<uint8_t>(q.stages.size()));
      const HuffmanCode fixed = huffman_canonical(fixed_lengths(q.bits));
      for (const VqStage& st : q.stages) {
        const size_t c0 = w.size();
        w.f32s(st.codebook.data(), st.codebook.size());
        tb.codebook_bytes += static_cast<int64_t>(w.size() - c0);
        // Fixed-width codes: the canonical code of 2^b symbols all of length b is each symbol in
        // binary, so the Huffman writer is a b-bit packer here.
        const BitStream bs = huffman_encode(st.codes, fixed);
        w.bytes(bs.bytes.data(), bs.bytes.size());
        tb.code_bytes += static_cast<int64_t>(bs.bytes.size());
      }
    }
    tb.bytes = static_cast<int64_t>(w.size() - t0);
    fl.tensors.push_back(tb);
  }
  std::string file = frame_write(kMagic, kVersion, w);   // magic, version, length, CRC-32
  fl.file_bytes = static_cast<int64_t>(file.size());
  if (layout) *layout = fl;
  return file;
}

// ---- reading -----------------------------------------------------------------------------------
VqModel parse_vq(const std::string& bytes, const std::string& what, VqFileLayout* layout) {
  // Magic, version, length, checksum, then every field for plausibility (as .mgfdc,
  // compression/deep_compression.cpp): a flipped bit the CRC cannot see still ends in an error.
  ByteReader r = frame_open(bytes, what, kMagic, "MGFVQ\\r\\n\\x1a", "a vector-quantized model", kVersion);
  VqFileLayout fl;
  fl.file_bytes = static_cast<int64_t>(bytes.size());
  VqModel vm;
  vm.arch = r.str_u8("architecture name");
  const uint32_t n = r.u32("tensor count");
  fl.header_bytes = static_cast<int64_t>(r.pos());
  for (uint32_t ti = 0; ti < n; ++ti) {
    VqTensor t;
    VqTensorBytes tb;
    const size_t t0 = r.pos();
    t.name = r.str_u8("tensor " + std::to_string(ti) + " name");
    const std::string f = "tensor '" + t.name + "'";
    const uint32_t nd = r.u8(f + " ndim");
    if (nd < 1 || nd > 4) r.fail_at(r.pos() - 1, f + " ndim", "expected 1 to 4 dims, found " + std::to_string(nd));
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      const uint32_t v = r.u32(f + " shape");
      if (v == 0 || v > (1u << 28)) r.fail_at(r.pos() - 4, f + " shape", "expected a dimension in 1..2^28, found " + std::to_string(v));
      t.shape.push_back(v);
      numel = checked_mul(numel, v, what + ": " + f + " shape");
      if (numel > (uint64_t{1} << 32)) r.fail(f + " shape", "expected at most 2^32 elements, found more");
    }
    const uint32_t kind = r.u8(f + " kind");
    if (kind == 0) {
      r.need_array(numel, 4, f + " values");   // before the allocation
      t.values.resize(static_cast<size_t>(numel));
      r.f32s(t.values.data(), t.values.size(), f + " values");
    } else if (kind == 1) {
      if (nd != 2) r.fail_at(r.pos() - 1, f + " kind", "codes need a 2-D weight, found " + std::to_string(nd) + " dims");
      VqMatrix& q = t.q;
      t.quantized = true;
      q.rows = t.shape[0], q.cols = t.shape[1];
      const uint32_t method = r.u8(f + " method");
      if (method > 3) r.fail_at(r.pos() - 1, f + " method", "expected 0 (binary), 1 (scalar), 2 (pq) or 3 (rq), found " + std::to_string(method));
      q.method = static_cast<VqMethod>(method);
      q.bits = r.u8(f + " bits");
      if (q.bits < 1 || q.bits > 8) r.fail_at(r.pos() - 1, f + " bits", "expected 1..8, found " + std::to_string(q.bits));
      const uint32_t shared = r.u8(f + " shared");
      if (shared > 1) r.fail_at(r.pos() - 1, f + " shared", "expected 0 or 1, found " + std::to_string(shared));
      q.shared = shared == 1;
      const uint32_t d = r.u32(f + " segment width");
      if (d < 1 || d > q.cols || (q.shared && d != 1))
        r.fail_at(r.pos() - 4, f + " segment width", "expected " + std::string(q.shared ? "1 (shared codebook)" : "1.." + std::to_string(q.cols)) +
                                                      ", found " + std::to_string(d));
      q.seg = d;
      const uint32_t t_stages = r.u8(f + " stages");
      if (t_stages < 1 || t_stages > kMaxStages)
        r.fail_at(r.pos() - 1, f + " stages", "expected 1.." + std::to_string(kMaxStages) + ", found " + std::to_string(t_stages));
      // The method must agree with the fields (binary: 1 bit, shared; scalar: shared, 1 stage;
      // pq: per-segment codebooks, 1 stage; rq: per-segment codebooks).
      const bool fits = (q.method == VqMethod::binary && q.bits == 1 && q.shared && t_stages == 1) ||
                        (q.method == VqMethod::scalar && q.shared && t_stages == 1) ||
                        (q.method == VqMethod::product && !q.shared && t_stages == 1) ||
                        (q.method == VqMethod::residual && !q.shared);
      if (!fits)
        r.fail(f + " method", std::string("method ") + vq_method_name(q.method) + " does not fit bits = " + std::to_string(q.bits) +
                                  ", shared = " + std::to_string(shared) + ", stages = " + std::to_string(t_stages));
      const uint64_t code_bits = checked_mul(static_cast<uint64_t>(q.segments()) * static_cast<uint64_t>(q.rows),
                                             static_cast<uint64_t>(q.bits), what + ": " + f + " codes");
      const std::vector<uint8_t> lengths = fixed_lengths(q.bits);
      for (uint32_t s = 0; s < t_stages; ++s) {
        const std::string fs = f + " stage " + std::to_string(s);
        VqStage st;
        r.need_array(static_cast<uint64_t>(q.codebook_floats()), 4, fs + " codebook");
        const size_t c0 = r.pos();
        st.codebook.resize(static_cast<size_t>(q.codebook_floats()));
        r.f32s(st.codebook.data(), st.codebook.size(), fs + " codebook");
        for (size_t i = 0; i < st.codebook.size(); ++i)
          if (!std::isfinite(st.codebook[i])) r.fail_at(c0 + 4 * i, fs + " codebook", "expected finite floats, found " + std::to_string(st.codebook[i]));
        tb.codebook_bytes += static_cast<int64_t>(r.pos() - c0);
        const size_t nbytes = r.need_array((code_bits + 7) / 8, 1, fs + " codes");
        const size_t at = r.pos();
        const uint8_t* p = r.bytes(nbytes, fs + " codes");
        if (code_bits % 8 != 0 && (p[nbytes - 1] & ((1u << (8 - code_bits % 8)) - 1)) != 0)
          r.fail_at(at + nbytes - 1, fs + " codes", "expected zero padding bits after the last code, found byte " + std::to_string(p[nbytes - 1]));
        BitStream bs;
        bs.bytes.assign(p, p + nbytes);
        bs.nbits = code_bits;
        try {
          st.codes = huffman_decode(bs, lengths, static_cast<int64_t>(code_bits / static_cast<uint64_t>(q.bits)));
        } catch (const std::runtime_error& e) {
          r.fail_at(at, fs + " codes", e.what());
        }
        tb.code_bytes += static_cast<int64_t>(nbytes);
        q.stages.push_back(std::move(st));
      }
    } else {
      r.fail_at(r.pos() - 1, f + " kind", "expected 0 (raw) or 1 (vector-quantized), found " + std::to_string(kind));
    }
    tb.name = t.name;
    tb.quantized = t.quantized;
    tb.bytes = static_cast<int64_t>(r.pos() - t0);
    fl.tensors.push_back(tb);
    vm.tensors.push_back(std::move(t));
  }
  if (r.remaining() != 0) r.fail("end of payload", "expected the end of the file, found " + std::to_string(r.remaining()) + " more bytes");
  if (layout) *layout = fl;
  return vm;
}

int64_t save_vq(const std::string& path, const VqModel& vm, VqFileLayout* layout) {
  const std::string bytes = serialize_vq(vm, layout);
  write_file_atomic(path, bytes);
  return static_cast<int64_t>(bytes.size());
}

VqModel load_vq(const std::string& path, VqFileLayout* layout) {
  const std::vector<uint8_t> b = read_file(path);
  return parse_vq(std::string(b.begin(), b.end()), path, layout);
}

// ---- running from the file ---------------------------------------------------------------------
VqRunner::VqRunner(const VqModel& vm, std::shared_ptr<Module> skeleton) {
  size_t used = 0;   // tensors of the file consumed: a file with extra tensors is refused
  if (!skeleton->named_buffers().empty())
    throw std::invalid_argument("VqRunner: expected a model without buffers (batch norm), the skeleton has " +
                                std::to_string(skeleton->named_buffers().size()));
  for (auto& [cname, child] : skeleton->children()) {
    if (!child->children().empty())
      throw std::invalid_argument("VqRunner: expected a flat model, but child '" + cname + "' has children");
    const VqTensor* w = vm.find(cname + ".weight");
    auto* lin = dynamic_cast<Linear*>(child.get());
    if (w && w->quantized) {
      if (!lin) throw std::invalid_argument("VqRunner: '" + cname + ".weight' is quantized but '" + cname + "' is a " + child->type_name() + ", not a Linear");
      if (w->shape != lin->weight.var.value().shape())
        throw std::invalid_argument("VqRunner: '" + cname + ".weight': expected " + lin->weight.var.value().str() + ", the file has " + shape_str(w->shape));
      const VqTensor* b = vm.find(cname + ".bias");
      if ((lin->bias != nullptr) != (b != nullptr))
        throw std::invalid_argument("VqRunner: '" + cname + "' " + (lin->bias ? "has" : "has no") + " bias, the file " + (b ? "has one" : "has none"));
      if (b && (b->quantized || b->shape != lin->bias->var.value().shape()))
        throw std::invalid_argument("VqRunner: '" + cname + ".bias': expected raw " + lin->bias->var.value().str() + ", the file has " +
                                    (b->quantized ? "codes" : shape_str(b->shape)));
      used += b ? 2 : 1;
      stages_.push_back(register_module(cname, std::make_shared<VqLinear>(w->q, b ? b->values : std::vector<float>{})));
      ++n_vq_;
      continue;
    }
    for (auto& np : child->named_parameters()) {
      const std::string full = cname + "." + np.name;
      const VqTensor* t = vm.find(full);
      if (!t) throw std::invalid_argument("VqRunner: the model's parameter '" + full + "' is not in the file");
      if (t->quantized) throw std::invalid_argument("VqRunner: '" + full + "' is quantized, but only a Linear weight can run from codes");
      if (t->shape != np.param->var.value().shape())
        throw std::invalid_argument("VqRunner: '" + full + "': expected " + np.param->var.value().str() + ", the file has " + shape_str(t->shape));
      std::memcpy(np.param->var.value().data(), t->values.data(), sizeof(float) * t->values.size());
      np.param->clear_mask();
      ++used;
    }
    stages_.push_back(register_module(cname, child));
  }
  if (used != vm.tensors.size())
    throw std::invalid_argument("VqRunner: the file has " + std::to_string(vm.tensors.size()) + " tensors, the model uses " + std::to_string(used));
  eval();
}

Var VqRunner::forward(const Var& x) {
  Var h = x;
  for (auto& s : stages_) h = s->forward(h);
  return h;
}

}  // namespace mgf
