// engine/checkpoint.cpp — see checkpoint.h for the format.
#include "engine/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "engine/inflate.h"

namespace mgf {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'M', 'G', 'F', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 1;

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Reads little-endian values with a bounds check on every read.
struct Reader {
  const std::vector<uint8_t>& b;
  size_t end;  // the CRC's offset: entries must end before it
  const std::string& name;
  size_t pos = 0;
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("checkpoint " + name + ": " + what + " (at byte offset " + std::to_string(pos) + ")");
  }
  void need(uint64_t k) const {
    if (k > end - pos) fail("truncated: needs " + std::to_string(k) + " more bytes, " + std::to_string(end - pos) + " left");
  }
  uint64_t uint(int bytes) {
    need(static_cast<uint64_t>(bytes));
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{b[pos + static_cast<size_t>(i)]} << (8 * i);
    pos += static_cast<size_t>(bytes);
    return v;
  }
};

const char* kind_name(CheckpointKind k) {
  return k == CheckpointKind::parameter ? "parameter" : k == CheckpointKind::mask ? "mask" : "buffer";
}

}  // namespace

std::vector<uint8_t> encode_checkpoint(const std::vector<CheckpointEntry>& entries) {
  std::vector<uint8_t> b(kMagic, kMagic + 8);
  put_u32(b, kVersion);
  put_u32(b, static_cast<uint32_t>(entries.size()));
  for (const auto& e : entries) {
    b.push_back(static_cast<uint8_t>(e.kind));
    put_u32(b, static_cast<uint32_t>(e.name.size()));
    b.insert(b.end(), e.name.begin(), e.name.end());
    put_u32(b, static_cast<uint32_t>(e.value.ndim()));
    for (int64_t d : e.value.shape()) put_u64(b, static_cast<uint64_t>(d));
    const float* x = e.value.data();
    for (int64_t i = 0; i < e.value.numel(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &x[i], 4);
      put_u32(b, bits);
    }
  }
  put_u32(b, crc32(b.data(), b.size()));
  return b;
}

std::vector<CheckpointEntry> decode_checkpoint(const std::vector<uint8_t>& b, const std::string& name) {
  if (b.size() < 20)
    throw std::runtime_error("checkpoint " + name + ": file is " + std::to_string(b.size()) +
                             " bytes, shorter than the 20-byte header and checksum (truncated?)");
  if (std::memcmp(b.data(), kMagic, 8) != 0)
    throw std::runtime_error("checkpoint " + name + ": bad magic, expected \"MGFCKPT\" (not a mustgofast checkpoint)");
  Reader r{b, b.size() - 4, name};
  r.pos = 8;
  uint32_t version = static_cast<uint32_t>(r.uint(4));
  if (version != kVersion)
    r.fail("version " + std::to_string(version) + " is not supported, expected " + std::to_string(kVersion));
  // The checksum first: a flipped bit anywhere is reported as corruption, not as whatever
  // nonsense the flipped field would decode to.
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= uint32_t{b[b.size() - 4 + static_cast<size_t>(i)]} << (8 * i);
  uint32_t actual = crc32(b.data(), b.size() - 4);
  if (stored != actual)
    throw std::runtime_error("checkpoint " + name + ": checksum mismatch (stored CRC-32 " + std::to_string(stored) +
                             ", computed " + std::to_string(actual) + "): the file is corrupted or truncated");
  uint32_t count = static_cast<uint32_t>(r.uint(4));
  std::vector<CheckpointEntry> out;
  for (uint32_t k = 0; k < count; ++k) {
    CheckpointEntry e;
    uint8_t kind = static_cast<uint8_t>(r.uint(1));
    if (kind > 2) r.fail("entry " + std::to_string(k) + " has unknown kind " + std::to_string(kind));
    e.kind = static_cast<CheckpointKind>(kind);
    uint64_t len = r.uint(4);
    r.need(len);
    e.name.assign(reinterpret_cast<const char*>(b.data() + r.pos), static_cast<size_t>(len));
    r.pos += static_cast<size_t>(len);
    uint64_t ndim = r.uint(4);
    if (ndim > 4) r.fail("tensor " + e.name + " has " + std::to_string(ndim) + " dimensions, at most 4");
    Shape s;
    uint64_t numel = 1;
    for (uint64_t d = 0; d < ndim; ++d) {
      uint64_t v = r.uint(8);
      if (v > (uint64_t{1} << 32)) r.fail("tensor " + e.name + " has an implausible dimension " + std::to_string(v));
      s.push_back(static_cast<int64_t>(v));
      numel *= v;
    }
    r.need(numel * 4);
    e.value = Tensor(s);
    float* x = e.value.data();
    for (uint64_t i = 0; i < numel; ++i) {
      uint32_t bits = static_cast<uint32_t>(r.uint(4));
      std::memcpy(&x[i], &bits, 4);
    }
    out.push_back(std::move(e));
  }
  if (r.pos != r.end) r.fail(std::to_string(r.end - r.pos) + " unexpected bytes after the last entry");
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

void write_bytes_atomic(const std::string& path, const std::vector<uint8_t>& bytes, int64_t crash_after) {
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  const std::string tmp = path + ".tmp";
  try {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot open " + tmp + " for writing");
    // In chunks, so the simulated crash can stop in the middle of the data.
    const size_t chunk = 4096;
    for (size_t off = 0; off < bytes.size(); off += chunk) {
      if (crash_after >= 0 && off >= static_cast<size_t>(crash_after))
        throw std::runtime_error("simulated crash after " + std::to_string(off) + " bytes while writing " + tmp);
      const size_t k = std::min(chunk, bytes.size() - off);
      f.write(reinterpret_cast<const char*>(bytes.data() + off), static_cast<std::streamsize>(k));
    }
    f.flush();
    if (!f) throw std::runtime_error("error while writing " + tmp);
    f.close();
    fs::rename(tmp, p);  // atomic: readers see the old file or the new one, never half of one
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void save_checkpoint(const std::string& path, Module& model) {
  write_bytes_atomic(path, encode_checkpoint(checkpoint_entries(model)));
}

std::vector<CheckpointEntry> read_checkpoint(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open checkpoint " + path);
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_checkpoint(b, path);
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
