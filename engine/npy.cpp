// engine/npy.cpp — see npy.h.
#include "engine/npy.h"

#include <cstring>
#include <stdexcept>

#include "engine/io/bytes.h"
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
  ByteWriter w;
  w.bytes("\x93NUMPY\x01\x00", 8);  // magic, version 1.0
  w.u16(static_cast<uint16_t>(dict.size()));
  w.bytes(dict.data(), dict.size());
  w.f32s(t.data(), static_cast<size_t>(t.numel()));
  return w.take();
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
  ByteReader r(b, "npy " + name);
  r.seek(6);
  const int major = r.u8("major version"), minor = r.u8("minor version");
  uint32_t hlen = 0;
  if (major == 1) hlen = r.u16("header length");
  else if (major == 2 || major == 3) hlen = r.u32("header length");
  else fail("format version " + std::to_string(major) + "." + std::to_string(minor) + " is not supported (1.0-3.0)");
  const uint8_t* hp = r.bytes(hlen, "header");
  const std::string h(reinterpret_cast<const char*>(hp), hlen);
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
  const uint64_t nbytes = checked_mul(checked_numel(shape, "npy " + name), 4, "npy " + name + ": data bytes");
  if (r.remaining() != nbytes)
    fail("shape " + shape_str(shape) + " needs " + std::to_string(nbytes) + " data bytes, found " +
         std::to_string(r.remaining()));
  Tensor t(shape);
  r.f32s(t.data(), static_cast<size_t>(t.numel()), "data");
  return t;
}

void write_npy(const std::string& path, const Tensor& t) { write_bytes_atomic(path, npy_encode(t)); }

Tensor read_npy(const std::string& path) { return npy_decode(read_file(path), path); }

}  // namespace mgf
