// engine/idx.cpp — see idx.h.
#include "engine/idx.h"

#include <stdexcept>

#include "engine/inflate.h"
#include "engine/io/checked.h"
#include "engine/io/file.h"

namespace mgf {

namespace {
std::string hex2(uint8_t v) {
  const char* d = "0123456789abcdef";
  return std::string("0x") + d[v >> 4] + d[v & 15];
}
}  // namespace

// The size the header at h[0..n) declares (header + product of the dims), or 0 when n is too
// short to hold the whole header. Overflow-checked: dims are up to 2^32 - 1 each, 255 of them.
static uint64_t idx_declared_size(const uint8_t* h, size_t n, const std::string& name) {
  if (n < 4 || n < 4 + 4 * size_t{h[3]}) return 0;
  uint64_t total = 1;
  for (size_t d = 0; d < h[3]; ++d) {
    const uint8_t* p = h + 4 + 4 * d;
    total = checked_mul(total, uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3],
                        "IDX file " + name + ": dimensions");
  }
  return checked_add(total, 4 + 4 * uint64_t{h[3]}, "IDX file " + name + ": size");
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::vector<uint8_t> raw = read_file(path);
  if (!is_gzip(raw.data(), raw.size())) return raw;
  // Decode only the header first (4 bytes say how many dimensions follow), then decode the
  // rest capped at the size the header declares: a stream that inflates further than that
  // (a gzip bomb) is refused as soon as it passes the cap, holding at most that much.
  std::vector<uint8_t> head = gunzip_prefix(raw.data(), raw.size(), 4, path);
  // Not an IDX magic (00 00 type ndim): these bytes are enough for parse_idx to say so.
  if (head.size() == 4 && (head[0] != 0 || head[1] != 0 || head[2] != 0x08)) return head;
  if (head.size() == 4) head = gunzip_prefix(raw.data(), raw.size(), 4 + 4 * size_t{head[3]}, path);
  // A dimension of 0: the header alone lets parse_idx name it and its offset.
  for (size_t off = 4; off + 4 <= head.size(); off += 4)
    if ((head[off] | head[off + 1] | head[off + 2] | head[off + 3]) == 0) return head;
  uint64_t expected = idx_declared_size(head.data(), head.size(), path);
  if (expected == 0) expected = head.size();  // shorter than a header: parse_idx says so after the CRC check
  // DEFLATE expands at most about 1032:1 (a 258-byte copy in 2 bits), so a declared size past
  // that is a corrupt header, refused before decoding anything.
  const uint64_t most = checked_mul(raw.size() + 1, 1032, "gzip size bound");
  if (expected > most)
    throw std::runtime_error("IDX file " + path + ": the header declares " + std::to_string(expected) +
                             " bytes, more than a gzip stream of " + std::to_string(raw.size()) +
                             " bytes can inflate to (at most ~1032x)");
  try {
    return gunzip(raw.data(), raw.size(), path, static_cast<size_t>(expected));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("IDX file " + path + " (header declares " + std::to_string(expected) +
                             " bytes in all): " + e.what());
  }
}

IdxArray parse_idx(const std::vector<uint8_t>& b, int ndim, const std::string& name) {
  auto fail = [&](const std::string& what, size_t offset) {
    throw std::runtime_error("IDX file " + name + ": " + what + " (at byte offset " + std::to_string(offset) + ")");
  };
  if (b.size() < 4) fail("file is " + std::to_string(b.size()) + " bytes, too short for the 4-byte magic", b.size());
  // Magic: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions.
  if (b[0] != 0 || b[1] != 0)
    fail("bad magic: first two bytes must be 0, found " + std::to_string(b[0]) + " " + std::to_string(b[1]), 0);
  if (b[2] != 0x08) fail("element type " + hex2(b[2]) + " is not supported, expected 0x08 (unsigned byte)", 2);
  if (b[3] != ndim)
    fail("wrong magic " + std::to_string(0x800 + b[3]) + ": expected " + std::to_string(ndim) + " dimension(s) (magic " +
             std::to_string(0x800 + ndim) + "), found " + std::to_string(b[3]),
         3);
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (b.size() < header)
    fail("header needs " + std::to_string(header) + " bytes, file has " + std::to_string(b.size()), b.size());
  IdxArray a;
  uint64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const size_t off = 4 + 4 * static_cast<size_t>(d);
    uint32_t v = uint32_t{b[off]} << 24 | uint32_t{b[off + 1]} << 16 | uint32_t{b[off + 2]} << 8 | b[off + 3];
    if (v == 0) fail("dimension " + std::to_string(d) + " is 0", off);
    a.dims.push_back(v);
    total = checked_mul(total, v, "IDX file " + name + ": dimensions");
    if (total > (uint64_t{1} << 40)) fail("dimensions multiply to more than 2^40 elements", off);
  }
  const uint64_t expected = header + total;
  if (b.size() < expected)
    fail("truncated: header declares " + std::to_string(total) + " data bytes, so the file should be " +
             std::to_string(expected) + " bytes; found " + std::to_string(b.size()),
         b.size());
  if (b.size() > expected)
    fail(std::to_string(b.size() - expected) + " trailing bytes after the data (expected " + std::to_string(expected) +
             " bytes)",
         expected);
  a.data.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
  return a;
}

IdxArray read_idx(const std::string& path, int ndim) { return parse_idx(read_file_bytes(path), ndim, path); }

}  // namespace mgf
