// compression/deep_compression.cpp — see deep_compression.h (Deep Compression, the whole
// pipeline's file format and the model that runs from it).
#include "compression/deep_compression.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "compression/coding/huffman.h"
#include "compression/pruning/magnitude.h"
#include "engine/checkpoint.h"
#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/io/frame.h"
#include "engine/kernels/conv.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/schedule.h"
#include "engine/train.h"
#include "engine/threads.h"
#include "layers/conv.h"
#include "layers/fire.h"

namespace mgf {

static const char kMagic[8] = {'M', 'G', 'F', 'D', 'C', '\r', '\n', '\x1a'};
static constexpr uint32_t kVersion = 2;        // the newest version read (and written on request)
static constexpr size_t kHeaderBytes = 8 + 4 + 8 + 4;

// ---- binary16 ------------------------------------------------------------------------------
// IEEE-754 binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits. Rounding to nearest, ties
// to even, on the bits: the 13 fraction bits a binary32 has beyond binary16's are the remainder.
uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax >= 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00 | (ax > 0x7F800000u ? 0x200 : 0));  // inf, NaN
  if (ax >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00);   // >= 2^16: overflows to inf
  if (ax >= 0x38800000u) {                                               // normal: >= 2^-14
    uint32_t h = ((((ax >> 23) - 127 + 15) << 10) | ((ax >> 13) & 0x3FF));
    const uint32_t rem = ax & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;                 // a carry may reach inf: correct
    return static_cast<uint16_t>(sign | h);
  }
  if (ax <= 0x33000000u) return sign;                                    // <= 2^-25 rounds to ±0
  // subnormal: h = f / 2^-24 = mantissa >> (126 − E)
  const uint32_t mant = (ax & 0x7FFFFF) | 0x800000, shift = 126 - (ax >> 23);
  uint32_t h = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  if (e == 0) {   // zero or subnormal: m · 2^-24, exact in binary32
    const float v = std::ldexp(static_cast<float>(m), -24);
    return sign ? -v : v;
  }
  const uint32_t x = sign | (e == 31 ? 0x7F800000u | (m << 13) : ((e - 15 + 127) << 23) | (m << 13));
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void round_to_half_floats(Module& m, TrainedQuantization& q) {
  std::vector<const Parameter*> shared;
  for (auto& l : q.layers()) {
    for (float& c : l.shared.codebook) c = round_to_half(c);
    shared.push_back(l.param);
  }
  q.write_weights();
  for (auto& np : m.named_parameters()) {
    if (std::find(shared.begin(), shared.end(), np.param) != shared.end()) continue;
    Tensor& t = np.param->var.value();
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = round_to_half(t[i]);
  }
}

Tensor CompressedTensor::decode() const {
  if (shape_numel(shape) > kMaxTensorElements)
    throw std::runtime_error("compressed tensor '" + name + "': expected at most kMaxTensorElements = " +
                             std::to_string(kMaxTensorElements) + " elements, found " + std::to_string(shape_numel(shape)));
  if (!coded) return Tensor(shape, values);
  std::vector<uint8_t> dense = relative_index_decode(stream);
  Tensor w(shape);
  for (int64_t i = 0; i < w.numel(); ++i) w[i] = codebook[dense[i]];
  return w;
}

const CompressedTensor* CompressedModel::find(const std::string& name) const {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

CompressedModel make_compressed_model(Module& m, const TrainedQuantization& q, const std::string& arch,
                                      const CodingOptions& o) {
  if (o.version != 1 && o.version != 2)
    throw std::invalid_argument("make_compressed_model: expected file version 1 or 2, found " + std::to_string(o.version));
  if (o.half_floats && o.version < 2)
    throw std::invalid_argument("make_compressed_model: half_floats needs file version 2, found version 1");
  CompressedModel cm;
  cm.arch = arch;
  cm.version = o.version;
  for (auto& np : m.named_parameters()) {
    CompressedTensor t;
    t.name = np.name;
    t.half = o.half_floats;
    t.shape = np.param->var.value().shape();
    const TrainedQuantization::Layer* layer = nullptr;
    for (auto& l : q.layers())
      if (l.param == np.param) layer = &l;
    if (layer) {
      t.coded = true;
      t.weight_bits = layer->shared.bits;
      t.codebook = layer->shared.codebook;
      const int gap_bits = t.shape.size() == 4 ? o.conv_gap_bits : o.fc_gap_bits;
      t.stream = relative_index_encode(layer->shared.codes.data(), layer->shared.numel(), gap_bits);
    } else {
      t.values = np.param->var.value().to_vector();
    }
    cm.tensors.push_back(std::move(t));
  }
  return cm;
}

// ---- the symbol streams ----------------------------------------------------------------------
// Fields are written with ByteWriter and read with ByteReader (engine/io/bytes.h): little-endian,
// and every read checked against the bytes left, naming the field and the offset.
namespace {

// A symbol stream: canonical Huffman lengths (4 bits each, for symbols 0..n−1), then the bits.
// The same writer serves the P+Q file: with huffman = false every length is b, and canonical
// codes of equal length are just the symbols in binary — fixed-width packing.
// Version 2's unsigned integers: LEB128, 7 bits per byte, low group first, high bit = more.
void put_varint(ByteWriter& w, uint64_t v) {
  while (v >= 0x80) {
    w.u8(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  w.u8(static_cast<uint8_t>(v));
}

// At most 5 bytes (32 bits), minimal (no trailing zero group), value <= max.
uint32_t get_varint(ByteReader& r, const std::string& field, uint64_t max) {
  const size_t at = r.pos();
  uint64_t v = 0;
  for (int i = 0;; ++i) {
    if (i == 5) r.fail_at(at, field, "expected a varint of at most 5 bytes, found more");
    const uint8_t b = r.u8(field);
    if (i > 0 && b == 0) r.fail_at(at, field, "expected a minimal varint, found a zero last byte");
    v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) break;
  }
  if (v > max) r.fail_at(at, field, "expected at most " + std::to_string(max) + ", found " + std::to_string(v));
  return static_cast<uint32_t>(v);
}

void write_stream(ByteWriter& w, const std::vector<uint8_t>& symbols, int alphabet, bool huffman, uint32_t version,
                  int64_t& table_bytes, int64_t& data_bytes, uint64_t& nbits) {
  std::vector<uint8_t> lengths;
  if (huffman) {
    lengths = huffman_lengths(symbol_histogram(symbols, alphabet));
  } else {
    int bits = 0;
    while ((1 << bits) < alphabet) ++bits;
    lengths = fixed_lengths(bits);
  }
  size_t n = lengths.size();
  while (n > 0 && lengths[n - 1] == 0) --n;   // trailing unused symbols need no entry
  const int64_t t0 = static_cast<int64_t>(w.size());
  if (version == 1) w.u16(static_cast<uint16_t>(n));
  else put_varint(w, n);
  for (size_t s = 0; s < n; s += 2) w.u8(static_cast<uint8_t>(lengths[s] | (s + 1 < n ? lengths[s + 1] << 4 : 0)));
  BitStream bs = huffman_encode(symbols, huffman_canonical(lengths));
  if (bs.nbits > 0xFFFFFFFFull) throw std::invalid_argument("compressed file: stream longer than 2^32 bits");
  if (version == 1) w.u32(static_cast<uint32_t>(bs.nbits));
  else put_varint(w, bs.nbits);
  table_bytes = static_cast<int64_t>(w.size()) - t0;
  w.bytes(bs.bytes.data(), bs.bytes.size());
  data_bytes = static_cast<int64_t>(bs.bytes.size());
  nbits = bs.nbits;
}

std::vector<uint8_t> read_stream(ByteReader& r, uint32_t version, int alphabet, int64_t count, const std::string& field,
                                 int64_t& table_bytes, int64_t& data_bytes, uint64_t& nbits) {
  const size_t t0 = r.pos();
  // The lengths come from the file, so they are untrusted: huffman_decode() re-checks them
  // (Kraft sum <= 1) before decoding a single symbol.
  uint32_t n = version == 1 ? r.u16(field + " code-length count") : get_varint(r, field + " code-length count", 0xFFFF);
  if (n > static_cast<uint32_t>(alphabet))
    r.fail(field, "expected at most " + std::to_string(alphabet) + " code lengths, found " + std::to_string(n));
  std::vector<uint8_t> lengths(static_cast<size_t>(alphabet), 0);
  for (uint32_t s = 0; s < n; s += 2) {
    uint32_t b = r.u8(field + " code lengths");
    lengths[s] = b & 0xF;
    if (s + 1 < n) lengths[s + 1] = static_cast<uint8_t>(b >> 4);
    else if (b >> 4) r.fail(field, "expected a zero pad nibble, found " + std::to_string(b >> 4));
  }
  nbits = version == 1 ? r.u32(field + " bit count") : get_varint(r, field + " bit count", 0xFFFFFFFFu);
  table_bytes = static_cast<int64_t>(r.pos() - t0);
  // Every symbol takes at least one bit, so `count` symbols need count bits: checked here,
  // before huffman_decode() reserves room for them (a 452-byte file must not ask for 1.4 GB).
  if (static_cast<uint64_t>(count) > nbits)
    r.fail(field + " bit count", "expected at least one bit per symbol, " + std::to_string(count) +
                                     " symbols, found " + std::to_string(nbits) + " bits");
  const size_t at = r.pos();
  const size_t nbytes = r.need_array((nbits + 7) / 8, 1, field + " bits");
  BitStream bs;
  const uint8_t* p = r.bytes(nbytes, field + " bits");
  bs.bytes.assign(p, p + nbytes);
  bs.nbits = nbits;
  data_bytes = static_cast<int64_t>(nbytes);
  try {
    return huffman_decode(bs, lengths, count);
  } catch (const std::runtime_error& e) {
    r.fail_at(at, field, e.what());
  }
}

// The half-float fields: binary16 bits of values that must already be binary16 (a lossy
// write would make the file's model differ from the in-memory one without anyone seeing it).
void put_half(ByteWriter& w, float v, const std::string& name) {
  const uint16_t h = float_to_half(v);
  const float back = half_to_float(h);
  if (!(back == v) && !(std::isnan(back) && std::isnan(v)))
    throw std::invalid_argument("serialize_compressed: " + name + " holds " + std::to_string(v) +
                                ", expected a binary16 value (round the model with round_to_half_floats() first)");
  w.u16(h);
}

size_t common_prefix(const std::string& a, const std::string& b) {
  size_t p = 0;
  while (p < a.size() && p < b.size() && a[p] == b[p]) ++p;
  return p;
}

}  // namespace

std::string serialize_compressed(const CompressedModel& cm, bool huffman, FileLayout* layout) {
  // The payload is built first, so the header can carry its length and checksum. Alongside,
  // the layout records how many bytes each part took (the --inspect table, Tables 2-3).
  const uint32_t v = cm.version;
  if (v != 1 && v != 2)
    throw std::invalid_argument("serialize_compressed: expected version 1 or 2, found " + std::to_string(v));
  ByteWriter w;
  FileLayout fl;
  w.str_u8(cm.arch);
  if (v == 1) w.u32(static_cast<uint32_t>(cm.tensors.size()));
  else put_varint(w, cm.tensors.size());
  fl.header_bytes = static_cast<int64_t>(kHeaderBytes + w.size());
  std::string prev;   // version 2 names: the prefix shared with the previous one is not repeated
  for (const auto& t : cm.tensors) {
    TensorLayout tl;
    tl.name = t.name;
    tl.shape = t.shape;
    tl.coded = t.coded;
    tl.numel = shape_numel(t.shape);
    if (t.half && v == 1) throw std::invalid_argument("serialize_compressed: " + t.name + " is binary16, which needs version 2");
    const int64_t h0 = static_cast<int64_t>(w.size());
    if (v == 1) {
      w.str_u8(t.name);
      w.u8(static_cast<uint8_t>(t.shape.size()));
      for (int64_t d : t.shape) w.u32(static_cast<uint32_t>(d));
      w.u8(t.coded ? 1 : 0);
    } else {
      const size_t p = common_prefix(prev, t.name);
      put_varint(w, p);
      w.str_u8(t.name.substr(p));
      prev = t.name;
      w.u8(static_cast<uint8_t>(t.shape.size()));
      for (int64_t d : t.shape) put_varint(w, static_cast<uint64_t>(d));
      w.u8(static_cast<uint8_t>((t.coded ? 1 : 0) | (t.half ? 2 : 0)));
    }
    if (!t.coded) {
      tl.header_bytes = static_cast<int64_t>(w.size()) - h0;
      if (static_cast<int64_t>(t.values.size()) != tl.numel)
        throw std::invalid_argument("serialize_compressed: " + t.name + " has " + std::to_string(t.values.size()) +
                                    " values, expected " + std::to_string(tl.numel));
      if (t.half) {
        for (float x : t.values) put_half(w, x, t.name);
      } else {
        w.f32s(t.values.data(), t.values.size());
      }
      tl.raw_bytes = (t.half ? 2 : 4) * tl.numel;
      tl.nonzeros = tl.numel;
    } else {
      // Coded: bit widths, codebook without C_0 (always 0), entry count, then the two streams.
      const int k_codes = 1 << t.weight_bits;
      if (static_cast<int>(t.codebook.size()) != k_codes || t.codebook[0] != 0.0f || t.stream.numel != tl.numel)
        throw std::invalid_argument("serialize_compressed: " + t.name + ": inconsistent codebook or stream");
      if (v == 1) {
        w.u8(static_cast<uint8_t>(t.weight_bits));
        w.u8(static_cast<uint8_t>(t.stream.gap_bits));
      } else {
        w.u8(static_cast<uint8_t>(t.weight_bits << 4 | t.stream.gap_bits));   // both 1..8
      }
      const int64_t c0 = static_cast<int64_t>(w.size());
      for (int k = 1; k < k_codes; ++k) {
        if (t.half) put_half(w, t.codebook[k], t.name + " codebook");
        else w.f32(t.codebook[k]);
      }
      tl.codebook_bytes = static_cast<int64_t>(w.size()) - c0;
      if (v == 1) w.u32(static_cast<uint32_t>(t.stream.entries()));
      else put_varint(w, static_cast<uint64_t>(t.stream.entries()));
      tl.header_bytes = static_cast<int64_t>(w.size()) - h0 - tl.codebook_bytes;
      write_stream(w, t.stream.codes, k_codes, huffman, v, tl.code_table_bytes, tl.code_bytes, tl.code_bits);
      write_stream(w, t.stream.gaps, 1 << t.stream.gap_bits, huffman, v, tl.gap_table_bytes, tl.gap_bytes,
                   tl.gap_stream_bits);
      tl.weight_bits = t.weight_bits;
      tl.gap_bits = t.stream.gap_bits;
      tl.entries = t.stream.entries();
      tl.fillers = t.stream.fillers();
      tl.nonzeros = tl.entries - tl.fillers;
    }
    fl.tensors.push_back(tl);
  }
  // Header: magic, version, payload length, checksum of the payload (engine/io/frame.h).
  std::string file = frame_write(kMagic, v, w);
  fl.file_bytes = static_cast<int64_t>(file.size());
  if (layout) *layout = fl;
  return file;
}

CompressedModel parse_compressed(const std::string& bytes, const std::string& what, FileLayout* layout) {
  // Order of checks: magic (is this our file at all?), version, length (truncated or padded?),
  // checksum (corrupted?), then every field for plausibility — a flipped bit that the CRC
  // cannot see (we test that) must still end in an exception, never in a bad read.
  // Versions 1 and 2 are read: the version is looked at first (when the magic is ours), and
  // frame_open() then checks the frame for that version.
  uint32_t v = kVersion;
  if (bytes.size() >= 12 && std::memcmp(bytes.data(), kMagic, 8) == 0) {
    v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[8 + k])) << (8 * k);
    if (v != 1 && v != 2) ByteReader(bytes, what).fail_at(8, "version", "expected 1 or 2, found " + std::to_string(v));
  }
  ByteReader r = frame_open(bytes, what, kMagic, "MGFDC\\r\\n\\x1a", "a Deep Compression file", v);
  FileLayout fl;
  fl.file_bytes = static_cast<int64_t>(bytes.size());
  CompressedModel cm;
  cm.version = v;
  cm.arch = r.str_u8("architecture name");
  // No reserve from the count: each tensor below is read (and checked) before it is stored.
  const uint32_t n = v == 1 ? r.u32("tensor count") : get_varint(r, "tensor count", 0xFFFFFFFFu);
  fl.header_bytes = static_cast<int64_t>(r.pos());
  std::string prev;
  for (uint32_t ti = 0; ti < n; ++ti) {
    CompressedTensor t;
    TensorLayout tl;
    const size_t h0 = r.pos();
    const std::string tf = "tensor " + std::to_string(ti) + " name";
    if (v == 1) {
      t.name = r.str_u8(tf);
    } else {
      const uint32_t p = get_varint(r, tf + " prefix", prev.size());
      t.name = prev.substr(0, p) + r.str_u8(tf);
      if (t.name.size() > 255) r.fail(tf, "expected a name of at most 255 bytes, found " + std::to_string(t.name.size()));
      prev = t.name;
    }
    const std::string f = "tensor '" + t.name + "'";
    uint32_t nd = r.u8(f + " ndim");
    if (nd < 1 || nd > 4) r.fail(f + " ndim", "expected 1 to 4 dims, found " + std::to_string(nd));
    int64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      const size_t at = r.pos();
      const uint32_t x = v == 1 ? r.u32(f + " shape") : get_varint(r, f + " shape", 0xFFFFFFFFu);
      if (x == 0 || x > (1u << 28)) r.fail_at(at, f + " shape", "expected a dimension in 1..2^28, found " + std::to_string(x));
      t.shape.push_back(x);
      numel = static_cast<int64_t>(checked_mul(static_cast<uint64_t>(numel), x, what + ": " + f + " shape"));
      // The cap comes before anything is sized from the shape (decode(), the runner's arrays).
      if (numel > kMaxTensorElements)
        r.fail_at(at, f + " shape", "expected at most kMaxTensorElements = " + std::to_string(kMaxTensorElements) +
                                        " elements, found " + std::to_string(numel) + " or more");
    }
    const uint32_t kind = r.u8(f + " kind");
    if (kind > (v == 1 ? 1u : 3u))
      r.fail_at(r.pos() - 1, f + " kind", v == 1 ? "expected 0 (raw) or 1 (coded), found " + std::to_string(kind)
                                                 : "expected 0 (raw), 1 (coded), 2 (raw f16) or 3 (coded, f16 codebook), found " +
                                                       std::to_string(kind));
    t.half = (kind & 2) != 0;
    tl.name = t.name;
    tl.shape = t.shape;
    tl.numel = numel;
    const int fbytes = t.half ? 2 : 4;
    if ((kind & 1) == 0) {
      tl.header_bytes = static_cast<int64_t>(r.pos() - h0);
      r.need_array(static_cast<uint64_t>(numel), static_cast<uint64_t>(fbytes), f + " values");   // before the allocation
      t.values.resize(static_cast<size_t>(numel));
      if (t.half) {
        for (float& x : t.values) x = half_to_float(r.u16(f + " values"));
      } else {
        r.f32s(t.values.data(), t.values.size(), f + " values");
      }
      tl.raw_bytes = fbytes * numel;
      tl.nonzeros = numel;
    } else {
      t.coded = true;
      int gap_bits = 0;
      if (v == 1) {
        t.weight_bits = static_cast<int>(r.u8(f + " weight bits"));
        gap_bits = static_cast<int>(r.u8(f + " gap bits"));
      } else {
        const uint8_t b = r.u8(f + " bit widths");
        t.weight_bits = b >> 4;
        gap_bits = b & 0xF;
      }
      if (t.weight_bits < 1 || t.weight_bits > 8)
        r.fail_at(r.pos() - 1, f + " weight bits", "expected 1..8, found " + std::to_string(t.weight_bits));
      if (gap_bits < 1 || gap_bits > 8) r.fail_at(r.pos() - 1, f + " gap bits", "expected 1..8, found " + std::to_string(gap_bits));
      const int k_codes = 1 << t.weight_bits;
      const size_t c0 = r.pos();
      r.need_array(static_cast<uint64_t>(k_codes - 1), static_cast<uint64_t>(fbytes), f + " codebook");
      t.codebook.assign(static_cast<size_t>(k_codes), 0.0f);
      for (int k = 1; k < k_codes; ++k) t.codebook[k] = t.half ? half_to_float(r.u16(f + " codebook")) : r.f32(f + " codebook");
      tl.codebook_bytes = static_cast<int64_t>(r.pos() - c0);
      // entries <= numel: each entry (weight or filler) occupies a distinct position.
      const size_t e0 = r.pos();
      const uint32_t entries = v == 1 ? r.u32(f + " entry count") : get_varint(r, f + " entry count", 0xFFFFFFFFu);
      tl.header_bytes = static_cast<int64_t>(r.pos() - h0) - tl.codebook_bytes;
      if (entries > numel)
        r.fail_at(e0, f + " entry count", "expected at most numel = " + std::to_string(numel) + ", found " + std::to_string(entries));
      t.stream.numel = numel;
      t.stream.gap_bits = gap_bits;
      t.stream.codes = read_stream(r, v, k_codes, entries, f + " weight-index stream", tl.code_table_bytes, tl.code_bytes, tl.code_bits);
      t.stream.gaps = read_stream(r, v, 1 << gap_bits, entries, f + " gap stream", tl.gap_table_bytes, tl.gap_bytes, tl.gap_stream_bits);
      // The gaps must land inside the matrix: after this the kernels may trust the stream.
      try {
        relative_index_validate(t.stream);
      } catch (const std::runtime_error& e) {
        throw std::runtime_error(what + ": " + f + ": " + e.what());
      }
      tl.coded = true;
      tl.weight_bits = t.weight_bits;
      tl.gap_bits = gap_bits;
      tl.entries = entries;
      tl.fillers = t.stream.fillers();
      tl.nonzeros = tl.entries - tl.fillers;
    }
    cm.tensors.push_back(std::move(t));
    fl.tensors.push_back(tl);
  }
  if (r.remaining() != 0)
    r.fail("end of payload", "expected the end of the file, found " + std::to_string(r.remaining()) + " more bytes");
  if (layout) *layout = fl;
  return cm;
}

int64_t save_compressed(const std::string& path, const CompressedModel& cm, bool huffman, FileLayout* layout) {
  std::string bytes = serialize_compressed(cm, huffman, layout);
  write_file_atomic(path, bytes);
  return static_cast<int64_t>(bytes.size());
}

static std::string read_all(const std::string& path) {
  const std::vector<uint8_t> b = read_file(path);
  return std::string(b.begin(), b.end());
}

CompressedModel load_compressed(const std::string& path, FileLayout* layout) {
  return parse_compressed(read_all(path), path, layout);
}

int64_t file_size_bytes(const std::string& path) { return static_cast<int64_t>(read_all(path).size()); }

// ---- running from the file -----------------------------------------------------------------
CompressedLinear::CompressedLinear(const CompressedTensor& w, std::vector<float> bias) : bias_(std::move(bias)) {
  if (!w.coded || w.shape.size() != 2)
    throw std::invalid_argument("CompressedLinear: expected a coded 2-D weight, found " + w.name + " " + shape_str(w.shape));
  // Validates the stream (the kernels then trust it) and builds the sliced-ELL form.
  W_ = sell_from_relative_index(w.stream, w.codebook.data(), static_cast<int64_t>(w.codebook.size()), w.shape[0], w.shape[1]);
  if (!bias_.empty() && static_cast<int64_t>(bias_.size()) != W_.rows)
    throw std::invalid_argument("CompressedLinear: expected a bias of " + std::to_string(W_.rows) + ", found " +
                                std::to_string(bias_.size()));
}

Var CompressedLinear::forward(const Var& xv) {
  // [N, ...] is read as [N, rest], as LeNet300 flattens its images before fc1.
  const Tensor& X = xv.value();
  const int64_t cols = W_.cols, rows = W_.rows;
  if (X.ndim() < 2 || X.numel() != X.dim(0) * cols)
    throw std::invalid_argument("CompressedLinear: expected x [N, " + std::to_string(cols) + "] (or [N, ...] of " +
                                std::to_string(cols) + " per sample), found " + X.str());
  const int64_t N = X.dim(0);
  Tensor Y({N, rows});
  const float* b = bias_.empty() ? nullptr : bias_.data();
  // Batch 1 runs sell_matvec; a larger batch is split across the threads, each part one
  // sparse × dense product on its transposed samples (sell_linear_forward).
  parallel_for(0, N, 16, [&](int64_t lo, int64_t hi) {
    sell_linear_forward(W_, b, X.data() + lo * cols, hi - lo, Y.data() + lo * rows);
  });
  return Var(std::move(Y));
}

CompressedConv2d::CompressedConv2d(const CompressedTensor& w, std::vector<float> bias, const Conv2dOptions& o)
    : shape_(w.shape), options_(o), bias_(std::move(bias)) {
  if (!w.coded || w.shape.size() != 4)
    throw std::invalid_argument("CompressedConv2d: expected a coded 4-D weight, found " + w.name + " " + shape_str(w.shape));
  if (o.groups != 1)
    throw std::invalid_argument("CompressedConv2d: expected groups = 1, found " + std::to_string(o.groups));
  W_ = sell_from_relative_index(w.stream, w.codebook.data(), static_cast<int64_t>(w.codebook.size()), shape_[0],
                                shape_[1] * shape_[2] * shape_[3]);
  if (!bias_.empty() && static_cast<int64_t>(bias_.size()) != shape_[0])
    throw std::invalid_argument("CompressedConv2d: expected a bias of " + std::to_string(shape_[0]) + ", found " +
                                std::to_string(bias_.size()));
}

Var CompressedConv2d::forward(const Var& xv) {
  const Tensor& X = xv.value();
  const int64_t OC = shape_[0], C = shape_[1], KH = shape_[2], KW = shape_[3];
  if (X.ndim() != 4 || X.dim(1) != C)
    throw std::invalid_argument("CompressedConv2d: expected x [N, " + std::to_string(C) + ", H, W], found " + X.str());
  const ConvGeom g{C, X.dim(2), X.dim(3), KH, KW, options_.stride_h, options_.stride_w, options_.pad_h, options_.pad_w};
  check_conv_geom(g);
  const int64_t N = X.dim(0), OH = g.OH(), OW = g.OW(), P = OH * OW, K = C * KH * KW;
  Tensor Y({N, OC, OH, OW});
  const float* b = bias_.empty() ? nullptr : bias_.data();
  // One image per task: its im2col matrix [K × P], then Y_n [OC × P] = W·col + bias.
  parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> col(static_cast<size_t>(K * P));
    for (int64_t n = lo; n < hi; ++n) {
      im2col(g, X.data() + n * C * g.H * g.W, col.data());
      sell_spmm(W_, col.data(), P, b, Y.data() + n * OC * P);
    }
  });
  return Var(std::move(Y));
}

CompressedRunner::CompressedRunner(const CompressedModel& cm, std::shared_ptr<Module> skeleton) {
  // Walk the skeleton's children in order. `used` counts the file's tensors we consumed, so a
  // file with extra tensors (a different model) is refused instead of silently ignored.
  size_t used = 0;
  for (auto& [cname, child] : skeleton->children()) {
    // A Fire (SqueezeNet, layers/fire.h) is the one block with children the runner opens: its
    // three convolutions are loaded like top-level layers under "<fire>.squeeze" etc. and a
    // Fire of the same sizes is rebuilt around them (concat and bypass need no parameters).
    if (auto* fire = dynamic_cast<Fire*>(child.get())) {
      auto sq = load_stage(cm, cname + ".squeeze", fire->children()[0].second, used);
      auto x1 = load_stage(cm, cname + ".expand1x1", fire->children()[1].second, used);
      auto x3 = load_stage(cm, cname + ".expand3x3", fire->children()[2].second, used);
      stages_.push_back(register_module(
          cname, std::make_shared<Fire>(fire->in_channels, fire->squeeze_channels, fire->expand1x1_channels,
                                        fire->expand3x3_channels, fire->bypass, sq, x1, x3)));
      continue;
    }
    stages_.push_back(register_module(cname, load_stage(cm, cname, child, used)));
  }
  if (used != cm.tensors.size())
    throw std::invalid_argument("CompressedRunner: the file has " + std::to_string(cm.tensors.size()) +
                                " tensors, the model uses " + std::to_string(used));
  eval();
}

std::shared_ptr<Module> CompressedRunner::load_stage(const CompressedModel& cm, const std::string& cname,
                                                     std::shared_ptr<Module> child, size_t& used) {
  if (!child->children().empty())
    throw std::invalid_argument("CompressedRunner: expected a flat model (or Fire blocks), but child '" + cname +
                                "' has children");
  const CompressedTensor* w = cm.find(cname + ".weight");
  if (w && w->coded && w->shape.size() == 2) {
    const CompressedTensor* b = cm.find(cname + ".bias");
    auto params = child->named_parameters();
    for (auto& np : params)
      if (np.name != "weight" && np.name != "bias")
        throw std::invalid_argument("CompressedRunner: child '" + cname + "' has parameter '" + np.name +
                                    "' that a compressed linear layer cannot carry");
    if (params.size() != (b ? 2u : 1u))
      throw std::invalid_argument("CompressedRunner: child '" + cname + "' has " + std::to_string(params.size()) +
                                  " parameters, the file has " + std::to_string(b ? 2 : 1));
    // The same shape check as every other parameter: a file whose layer is larger than the
    // skeleton's would otherwise size the layer (and its output) from the file alone.
    for (auto& np : params) {
      const CompressedTensor* t = np.name == "weight" ? w : b;
      if (!t)
        throw std::invalid_argument("CompressedRunner: the model's parameter '" + cname + "." + np.name +
                                    "' is not in the file");
      if (t->shape != np.param->var.value().shape())
        throw std::invalid_argument("CompressedRunner: '" + cname + "." + np.name + "': expected " +
                                    np.param->var.value().str() + ", the file has " + shape_str(t->shape));
    }
    used += b ? 2 : 1;
    ++n_compressed_;
    return std::make_shared<CompressedLinear>(*w, b ? b->values : std::vector<float>{});
  }
  auto* conv = dynamic_cast<Conv2d*>(child.get());
  if (conv && w && w->coded && w->shape.size() == 4 && conv->options.groups == 1) {
    const CompressedTensor* b = cm.find(cname + ".bias");
    if (w->shape != conv->weight.var.value().shape())
      throw std::invalid_argument("CompressedRunner: '" + cname + ".weight': expected " + conv->weight.var.value().str() +
                                  ", the file has " + shape_str(w->shape));
    if ((conv->bias != nullptr) != (b != nullptr))
      throw std::invalid_argument("CompressedRunner: conv '" + cname + "' " + (conv->bias ? "has" : "has no") +
                                  " bias, the file " + (b ? "has one" : "has none"));
    if (b && b->shape != conv->bias->var.value().shape())
      throw std::invalid_argument("CompressedRunner: '" + cname + ".bias': expected " + conv->bias->var.value().str() +
                                  ", the file has " + shape_str(b->shape));
    used += b ? 2 : 1;
    ++n_compressed_conv_;
    return std::make_shared<CompressedConv2d>(*w, b ? b->values : std::vector<float>{}, conv->options);
  }
  for (auto& np : child->named_parameters()) {
    const std::string full = cname + "." + np.name;
    const CompressedTensor* t = cm.find(full);
    if (!t) throw std::invalid_argument("CompressedRunner: the model's parameter '" + full + "' is not in the file");
    if (t->shape != np.param->var.value().shape())
      throw std::invalid_argument("CompressedRunner: '" + full + "': expected " + np.param->var.value().str() +
                                  ", the file has " + shape_str(t->shape));
    Tensor v = t->decode();   // a coded weight of another kind of layer: re-inflated
    std::memcpy(np.param->var.value().data(), v.data(), sizeof(float) * static_cast<size_t>(v.numel()));
    np.param->clear_mask();
    if (t->coded) ++n_reinflated_;
    ++used;
  }
  return child;
}

int64_t CompressedRunner::memory_bytes() const {
  // A stage's bytes: a compressed layer's in-memory form, else its float parameters; a Fire
  // is the sum of its three stages.
  std::function<int64_t(const Module&)> bytes_of = [&](const Module& st) -> int64_t {
    if (auto* l = dynamic_cast<const CompressedLinear*>(&st)) return l->memory_bytes();
    if (auto* c = dynamic_cast<const CompressedConv2d*>(&st)) return c->memory_bytes();
    if (dynamic_cast<const Fire*>(&st)) {
      int64_t b = 0;
      for (auto& ch : st.children()) b += bytes_of(*ch.second);
      return b;
    }
    int64_t b = 0;
    for (auto& np : const_cast<Module&>(st).named_parameters())
      b += static_cast<int64_t>(sizeof(float)) * np.param->var.value().numel();
    return b;
  };
  int64_t bytes = 0;
  for (auto& st : stages_) bytes += bytes_of(*st);
  return bytes;
}

Var CompressedRunner::forward(const Var& x) {
  Var h = x;
  for (auto& s : stages_) h = s->forward(h);
  return h;
}

// ---- the pipeline ---------------------------------------------------------------------------

DeepCompressionConfig deep_compression_paper_config(const std::string& model) {
  DeepCompressionConfig c;
  c.arch = model;
  if (model == "lenet300") {
    c.keep = {{"fc1.weight", 0.08}, {"fc2.weight", 0.09}, {"fc3.weight", 0.26}};   // Table 2
    c.fc_bits = 6;
    c.prune_lr = 0.05f;   // the baseline recipe's peak rate (layers/models/baseline.h)
  } else if (model == "lenet5") {
    c.keep = {{"conv1.weight", 0.66}, {"conv2.weight", 0.12}, {"fc1.weight", 0.08}, {"fc2.weight", 0.19}};   // Table 3
    c.conv_bits = 8;
    c.fc_bits = 5;
    c.prune_epochs = 4;   // 2 lost 0.1 pp more (book/15)
    c.quant_epochs = 2;
    c.jitter = 2;
    c.prune_lr = 0.01f;   // the baseline recipe's peak rate
  } else {
    throw std::invalid_argument("deep_compression_paper_config: expected lenet300 or lenet5, found '" + model + "'");
  }
  return c;
}

static double test_error(Module& m, const Dataset& test) { return evaluate(m, test).error_rate(); }

// Stage 1. sparsity_mask() keeps the largest |w| of the current (already masked) weights, so
// with a shrinking keep fraction a pruned weight is never revived; prune_parameter() checks it.
double deep_compression_prune(Module& model, const DataSplits& data, const DeepCompressionConfig& cfg) {
  Rng rng(cfg.seed);
  DataLoader loader(data.train, cfg.batch, true, rng, cfg.jitter);
  SGD opt(model.parameters(), SgdOptions{cfg.prune_lr, 0.9f, cfg.weight_decay, false});
  // The retraining rate of one step: cosine from prune_lr to 0 over the step's epochs, or flat.
  BatchSchedule cosine(cosine_schedule(cfg.prune_lr, std::max(1, cfg.prune_epochs)), loader.num_batches());
  TrainHooks hooks;
  if (cfg.prune_cosine) hooks.schedule = &cosine;
  for (int step = 1; step <= cfg.prune_steps; ++step) {
    cosine.reset(opt);  // η = prune_lr at the start of every step
    // Han 2015 §3: prune the smallest |w| of each layer, then retrain what is left (the
    // optimizer re-applies the masks, so a pruned weight stays exactly zero).
    for (auto& np : prunable_parameters(model))
      for (auto& [name, keep] : cfg.keep)
        if (name == np.name)
          prune_parameter(*np.param, sparsity_mask(np.param->var.value(), iterative_keep_fraction(keep, step, cfg.prune_steps)));
    for (int e = 0; e < cfg.prune_epochs; ++e)
      train_epoch(model, opt, loader, hooks, "prune " + std::to_string(step) + "/" + std::to_string(cfg.prune_steps));
  }
  return test_error(model, data.test);
}

TrainedQuantization deep_compression_quantize(Module& model, const DataSplits& data, const DeepCompressionConfig& cfg,
                                              double* error_kmeans) {
  Rng rng(cfg.seed + 1);
  TrainedQuantization q;
  std::vector<Parameter*> quantized;
  for (auto& np : prunable_parameters(model)) {
    const int bits = np.param->var.value().ndim() == 4 ? cfg.conv_bits : cfg.fc_bits;
    q.add(np.name, *np.param, bits, cfg.init, rng);
    quantized.push_back(np.param);
  }
  if (error_kmeans) *error_kmeans = test_error(model, data.test);
  // The biases (not shared) keep training with SGD; the shared weights only move through
  // their centroids, in the after_backward hook (eq. 3), with the same momentum.
  std::vector<Parameter*> others;
  for (Parameter* p : model.parameters())
    if (std::find(quantized.begin(), quantized.end(), p) == quantized.end()) others.push_back(p);
  SGD opt(others, SgdOptions{cfg.quant_bias_lr, 0.9f, 0.0f, false});
  DataLoader loader(data.train, cfg.batch, true, rng, cfg.jitter);
  TrainHooks hooks;
  hooks.after_backward = [&] { q.step(cfg.quant_lr, 0.9f); };
  for (int e = 0; e < cfg.quant_epochs; ++e) train_epoch(model, opt, loader, hooks, "quantize");
  return q;
}

void compare_predictions(Module& a, Module& b, const Dataset& test, int64_t* mismatches, double* max_diff) {
  NoGradGuard ng;
  a.eval();
  b.eval();
  int64_t bad = 0;
  double worst = 0;
  const int64_t B = 500;
  for (int64_t s = 0; s < test.size(); s += B) {
    Dataset d = test.slice(s, std::min(B, test.size() - s));
    Tensor ya = a.forward(Var(d.images)).value(), yb = b.forward(Var(d.images)).value();
    const int64_t C = ya.dim(1);
    for (int64_t n = 0; n < ya.dim(0); ++n) {
      const float* pa = ya.data() + n * C;
      const float* pb = yb.data() + n * C;
      if (std::max_element(pa, pa + C) - pa != std::max_element(pb, pb + C) - pb) ++bad;
      for (int64_t c = 0; c < C; ++c) worst = std::max(worst, static_cast<double>(std::fabs(pa[c] - pb[c])));
    }
  }
  *mismatches = bad;
  *max_diff = worst;
}

DeepCompressionResult compress_and_measure(Module& model, const std::function<std::shared_ptr<Module>()>& make_model,
                                           const DataSplits& data, const DeepCompressionConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  DeepCompressionResult r;
  r.float_params = model.num_parameters();
  r.error_baseline = test_error(model, data.test);
  const bool has_val = data.val.size() > 0;
  if (has_val) r.val_baseline = test_error(model, data.val);
  // The reference size: the float model as our checkpoint stores it, bytes on disk.
  const std::string ckpt = cfg.file + ".float.mgf";
  save_checkpoint(ckpt, model);
  r.float_checkpoint_bytes = file_size_bytes(ckpt);
  std::remove(ckpt.c_str());

  // Stages 1-2 train; stage 3 is pure coding (it changes bytes, not a single weight), so
  // error_quantized is also the error the file must reproduce.
  r.error_pruned = deep_compression_prune(model, data, cfg);
  if (has_val) r.val_pruned = test_error(model, data.val);
  if (cfg.after_prune) cfg.after_prune(model);
  TrainedQuantization q = deep_compression_quantize(model, data, cfg, &r.error_quantized_kmeans);
  // A binary16 file stores rounded codebooks and biases: the simulated model holds the same
  // values, so the file must reproduce it exactly (0 predictions differ).
  if (cfg.coding.half_floats) round_to_half_floats(model, q);
  r.error_quantized = test_error(model, data.test);
  if (has_val) r.val_quantized = test_error(model, data.val);

  CompressedModel cm = make_compressed_model(model, q, cfg.arch, cfg.coding);
  save_compressed(cfg.file + ".pq", cm, false, &r.pq_layout);
  r.pq_file_bytes = file_size_bytes(cfg.file + ".pq");
  save_compressed(cfg.file, cm, cfg.coding.huffman, &r.layout);
  r.file_bytes = file_size_bytes(cfg.file);

  // Deployment: everything below comes from the file alone.
  CompressedRunner runner(load_compressed(cfg.file), make_model());
  r.error_deployed = test_error(runner, data.test);
  if (has_val) r.val_deployed = test_error(runner, data.val);
  compare_predictions(runner, model, data.test, &r.prediction_mismatches, &r.max_logit_diff);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::vector<KmeansInitTrial> kmeans_init_ablation(const std::function<std::shared_ptr<Module>()>& pruned_model,
                                                  const std::string& weight, const std::vector<int>& bits, int epochs,
                                                  int seeds, const DataSplits& data, const DeepCompressionConfig& cfg) {
  std::vector<KmeansInitTrial> cells;
  // Choosing an initialisation is a choice: measured on the validation split when the run holds
  // one out, else on the test set (selection_set, engine/data.h).
  const Dataset& eval_images = selection_set(data).images;
  for (int b : bits)
    for (KmeansInit init : {KmeansInit::linear, KmeansInit::forgy, KmeansInit::density}) {
      KmeansInitTrial cell;
      cell.bits = b;
      cell.init = init;
      for (int s = 0; s < seeds; ++s) {
        std::shared_ptr<Module> m = pruned_model();
        Parameter* w = nullptr;
        for (auto& np : m->named_parameters())
          if (np.name == weight) w = np.param;
        if (!w) throw std::invalid_argument("kmeans_init_ablation: expected a parameter named '" + weight + "', found none");
        Rng rng(cfg.seed + 7 + 101 * static_cast<uint64_t>(s));
        TrainedQuantization q;
        q.add(weight, *w, b, init, rng);
        const double e0 = evaluate(*m, eval_images).error_rate();
        double e1 = e0;
        if (epochs > 0) {
          std::vector<Parameter*> others;
          for (Parameter* p : m->parameters())
            if (p != w) others.push_back(p);
          SGD opt(others, SgdOptions{cfg.quant_bias_lr, 0.9f, 0.0f, false});
          Rng lr(cfg.seed + 8 + 101 * static_cast<uint64_t>(s));
          DataLoader loader(data.train, cfg.batch, true, lr, cfg.jitter);
          TrainHooks hooks;
          hooks.after_backward = [&] { q.step(cfg.quant_lr, 0.9f); };
          for (int e = 0; e < epochs; ++e) train_epoch(*m, opt, loader, hooks, std::string("ablation ") + kmeans_init_name(init));
          e1 = evaluate(*m, eval_images).error_rate();
        }
        cell.error_kmeans.push_back(e0);
        cell.error_trained.push_back(e1);
      }
      cells.push_back(std::move(cell));
    }
  return cells;
}

}  // namespace mgf
