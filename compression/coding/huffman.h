// compression/coding/huffman.h — canonical Huffman coding, Deep Compression stage 3
// (Han, Mao, Dally 2016, §4: "Huffman coding saves 20-30% of network storage").
//
// The weight codes and the relative-index gaps of a layer are far from uniform (Fig. 5: the
// quantized weights are bimodal, the gaps skewed to small values), so a variable-length prefix
// code spends fewer bits on the common symbols. We build the optimal code lengths with the
// classic two-smallest-merge (Huffman 1952), then assign the codewords canonically: symbols
// sorted by (length, symbol) get consecutive codes. A canonical code is fully described by its
// lengths, so the file stores one byte per symbol, not a tree.
// Bits are written most significant first. The decoder walks one bit at a time with the
// counts per length (the "first code of each length" method): short and easy to check.
// Book: book/15-deep_compression.md. Deliberately not here: length-limited codes
// (package-merge), table-driven fast decoding, adaptive/arithmetic coding.
#pragma once
#include <cstdint>
#include <vector>

namespace mgf {

// The longest codeword we make or accept. 15 lets the file store each length in 4 bits; when
// the optimal code would be longer (very skewed counts), huffman_lengths flattens the counts
// (f ← ⌈f/2⌉) and rebuilds — slightly suboptimal, and only on alphabets that barely matter.
constexpr int kHuffmanMaxLength = 15;

struct HuffmanCode {
  std::vector<uint8_t> lengths;   // per symbol; 0 = symbol not used
  std::vector<uint32_t> codes;    // per symbol, canonical, `lengths[s]` bits, MSB first
};

// Optimal code lengths for the given symbol frequencies (0 = unused; at most 256 symbols).
// One used symbol gets length 1 (a code must spend at least one bit). Lengths are capped at
// kHuffmanMaxLength as described above.
std::vector<uint8_t> huffman_lengths(const std::vector<uint64_t>& freq);
// Canonical codewords from lengths. Throws std::runtime_error when the lengths are not a
// prefix code (Kraft sum Σ 2^-l > 1) or a length exceeds kHuffmanMaxLength.
HuffmanCode huffman_canonical(const std::vector<uint8_t>& lengths);
// A fixed-width code: every one of 2^bits symbols gets `bits` bits (the P+Q baseline).
std::vector<uint8_t> fixed_lengths(int bits);

struct BitStream {
  std::vector<uint8_t> bytes;
  uint64_t nbits = 0;             // bits used in `bytes` (the last byte may be partial)
};
BitStream huffman_encode(const std::vector<uint8_t>& symbols, const HuffmanCode& code);
// Decodes exactly `count` symbols using all `nbits` bits. Throws std::runtime_error (naming
// the symbol number and the bit offset) on a truncated stream, an invalid codeword, or bits
// left over at the end.
std::vector<uint8_t> huffman_decode(const BitStream& bits, const std::vector<uint8_t>& lengths, int64_t count);

// Σ freq·length / Σ freq, and the entropy −Σ p log2 p, in bits per symbol.
double huffman_mean_length(const std::vector<uint64_t>& freq, const std::vector<uint8_t>& lengths);
double entropy_bits(const std::vector<uint64_t>& freq);
std::vector<uint64_t> symbol_histogram(const std::vector<uint8_t>& symbols, int alphabet);

}  // namespace mgf
