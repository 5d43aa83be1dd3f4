// engine/io/bytes.h — little-endian bytes out, checked bytes in: what every file format of the
// project (checkpoint, `.mgfdc`, `.xnor`) is written and read with.
//
// ByteWriter appends fixed-width integers and IEEE-754 floats least-significant byte first,
// one byte at a time, so a file is the same on every machine and no struct padding or host
// byte order leaks into it. ByteReader reads them back and never indexes past the end: every
// read first checks the bytes left and otherwise throws std::runtime_error naming the thing
// being read, the field and the byte offset:
//   checkpoint x.mgf: field 'ndim' at byte offset 52: needs 4 bytes, 2 left
// A reader must not allocate from a file field before the field is checked against the
// bytes that remain: need_array(count, elem_size, field) is that check (with overflow-checked
// count × elem_size), to be called BEFORE reserve/resize/a Tensor is built.
// Book: book/03-training.md ("Files"). Deliberately not here: big-endian fields (IDX's are,
// and engine/idx.cpp reads its four by hand), variable-length integers, streaming.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mgf {

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v);
  void u32(uint32_t v);
  void u64(uint64_t v);
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }  // two's complement
  void f32(float v);                                       // IEEE-754 binary32 bits, as u32
  void f32s(const float* p, size_t n);                     // n floats, one f32() each
  void bytes(const void* p, size_t n);
  // Length-prefixed strings: a u8 length (throws std::invalid_argument past 255 bytes) or a
  // u32 length, then the bytes, no terminator.
  void str_u8(const std::string& s);
  void str_u32(const std::string& s);

  size_t size() const { return out_.size(); }
  const std::vector<uint8_t>& data() const { return out_; }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

class ByteReader {
 public:
  // Reads [data, data + n). `what` opens every error message ("checkpoint x.mgf"); the bytes
  // must outlive the reader.
  ByteReader(const void* data, size_t n, std::string what);
  ByteReader(const std::vector<uint8_t>& b, std::string what) : ByteReader(b.data(), b.size(), std::move(what)) {}
  ByteReader(const std::string& b, std::string what) : ByteReader(b.data(), b.size(), std::move(what)) {}

  uint8_t u8(std::string_view field);
  uint16_t u16(std::string_view field);
  uint32_t u32(std::string_view field);
  uint64_t u64(std::string_view field);
  int64_t i64(std::string_view field) { return static_cast<int64_t>(u64(field)); }
  float f32(std::string_view field);
  void f32s(float* out, size_t n, std::string_view field);  // n floats (checked once, up front)
  std::string str_u8(std::string_view field);
  std::string str_u32(std::string_view field);
  // A pointer to the next n bytes, which are then skipped.
  const uint8_t* bytes(size_t n, std::string_view field);

  // Throws unless n more bytes are there.
  void need(uint64_t n, std::string_view field) const;
  // count × elem_size bytes must remain (the product overflow-checked); returns that product.
  // Call it before allocating `count` of anything a file field declared.
  size_t need_array(uint64_t count, uint64_t elem_size, std::string_view field) const;

  size_t pos() const { return pos_; }
  size_t size() const { return end_; }
  size_t remaining() const { return end_ - pos_; }
  const std::string& what() const { return what_; }
  void seek(size_t pos);          // within [0, size()]
  void set_end(size_t end);       // shrink the readable range (e.g. to stop before a trailing CRC)

  // "<what>: field '<field>' at byte offset <pos>: <msg>", as std::runtime_error.
  [[noreturn]] void fail(std::string_view field, const std::string& msg) const { fail_at(pos_, field, msg); }
  [[noreturn]] void fail_at(size_t offset, std::string_view field, const std::string& msg) const;

 private:
  uint64_t le(size_t k, std::string_view field);
  const uint8_t* p_;
  size_t end_, pos_ = 0;
  std::string what_;
};

}  // namespace mgf
