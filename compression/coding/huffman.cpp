// compression/coding/huffman.cpp — see huffman.h (Deep Compression §4).
#include "compression/coding/huffman.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <stdexcept>
#include <string>
#include <tuple>

namespace mgf {

// Huffman 1952 on the used symbols; returns each symbol's depth in the tree and the deepest.
static std::vector<uint8_t> huffman_lengths_unlimited(const std::vector<uint64_t>& freq, int& max_depth) {
  max_depth = 0;
  if (freq.size() > 256) throw std::invalid_argument("huffman_lengths: expected at most 256 symbols, found " + std::to_string(freq.size()));
  std::vector<uint8_t> len(freq.size(), 0);
  // Nodes 0..n−1 are the used symbols, then one internal node per merge.
  std::vector<int> symbol_of, parent;
  using Item = std::tuple<uint64_t, int>;   // (weight, node); ties broken by node id: deterministic
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (size_t s = 0; s < freq.size(); ++s)
    if (freq[s] > 0) {
      heap.push({freq[s], static_cast<int>(symbol_of.size())});
      symbol_of.push_back(static_cast<int>(s));
      parent.push_back(-1);
    }
  if (symbol_of.empty()) return len;
  if (symbol_of.size() == 1) {   // a code needs at least one bit per symbol
    len[symbol_of[0]] = 1;
    max_depth = 1;
    return len;
  }
  // Huffman 1952: repeatedly merge the two lightest trees.
  while (heap.size() > 1) {
    auto [wa, a] = heap.top();
    heap.pop();
    auto [wb, b] = heap.top();
    heap.pop();
    int node = static_cast<int>(parent.size());
    parent.push_back(-1);
    parent[a] = parent[b] = node;
    heap.push({wa + wb, node});
  }
  // A symbol's code length is its leaf's depth.
  for (size_t leaf = 0; leaf < symbol_of.size(); ++leaf) {
    int depth = 0;
    for (int n = static_cast<int>(leaf); parent[n] != -1; n = parent[n]) ++depth;
    max_depth = std::max(max_depth, depth);
    len[symbol_of[leaf]] = static_cast<uint8_t>(std::min(depth, 255));
  }
  return len;
}

std::vector<uint8_t> huffman_lengths(const std::vector<uint64_t>& freq) {
  std::vector<uint64_t> f = freq;
  for (;;) {
    int depth = 0;
    std::vector<uint8_t> len = huffman_lengths_unlimited(f, depth);
    if (depth <= kHuffmanMaxLength) return len;
    for (uint64_t& x : f) x = (x + 1) / 2;   // flatten: used symbols stay used (⌈x/2⌉ >= 1)
  }
}

std::vector<uint8_t> fixed_lengths(int bits) {
  if (bits < 1 || bits > 8) throw std::invalid_argument("fixed_lengths: expected 1 <= bits <= 8, found " + std::to_string(bits));
  return std::vector<uint8_t>(size_t{1} << bits, static_cast<uint8_t>(bits));
}

HuffmanCode huffman_canonical(const std::vector<uint8_t>& lengths) {
  if (lengths.size() > 256)
    throw std::runtime_error("huffman code: expected at most 256 symbols, found " + std::to_string(lengths.size()));
  // Kraft: Σ 2^(L − l) <= 2^L for a prefix code (L = the maximum length).
  uint64_t kraft = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    if (lengths[s] > kHuffmanMaxLength)
      throw std::runtime_error("huffman code: symbol " + std::to_string(s) + " has length " + std::to_string(lengths[s]) +
                               ", expected at most " + std::to_string(kHuffmanMaxLength));
    if (lengths[s]) kraft += uint64_t{1} << (kHuffmanMaxLength - lengths[s]);
  }
  if (kraft > (uint64_t{1} << kHuffmanMaxLength))
    throw std::runtime_error("huffman code: the code lengths are not a prefix code (Kraft sum " +
                             std::to_string(static_cast<double>(kraft) / 4294967296.0) + ", expected <= 1)");
  HuffmanCode h;
  h.lengths = lengths;
  h.codes.assign(lengths.size(), 0);
  // Canonical assignment: by length, then by symbol; each code is the previous + 1, shifted
  // left whenever the length grows.
  uint64_t code = 0;
  for (int l = 1; l <= kHuffmanMaxLength; ++l) {
    for (size_t s = 0; s < lengths.size(); ++s)
      if (lengths[s] == l) h.codes[s] = static_cast<uint32_t>(code++);
    code <<= 1;
  }
  return h;
}

// Bits are appended most significant first; bit t of the stream is bit (7 − t mod 8) of byte t/8.
BitStream huffman_encode(const std::vector<uint8_t>& symbols, const HuffmanCode& code) {
  BitStream out;
  for (size_t i = 0; i < symbols.size(); ++i) {
    const uint8_t s = symbols[i];
    if (s >= code.lengths.size() || code.lengths[s] == 0)
      throw std::invalid_argument("huffman_encode: symbol " + std::to_string(s) + " at " + std::to_string(i) +
                                  " has no codeword");
    for (int b = code.lengths[s] - 1; b >= 0; --b) {   // most significant bit first
      if (out.nbits % 8 == 0) out.bytes.push_back(0);
      if ((code.codes[s] >> b) & 1u) out.bytes.back() |= static_cast<uint8_t>(0x80u >> (out.nbits % 8));
      ++out.nbits;
    }
  }
  return out;
}

std::vector<uint8_t> huffman_decode(const BitStream& in, const std::vector<uint8_t>& lengths, int64_t count) {
  huffman_canonical(lengths);   // validates the lengths (Kraft, maximum)
  if (in.nbits > uint64_t{8} * in.bytes.size())
    throw std::runtime_error("huffman stream: claims " + std::to_string(in.nbits) + " bits, found only " +
                             std::to_string(8 * in.bytes.size()));
  // count[l] = symbols of length l; sorted = symbols in canonical order.
  std::vector<int64_t> n_of_len(kHuffmanMaxLength + 1, 0);
  std::vector<uint8_t> sorted;
  for (int l = 1; l <= kHuffmanMaxLength; ++l)
    for (size_t s = 0; s < lengths.size(); ++s)
      if (lengths[s] == l) {
        ++n_of_len[l];
        sorted.push_back(static_cast<uint8_t>(s));
      }
  int max_len = 0;
  for (uint8_t l : lengths) max_len = std::max<int>(max_len, l);
  // Every codeword is at least one bit: more symbols than bits cannot be there, and `count`
  // may come from a file, so it is checked before it sizes the reservation below.
  if (count > 0 && static_cast<uint64_t>(count) > in.nbits)
    throw std::runtime_error("huffman stream truncated: " + std::to_string(count) + " symbols need at least " +
                             std::to_string(count) + " bits, found " + std::to_string(in.nbits));
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  uint64_t pos = 0;
  for (int64_t i = 0; i < count; ++i) {
    // Canonical decoding: codes of length l are first..first+n−1; read one bit per step.
    int64_t code = 0, first = 0, index = 0;
    bool found = false;
    const uint64_t start = pos;
    for (int l = 1; l <= max_len; ++l) {
      if (pos >= in.nbits)
        throw std::runtime_error("huffman stream truncated: symbol " + std::to_string(i) + " of " + std::to_string(count) +
                                 " starts at bit " + std::to_string(start) + " and needs more than the " +
                                 std::to_string(in.nbits) + " bits present");
      code |= (in.bytes[pos / 8] >> (7 - pos % 8)) & 1;
      ++pos;
      if (code - first < n_of_len[l]) {
        out.push_back(sorted[static_cast<size_t>(index + code - first)]);
        found = true;
        break;
      }
      index += n_of_len[l];
      first = (first + n_of_len[l]) << 1;
      code <<= 1;
    }
    if (!found)
      throw std::runtime_error("huffman stream: invalid codeword for symbol " + std::to_string(i) + " at bit " +
                               std::to_string(start));
  }
  // A stream with bits to spare is as suspicious as a short one: the count or the bits are wrong.
  if (pos != in.nbits)
    throw std::runtime_error("huffman stream: " + std::to_string(count) + " symbols used " + std::to_string(pos) +
                             " bits, expected all " + std::to_string(in.nbits));
  return out;
}

double huffman_mean_length(const std::vector<uint64_t>& freq, const std::vector<uint8_t>& lengths) {
  double total = 0, bits = 0;
  for (size_t s = 0; s < freq.size(); ++s) {
    total += static_cast<double>(freq[s]);
    bits += static_cast<double>(freq[s]) * (s < lengths.size() ? lengths[s] : 0);
  }
  return total > 0 ? bits / total : 0.0;
}

double entropy_bits(const std::vector<uint64_t>& freq) {
  double total = 0, h = 0;
  for (uint64_t f : freq) total += static_cast<double>(f);
  for (uint64_t f : freq)
    if (f) {
      double p = static_cast<double>(f) / total;
      h -= p * std::log2(p);
    }
  return h;
}

std::vector<uint64_t> symbol_histogram(const std::vector<uint8_t>& symbols, int alphabet) {
  std::vector<uint64_t> h(static_cast<size_t>(alphabet), 0);
  for (uint8_t s : symbols) {
    if (s >= alphabet)
      throw std::invalid_argument("symbol_histogram: symbol " + std::to_string(s) + " outside the alphabet of " +
                                  std::to_string(alphabet));
    ++h[s];
  }
  return h;
}

}  // namespace mgf
