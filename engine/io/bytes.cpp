// engine/io/bytes.cpp — see bytes.h.
#include "engine/io/bytes.h"

#include <bit>
#include <cstring>
#include <stdexcept>


namespace mgf {

// ---- writer: least-significant byte first ---------------------------------------------------
void ByteWriter::u16(uint16_t v) {
  u8(static_cast<uint8_t>(v));
  u8(static_cast<uint8_t>(v >> 8));
}
void ByteWriter::u32(uint32_t v) {
  u16(static_cast<uint16_t>(v));
  u16(static_cast<uint16_t>(v >> 16));
}
void ByteWriter::u64(uint64_t v) {
  u32(static_cast<uint32_t>(v));
  u32(static_cast<uint32_t>(v >> 32));
}
void ByteWriter::f32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);  // the bit pattern, not a conversion
  u32(bits);
}
void ByteWriter::f32s(const float* p, size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    bytes(p, 4 * n);  // the in-memory bytes already are the file's: one copy (same result as the loop)
  } else {
    for (size_t i = 0; i < n; ++i) f32(p[i]);
  }
}
void ByteWriter::bytes(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out_.insert(out_.end(), b, b + n);
}
void ByteWriter::str_u8(const std::string& s) {
  if (s.size() > 255)
    throw std::invalid_argument("ByteWriter: expected a string of at most 255 bytes, found " + std::to_string(s.size()) +
                                ": " + s.substr(0, 40) + "...");
  u8(static_cast<uint8_t>(s.size()));
  bytes(s.data(), s.size());
}
void ByteWriter::str_u32(const std::string& s) {
  if (s.size() > 0xFFFFFFFFu) throw std::invalid_argument("ByteWriter: string longer than 2^32 bytes");
  u32(static_cast<uint32_t>(s.size()));
  bytes(s.data(), s.size());
}

// ---- reader: every read checks the bytes left first -----------------------------------------
ByteReader::ByteReader(const void* data, size_t n, std::string what)
    : p_(static_cast<const uint8_t*>(data)), end_(n), what_(std::move(what)) {}

void ByteReader::fail_at(size_t offset, std::string_view field, const std::string& msg) const {
  throw std::runtime_error(what_ + ": field '" + std::string(field) + "' at byte offset " + std::to_string(offset) +
                           ": " + msg);
}

void ByteReader::need(uint64_t n, std::string_view field) const {
  if (n > end_ - pos_)
    fail(field, "needs " + std::to_string(n) + " bytes, " + std::to_string(end_ - pos_) + " left (truncated?)");
}

size_t ByteReader::need_array(uint64_t count, uint64_t elem_size, std::string_view field) const {
  uint64_t n;
  if (__builtin_mul_overflow(count, elem_size, &n))
    fail(field, "declares " + std::to_string(count) + " elements of " + std::to_string(elem_size) +
                    " bytes: the size overflows 64 bits");
  if (n > end_ - pos_)
    fail(field, "declares " + std::to_string(count) + " elements of " + std::to_string(elem_size) + " bytes (" +
                    std::to_string(n) + " bytes), only " + std::to_string(end_ - pos_) + " left (truncated or corrupt)");
  return static_cast<size_t>(n);
}

void ByteReader::seek(size_t pos) {
  if (pos > end_) fail("seek", "offset " + std::to_string(pos) + " is past the end (" + std::to_string(end_) + ")");
  pos_ = pos;
}

void ByteReader::set_end(size_t end) {
  if (end < pos_ || end > end_) fail("end", "cannot end the readable range at " + std::to_string(end));
  end_ = end;
}

uint8_t ByteReader::u8(std::string_view field) {
  need(1, field);
  return p_[pos_++];
}
// k (≤ 8) bytes, least significant first.
uint64_t ByteReader::le(size_t k, std::string_view field) {
  need(k, field);
  uint64_t v = 0;
  for (size_t i = k; i-- > 0;) v = v << 8 | p_[pos_ + i];
  pos_ += k;
  return v;
}
uint16_t ByteReader::u16(std::string_view field) { return static_cast<uint16_t>(le(2, field)); }
uint32_t ByteReader::u32(std::string_view field) { return static_cast<uint32_t>(le(4, field)); }
uint64_t ByteReader::u64(std::string_view field) { return le(8, field); }
float ByteReader::f32(std::string_view field) {
  uint32_t bits = u32(field);
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}
void ByteReader::f32s(float* out, size_t n, std::string_view field) {
  need_array(n, 4, field);
  if constexpr (std::endian::native == std::endian::little) {
    if (n) std::memcpy(out, p_ + pos_, 4 * n);  // the file's bytes already are the floats
  } else {
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* b = p_ + pos_ + 4 * i;
      uint32_t bits = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
      std::memcpy(&out[i], &bits, 4);
    }
  }
  pos_ += 4 * n;
}
std::string ByteReader::str_u8(std::string_view field) {
  const size_t n = u8(field);
  const uint8_t* b = bytes(n, field);
  return std::string(reinterpret_cast<const char*>(b), n);
}
std::string ByteReader::str_u32(std::string_view field) {
  const size_t n = u32(field);
  const uint8_t* b = bytes(n, field);
  return std::string(reinterpret_cast<const char*>(b), n);
}
const uint8_t* ByteReader::bytes(size_t n, std::string_view field) {
  need(n, field);
  const uint8_t* b = p_ + pos_;
  pos_ += n;
  return b;
}

}  // namespace mgf
