// engine/inflate.cpp — DEFLATE (RFC 1951) and gzip (RFC 1952) decoding; see inflate.h.
//
// Reading order: BitReader (how bits come out of the byte stream), Huffman (canonical codes:
// build and decode), the three block kinds, then the gzip wrapper.
#include "engine/inflate.h"

#include <array>
#include <cstdint>
#include <stdexcept>

namespace mgf {

namespace {

// ---- bits ----------------------------------------------------------------------------------
// DEFLATE packs bits starting at the least significant bit of each byte. Extra bits and
// lengths are read LSB first; Huffman codes are sent most-significant bit first, which is
// why the decoder below walks a code one bit at a time (or looks up the bit-reversed code).
class BitReader {
 public:
  BitReader(const uint8_t* p, size_t n, const std::string& name) : p_(p), n_(n), name_(name) {}

  // The next k (≤ 32) bits without consuming them; bits past the end read as zero, and
  // consume() refuses to go past the end, so a peek never causes an out-of-bounds read.
  uint32_t peek(int k) {
    while (cnt_ < k) {
      uint64_t byte = pos_ < n_ ? p_[pos_] : 0;
      ++pos_;
      buf_ |= byte << cnt_;
      cnt_ += 8;
    }
    return static_cast<uint32_t>(buf_ & ((uint64_t{1} << k) - 1));
  }
  void consume(int k) {
    buf_ >>= k;
    cnt_ -= k;
    if (pos_ > n_ && static_cast<int64_t>(pos_ - n_) * 8 > cnt_) fail("stream is truncated");
  }
  uint32_t bits(int k) {
    if (k == 0) return 0;
    uint32_t v = peek(k);
    consume(k);
    return v;
  }
  // Stored blocks start on a byte boundary: drop the rest of the current byte.
  void align() { consume(cnt_ % 8); }
  size_t byte_offset() const { return pos_ - static_cast<size_t>(cnt_ / 8); }  // next unread byte
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("inflate(" + name_ + "): " + what + " at byte offset " + std::to_string(byte_offset()));
  }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0;      // pos_: next byte to load into buf_ (may run past n_: zero fill)
  uint64_t buf_ = 0;
  int cnt_ = 0;             // bits in buf_
  const std::string name_;  // a copy: callers pass temporaries ("name @offset") that die before fail()
};

// ---- canonical Huffman codes (RFC 1951 §3.2.2) ---------------------------------------------
// A code is given by a code length per symbol. Codes of the same length are consecutive
// integers in symbol order, and shorter codes come first. So `count[len]` and the symbols
// sorted by (length, value) are enough to decode: walk the code bit by bit, and at each
// length check whether the value so far falls in that length's range.
constexpr int kMaxBits = 15;
constexpr int kFastBits = 9;  // codes up to 9 bits decode with one table look-up

struct Huffman {
  std::array<uint16_t, kMaxBits + 1> count{};
  std::vector<uint16_t> symbol;                       // sorted by (length, value)
  std::array<uint16_t, 1 << kFastBits> fast{};       // (symbol << 4) | length, 0 = slow path

  // Returns false when the lengths over-subscribe the code space (no prefix code exists).
  bool build(const uint8_t* lengths, int n) {
    count.fill(0);
    // Length 0 means "symbol not used", so it is counted and then forgotten.
    for (int s = 0; s < n; ++s) ++count[lengths[s]];
    count[0] = 0;
    // Kraft's inequality: a prefix code with these lengths exists iff Σ 2^−len ≤ 1. We track
    // the code space still free at each length; each longer length doubles it. A negative
    // value means more codes than the space holds (over-subscribed: a corrupt header).
    // Leftover space (an incomplete code) is allowed; decoding an unused code fails later.
    int left = 1;
    for (int len = 1; len <= kMaxBits; ++len) {
      left = 2 * left - count[len];
      if (left < 0) return false;
    }
    // offs[len]: where the symbols of length len start in `symbol`
    std::array<uint16_t, kMaxBits + 2> offs{};
    for (int len = 1; len <= kMaxBits; ++len) offs[len + 1] = static_cast<uint16_t>(offs[len] + count[len]);
    symbol.assign(offs[kMaxBits + 1], 0);
    for (int s = 0; s < n; ++s)
      if (lengths[s]) symbol[offs[lengths[s]]++] = static_cast<uint16_t>(s);
    // The fast table: the first kFastBits bits of the stream (LSB first) index it, so the
    // code (sent MSB first) is stored bit-reversed, repeated for every value of the bits after it.
    // Canonical assignment (RFC 1951 §3.2.2): the first code of each length is the last
    // code of the previous length plus one, shifted left by one bit.
    fast.fill(0);
    int code = 0, index = 0;
    for (int len = 1; len <= kFastBits; ++len) {
      for (int i = 0; i < count[len]; ++i, ++code, ++index) {
        int rev = 0;
        for (int b = 0; b < len; ++b) rev |= ((code >> b) & 1) << (len - 1 - b);
        for (int fill = rev; fill < (1 << kFastBits); fill += 1 << len)
          fast[fill] = static_cast<uint16_t>((symbol[index] << 4) | len);
      }
      code <<= 1;
    }
    return true;
  }

  int decode(BitReader& br) const {
    uint16_t e = fast[br.peek(kFastBits)];
    if (e) {
      br.consume(e & 15);
      return e >> 4;
    }
    // Slow path (codes longer than kFastBits, or an unused code): canonical walk.
    // Invariant at length len: `first` is the first code of that length, `index` the
    // position in `symbol` of the first symbol of that length, `code` the bits read so far.
    // If code − first < count[len] the code is the (code − first)-th symbol of this length.
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= kMaxBits; ++len) {
      code |= static_cast<int>(br.bits(1));
      int c = count[len];
      if (code - first < c) return symbol[index + (code - first)];
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
    br.fail("invalid Huffman code (not in the block's code table)");
  }
};

// The decoded bytes, capped. A caller that knows how much output to expect (an IDX header
// says it) passes that as the cap, so a stream that would decode to more (a "gzip bomb": a
// 1 MB stream of length-258 copies decodes to 1 GiB) is stopped the moment it passes the
// cap, having used at most the cap in memory. In prefix mode (gunzip_prefix) reaching the cap
// is not an error: decoding just stops there, unwinding with Full.
struct Output {
  std::vector<uint8_t> v;
  size_t cap = SIZE_MAX;
  bool prefix = false;
  struct Full {};

  // How many of k more bytes fit; in normal mode all k must fit or the stream is refused.
  size_t room(size_t k, BitReader& br) const {
    const size_t left = cap - v.size();
    if (k <= left) return k;
    if (!prefix)
      br.fail("output would exceed " + std::to_string(cap) +
              " bytes, the most the caller expects (a gzip bomb, or data longer than its header says)");
    return left;
  }
  void put(uint8_t b, BitReader& br) {
    if (room(1, br) == 0) throw Full{};
    v.push_back(b);
  }
  // Byte by byte on purpose: a copy may overlap its own output (d < len repeats a pattern).
  void copy(size_t d, size_t len, BitReader& br) {
    const size_t from = v.size() - d, k = room(len, br);
    for (size_t i = 0; i < k; ++i) v.push_back(v[from + i]);
    if (k < len) throw Full{};
  }
};

// Lengths 257..285 and distances 0..29: base values and extra bits (RFC 1951 §3.2.5).
constexpr uint16_t kLenBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr uint8_t kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr uint16_t kDistBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// The body of a compressed block: literals, end-of-block (256), or length/distance copies.
void inflate_codes(BitReader& br, const Huffman& lit, const Huffman& dist, Output& out) {
  // Symbols 257..285 say "a copy follows": its length is a base plus extra bits read raw
  // (LSB first), then a distance symbol from the second code, again base plus extra bits.
  for (;;) {
    int sym = lit.decode(br);
    if (sym < 256) {
      out.put(static_cast<uint8_t>(sym), br);
    } else if (sym == 256) {
      return;
    } else {
      sym -= 257;
      if (sym >= 29) br.fail("invalid length symbol " + std::to_string(sym + 257));
      size_t len = kLenBase[sym] + br.bits(kLenExtra[sym]);
      int ds = dist.decode(br);
      if (ds >= 30) br.fail("invalid distance symbol " + std::to_string(ds));
      size_t d = kDistBase[ds] + br.bits(kDistExtra[ds]);
      if (d > out.v.size())
        br.fail("distance " + std::to_string(d) + " reaches before the start of the output (" +
                std::to_string(out.v.size()) + " bytes so far)");
      out.copy(d, len, br);
    }
  }
}

// A stored block: the compressor found nothing to gain. After the 3 header bits the rest of
// the byte is padding, then LEN and its one's complement NLEN (a cheap integrity check),
// then LEN raw bytes.
void inflate_stored(BitReader& br, Output& out) {
  br.align();
  uint32_t len = br.bits(16), nlen = br.bits(16);
  if ((len ^ 0xFFFFu) != nlen)
    br.fail("stored block length " + std::to_string(len) + " does not match its complement " + std::to_string(nlen));
  for (uint32_t i = 0; i < len; ++i) out.put(static_cast<uint8_t>(br.bits(8)), br);
}

void inflate_fixed(BitReader& br, Output& out) {
  // The fixed code of §3.2.6: 0-143 → 8 bits, 144-255 → 9, 256-279 → 7, 280-287 → 8;
  // all 30 distance codes 5 bits. Built once.
  static const std::pair<Huffman, Huffman> fixed = [] {
    std::pair<Huffman, Huffman> h;
    uint8_t l[288];
    for (int s = 0; s < 288; ++s) l[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    h.first.build(l, 288);
    uint8_t d[30];
    for (auto& x : d) x = 5;
    h.second.build(d, 30);
    return h;
  }();
  inflate_codes(br, fixed.first, fixed.second, out);
}

void inflate_dynamic(BitReader& br, Output& out) {
  int nlen = static_cast<int>(br.bits(5)) + 257, ndist = static_cast<int>(br.bits(5)) + 1,
      ncode = static_cast<int>(br.bits(4)) + 4;
  if (nlen > 286 || ndist > 30)
    br.fail("dynamic block declares " + std::to_string(nlen) + " literal/length and " + std::to_string(ndist) +
            " distance codes (at most 286 and 30)");
  // First a Huffman code for the code lengths themselves, its lengths sent in this order.
  static constexpr uint8_t kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  uint8_t lengths[286 + 30] = {};
  for (int i = 0; i < ncode; ++i) lengths[kOrder[i]] = static_cast<uint8_t>(br.bits(3));
  Huffman lencode;
  if (!lencode.build(lengths, 19)) br.fail("over-subscribed code-length code");
  // Then the literal/length and distance code lengths, run-length coded with 16, 17, 18.
  for (int i = 0; i < 19; ++i) lengths[i] = 0;
  int idx = 0;
  while (idx < nlen + ndist) {
    int sym = lencode.decode(br);
    if (sym < 16) {
      lengths[idx++] = static_cast<uint8_t>(sym);
      continue;
    }
    uint8_t value = 0;
    int repeat;
    if (sym == 16) {
      if (idx == 0) br.fail("code-length repeat (16) with no previous length");
      value = lengths[idx - 1];
      repeat = 3 + static_cast<int>(br.bits(2));
    } else if (sym == 17) {
      repeat = 3 + static_cast<int>(br.bits(3));
    } else {
      repeat = 11 + static_cast<int>(br.bits(7));
    }
    if (idx + repeat > nlen + ndist) br.fail("code-length repeat runs past the declared number of codes");
    while (repeat--) lengths[idx++] = value;
  }
  if (lengths[256] == 0) br.fail("dynamic block has no end-of-block code");
  Huffman lit, dist;
  if (!lit.build(lengths, nlen)) br.fail("over-subscribed literal/length code");
  if (!dist.build(lengths + nlen, ndist)) br.fail("over-subscribed distance code");
  inflate_codes(br, lit, dist, out);
}

uint32_t read_le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

// Every block starts with 3 bits: BFINAL (is this the last block?) and BTYPE (00 stored,
// 01 fixed Huffman, 10 dynamic Huffman, 11 reserved = error).
namespace {
void inflate_blocks(BitReader& br, Output& out) {
  bool last = false;
  while (!last) {
    last = br.bits(1) == 1;
    switch (br.bits(2)) {  // BTYPE
      case 0: inflate_stored(br, out); break;
      case 1: inflate_fixed(br, out); break;
      case 2: inflate_dynamic(br, out); break;
      default: br.fail("invalid block type 3");
    }
  }
}
}  // namespace

std::vector<uint8_t> inflate(const uint8_t* data, size_t n, const std::string& name, size_t* consumed,
                             size_t max_output) {
  BitReader br(data, n, name);
  Output out;
  out.cap = max_output;
  inflate_blocks(br, out);
  br.align();
  if (consumed) *consumed = br.byte_offset();
  return std::move(out.v);
}

bool is_gzip(const uint8_t* data, size_t n) { return n >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

// gzip (RFC 1952) is a thin wrapper: a 10-byte header (magic 1f 8b, method 8 = deflate,
// flags, time, OS), optional fields the flags announce, the DEFLATE stream, then the CRC-32
// and the length mod 2^32 of the original data. The wrapper adds the integrity check
// DEFLATE itself lacks.
namespace {
[[noreturn]] void gzip_fail(const std::string& name, const std::string& what, size_t off) {
  throw std::runtime_error("gunzip(" + name + "): " + what + " at byte offset " + std::to_string(off));
}

// Checks the member header that starts at data[pos] and returns the offset of its DEFLATE data.
size_t gzip_member_header(const uint8_t* data, size_t n, size_t pos, const std::string& name) {
  const size_t start = pos;
  if (n - pos < 18) gzip_fail(name, "truncated gzip member (" + std::to_string(n - pos) + " bytes, a header and trailer need 18)", pos);
  if (!is_gzip(data + pos, n - pos)) gzip_fail(name, "not a gzip stream (magic is not 1f 8b)", pos);
  if (data[pos + 2] != 8) gzip_fail(name, "compression method " + std::to_string(data[pos + 2]) + ", expected 8 (deflate)", pos + 2);
  const uint8_t flg = data[pos + 3];
  if (flg & 0xE0) gzip_fail(name, "reserved flag bits set", pos + 3);
  pos += 10;  // ID1 ID2 CM FLG MTIME(4) XFL OS
  auto need = [&](size_t k) {
    if (n - pos < k) gzip_fail(name, "truncated gzip header", pos);
  };
  if (flg & 0x04) {  // FEXTRA
    need(2);
    size_t xlen = data[pos] | size_t{data[pos + 1]} << 8;
    pos += 2;
    need(xlen);
    pos += xlen;
  }
  for (uint8_t bit : {uint8_t{0x08}, uint8_t{0x10}}) {  // FNAME, FCOMMENT: zero-terminated
    if (!(flg & bit)) continue;
    while (pos < n && data[pos] != 0) ++pos;
    need(1);
    ++pos;
  }
  if (flg & 0x02) {  // FHCRC: the low 16 bits of the CRC-32 of the header
    need(2);
    uint32_t h = data[pos] | uint32_t{data[pos + 1]} << 8;
    if (h != (crc32(data + start, pos - start) & 0xFFFF)) gzip_fail(name, "header CRC mismatch", pos);
    pos += 2;
  }
  return pos;
}
}  // namespace

std::vector<uint8_t> gunzip(const uint8_t* data, size_t n, const std::string& name, size_t max_output) {
  std::vector<uint8_t> out;
  size_t pos = 0;
  do {  // one member per iteration (RFC 1952 §2.2: a file is a series of members)
    pos = gzip_member_header(data, n, pos, name);
    size_t used = 0;
    // The cap covers all members together: each may fill only what the earlier ones left.
    std::vector<uint8_t> member =
        inflate(data + pos, n - pos, name + " @" + std::to_string(pos), &used, max_output - out.size());
    pos += used;
    if (n - pos < 8) gzip_fail(name, "truncated gzip trailer (CRC-32 and ISIZE)", pos);
    uint32_t want_crc = read_le32(data + pos), want_size = read_le32(data + pos + 4);
    uint32_t got_crc = crc32(member.data(), member.size());
    if (got_crc != want_crc)
      gzip_fail(name, "CRC-32 mismatch: trailer says " + std::to_string(want_crc) + ", data gives " + std::to_string(got_crc), pos);
    if (want_size != static_cast<uint32_t>(member.size()))
      gzip_fail(name, "ISIZE mismatch: trailer says " + std::to_string(want_size) + " bytes, decoded " +
               std::to_string(member.size()),
           pos + 4);
    pos += 8;
    if (out.empty()) out = std::move(member);
    else out.insert(out.end(), member.begin(), member.end());
  } while (pos < n);
  return out;
}

std::vector<uint8_t> gunzip_prefix(const uint8_t* data, size_t n, size_t k, const std::string& name) {
  const size_t pos = gzip_member_header(data, n, 0, name);
  BitReader br(data + pos, n - pos, name + " @" + std::to_string(pos));
  Output out;
  out.cap = k;
  out.prefix = true;
  try {
    inflate_blocks(br, out);
  } catch (const Output::Full&) {
    // reached k bytes: that is all the caller asked for
  }
  return std::move(out.v);
}

}  // namespace mgf
