// engine/npy.cpp — see npy.h.
#include "engine/npy.h"

#include <bit>
#include <cstring>
#include <stdexcept>

#include "engine/io/checked.h"
#include "engine/io/file.h"

namespace mgf {

std::vector<uint8_t> npy_encode(const Tensor& t) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int d = 0; d < t.ndim(); ++d) dict += std::to_string(t.shape()[static_cast<size_t>(d)]) + ", ";
  if (t.ndim() > 1) dict.resize(dict.size() - 2);   // "(3, 4)"
  else if (t.ndim() == 1) dict.pop_back();          // "(5,)": a one-tuple keeps its comma
  dict += "), }";
  // Pad so that magic (6) + version (2) + length (2) + header is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  b.push_back(static_cast<uint8_t>(dict.size() & 0xFF));
  b.push_back(static_cast<uint8_t>(dict.size() >> 8));
  b.insert(b.end(), dict.begin(), dict.end());
  const size_t at = b.size();
  b.resize(at + static_cast<size_t>(t.numel()) * 4);
  // Little-endian floats; every x86 and ARM machine we build for is little-endian already.
  static_assert(std::endian::native == std::endian::little, "npy writer assumes a little-endian host");
  if (t.numel()) std::memcpy(b.data() + at, t.data(), static_cast<size_t>(t.numel()) * 4);
  return b;
}

namespace {
// The text after `'key':` in the header dict, with leading spaces skipped.
std::string after_key(const std::string& h, const std::string& key, const std::string& name) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error("npy " + name + ": header has no '" + key + "': " + h);
  size_t c = h.find(':', k);
  if (c == std::string::npos) throw std::runtime_error("npy " + name + ": malformed header: " + h);
  size_t s = h.find_first_not_of(' ', c + 1);
  return s == std::string::npos ? "" : h.substr(s);
}
}  // namespace

Tensor npy_decode(const std::vector<uint8_t>& b, const std::string& name) {
  auto fail = [&](const std::string& what) { throw std::runtime_error("npy " + name + ": " + what); };
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (b.size() < 10 || std::memcmp(b.data(), magic, 6) != 0) fail("not a .npy file (bad magic)");
  const int major = b[6];
  size_t hlen = 0, start = 0;
  if (major == 1) {
    hlen = b[8] | size_t{b[9]} << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) fail("truncated header");
    hlen = b[8] | size_t{b[9]} << 8 | size_t{b[10]} << 16 | size_t{b[11]} << 24;
    start = 12;
  } else {
    fail("format version " + std::to_string(major) + "." + std::to_string(b[7]) + " is not supported (1.0-3.0)");
  }
  if (b.size() < start + hlen) fail("truncated header: declares " + std::to_string(hlen) + " bytes");
  const std::string h(b.begin() + static_cast<std::ptrdiff_t>(start), b.begin() + static_cast<std::ptrdiff_t>(start + hlen));
  std::string descr = after_key(h, "descr", name);
  if (descr.rfind("'<f4'", 0) != 0) fail("dtype " + descr.substr(0, descr.find(',')) + " is not supported, expected '<f4' (float32)");
  std::string fo = after_key(h, "fortran_order", name);
  if (fo.rfind("False", 0) != 0) fail("Fortran-order arrays are not supported, expected 'fortran_order': False");
  std::string sh = after_key(h, "shape", name);
  if (sh.empty() || sh[0] != '(') fail("malformed shape in header: " + h);
  Shape shape;
  size_t i = 1;
  for (;;) {
    while (i < sh.size() && (sh[i] == ' ' || sh[i] == ',')) ++i;
    if (i >= sh.size()) fail("unterminated shape in header: " + h);
    if (sh[i] == ')') break;
    if (sh[i] < '0' || sh[i] > '9') fail("malformed shape in header: " + h);
    int64_t v = 0;
    while (i < sh.size() && sh[i] >= '0' && sh[i] <= '9') {
      v = v * 10 + (sh[i] - '0');
      if (v > (int64_t{1} << 40)) fail("implausible dimension in header: " + h);
      ++i;
    }
    shape.push_back(v);
  }
  if (shape.size() > 4) fail("a Tensor has at most 4 dimensions, found " + shape_str(shape));
  // Overflow-checked: (4294967296, 4294967296) has 2^64 elements, which a plain int64 product
  // wraps to 0 — and a header-only file would then load as a tensor whose shape and storage
  // disagree. Checked against the bytes present before the tensor is allocated.
  const uint64_t numel = checked_mul(checked_numel(shape, "npy " + name), 4, "npy " + name + ": data bytes");
  const size_t data = start + hlen, want = static_cast<size_t>(numel);
  if (b.size() - data != want)
    fail("shape " + shape_str(shape) + " needs " + std::to_string(want) + " data bytes, found " +
         std::to_string(b.size() - data));
  Tensor t(shape);
  if (want) std::memcpy(t.data(), b.data() + data, want);
  return t;
}

void write_npy(const std::string& path, const Tensor& t) { write_bytes_atomic(path, npy_encode(t)); }

Tensor read_npy(const std::string& path) { return npy_decode(read_file(path), path); }

}  // namespace mgf
