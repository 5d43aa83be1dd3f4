// engine/idx.cpp — see idx.h.
#include "engine/idx.h"

#include <fstream>
#include <stdexcept>

#include "engine/inflate.h"

namespace mgf {

namespace {
std::string hex2(uint8_t v) {
  const char* d = "0123456789abcdef";
  return std::string("0x") + d[v >> 4] + d[v & 15];
}
}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error("cannot open " + path);
  const std::streamoff size = f.tellg();
  if (size < 0) throw std::runtime_error("cannot determine the size of " + path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(bytes.data()), size))
    throw std::runtime_error("error while reading " + path + " (" + std::to_string(size) + " bytes expected)");
  if (is_gzip(bytes.data(), bytes.size())) return gunzip(bytes.data(), bytes.size(), path);
  return bytes;
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
    total *= v;
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
