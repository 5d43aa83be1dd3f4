// engine/checkpoint.cpp — see checkpoint.h for the format.
#include "engine/checkpoint.h"

#include <cstring>
#include <map>
#include <stdexcept>

#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/crc32.h"

namespace mgf {

namespace {

constexpr char kMagic[8] = {'M', 'G', 'F', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 1;

const char* kind_name(CheckpointKind k) {
  return k == CheckpointKind::parameter ? "parameter" : k == CheckpointKind::mask ? "mask" : "buffer";
}

}  // namespace

std::vector<uint8_t> encode_checkpoint(const std::vector<CheckpointEntry>& entries) {
  ByteWriter w;
  w.bytes(kMagic, 8);
  w.u32(kVersion);
  w.u32(static_cast<uint32_t>(entries.size()));
  for (const auto& e : entries) {
    w.u8(static_cast<uint8_t>(e.kind));
    w.str_u32(e.name);
    w.u32(static_cast<uint32_t>(e.value.ndim()));
    for (int64_t d : e.value.shape()) w.i64(d);
    w.f32s(e.value.data(), static_cast<size_t>(e.value.numel()));
  }
  w.u32(crc32(w.data().data(), w.size()));
  return w.take();
}

std::vector<CheckpointEntry> decode_checkpoint(const std::vector<uint8_t>& b, const std::string& name) {
  ByteReader r(b, "checkpoint " + name);
  if (b.size() < 20)
    r.fail("header", "file is " + std::to_string(b.size()) +
                         " bytes, shorter than the 20-byte header and checksum (truncated?)");
  if (std::memcmp(r.bytes(8, "magic"), kMagic, 8) != 0)
    r.fail_at(0, "magic", "expected \"MGFCKPT\" (not a mustgofast checkpoint)");
  uint32_t version = r.u32("version");
  if (version != kVersion)
    r.fail_at(8, "version", std::to_string(version) + " is not supported, expected " + std::to_string(kVersion));
  // The checksum first: a flipped bit anywhere is reported as corruption, not as whatever
  // nonsense the flipped field would decode to. The entries must end where it begins.
  const size_t crc_at = b.size() - 4;
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= uint32_t{b[crc_at + static_cast<size_t>(i)]} << (8 * i);
  uint32_t actual = crc32(b.data(), crc_at);
  if (stored != actual)
    r.fail_at(crc_at, "crc", "checksum mismatch (stored CRC-32 " + std::to_string(stored) + ", computed " +
                                 std::to_string(actual) + "): the file is corrupted or truncated");
  r.set_end(crc_at);
  uint32_t count = r.u32("count");
  std::vector<CheckpointEntry> out;
  for (uint32_t k = 0; k < count; ++k) {
    CheckpointEntry e;
    uint8_t kind = r.u8("kind");
    if (kind > 2) r.fail("kind", "entry " + std::to_string(k) + " has unknown kind " + std::to_string(kind));
    e.kind = static_cast<CheckpointKind>(kind);
    e.name = r.str_u32("name");
    uint32_t ndim = r.u32("ndim");
    if (ndim > 4) r.fail("ndim", "tensor " + e.name + " has " + std::to_string(ndim) + " dimensions, at most 4");
    Shape s;
    for (uint32_t d = 0; d < ndim; ++d) {
      int64_t v = r.i64("shape");
      if (v < 0 || v > (int64_t{1} << 32)) r.fail("shape", "tensor " + e.name + " has an implausible dimension " + std::to_string(v));
      s.push_back(v);
    }
    // The element count is checked for overflow and against the bytes left BEFORE the tensor
    // is allocated: (2^32, 2^32) must not wrap, and a small file must not ask for gigabytes.
    uint64_t numel = 1;
    for (int64_t d : s) numel = checked_mul(numel, static_cast<uint64_t>(d), "checkpoint " + name + ": tensor " + e.name);
    r.need_array(numel, 4, "data of " + e.name);
    e.value = Tensor(s);
    r.f32s(e.value.data(), numel, "data of " + e.name);
    out.push_back(std::move(e));
  }
  if (r.remaining() != 0) r.fail("end", std::to_string(r.remaining()) + " unexpected bytes after the last entry");
  return out;
}

std::vector<CheckpointEntry> checkpoint_entries(Module& model) {
  std::vector<CheckpointEntry> out;
  for (auto& np : model.named_parameters()) {
    out.push_back({CheckpointKind::parameter, np.name, np.param->var.value()});
    if (np.param->has_mask()) out.push_back({CheckpointKind::mask, np.name, np.param->mask});
  }
  for (auto& [name, t] : model.named_buffers()) out.push_back({CheckpointKind::buffer, name, *t});
  return out;
}

void save_checkpoint(const std::string& path, Module& model) {
  write_bytes_atomic(path, encode_checkpoint(checkpoint_entries(model)));
}

std::vector<CheckpointEntry> read_checkpoint(const std::string& path) {
  return decode_checkpoint(read_file(path), path);
}

// Two passes on purpose. Pass 1 finds every tensor the model needs and checks its shape;
// any problem throws before a single float has been copied. Only then does pass 2 copy.
// A half-loaded model (some layers new, some old) would be the worst outcome: it runs, and
// gives wrong answers.
void load_checkpoint(const std::string& path, Module& model) {
  const std::vector<CheckpointEntry> entries = read_checkpoint(path);
  std::map<std::pair<int, std::string>, const CheckpointEntry*> by_key;
  for (const auto& e : entries) by_key[{static_cast<int>(e.kind), e.name}] = &e;
  auto fail = [&](const std::string& what) { throw std::runtime_error("checkpoint " + path + ": " + what); };
  auto find = [&](CheckpointKind k, const std::string& name, const Shape& want) -> const CheckpointEntry* {
    auto it = by_key.find({static_cast<int>(k), name});
    if (it == by_key.end()) return nullptr;
    if (it->second->value.shape() != want)
      fail(std::string(kind_name(k)) + " " + name + ": expected shape " + shape_str(want) + ", found " +
           it->second->value.str());
    return it->second;
  };
  // Pass 1: validate everything; nothing in the model changes yet.
  size_t used = 0;
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  for (auto& np : params) {
    const Shape& s = np.param->var.value().shape();
    if (!find(CheckpointKind::parameter, np.name, s))
      fail("parameter " + np.name + " " + shape_str(s) + " expected by the model is missing from the file");
    ++used;
    if (find(CheckpointKind::mask, np.name, s)) ++used;
  }
  for (auto& [name, t] : buffers) {
    if (!find(CheckpointKind::buffer, name, t->shape()))
      fail("buffer " + name + " " + t->str() + " expected by the model is missing from the file");
    ++used;
  }
  if (used != entries.size())
    for (const auto& e : entries) {
      bool known = false;
      for (auto& np : params) known |= np.name == e.name && e.kind != CheckpointKind::buffer;
      for (auto& b : buffers) known |= b.first == e.name && e.kind == CheckpointKind::buffer;
      if (!known) fail(std::string(kind_name(e.kind)) + " " + e.name + " " + e.value.str() + " in the file is not in the model");
    }
  // Pass 2: copy. Masks come with the file: a parameter without one in the file loses its mask.
  for (auto& np : params) {
    const Tensor& v = find(CheckpointKind::parameter, np.name, np.param->var.value().shape())->value;
    std::memcpy(np.param->var.value().data(), v.data(), static_cast<size_t>(v.numel()) * 4);
    if (const auto* m = find(CheckpointKind::mask, np.name, v.shape())) np.param->mask = m->value.clone();
    else np.param->clear_mask();
  }
  for (auto& [name, t] : buffers) {
    const Tensor& v = find(CheckpointKind::buffer, name, t->shape())->value;
    std::memcpy(t->data(), v.data(), static_cast<size_t>(v.numel()) * 4);
  }
}

}  // namespace mgf
