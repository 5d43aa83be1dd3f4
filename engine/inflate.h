// engine/inflate.h — a small DEFLATE decoder (RFC 1951) and gzip reader (RFC 1952), so the
// data loader reads the MNIST `.gz` files directly with nothing but the standard library.
//
// DEFLATE is a sequence of blocks, each stored (raw bytes), compressed with the fixed Huffman
// code of the RFC, or compressed with a "dynamic" Huffman code sent at the block start. A
// compressed block is a stream of literals (bytes) and (length, distance) pairs that copy
// earlier output (LZ77). The decoder below reads exactly that, one function per idea:
// bit reader → canonical Huffman decode → block loops. It checks everything a malformed
// stream could violate (over-subscribed codes, distances before the start, truncation,
// gzip CRC-32 and ISIZE) and names the stream and the byte offset in its exceptions.
// Book: book/03-training.md. Deliberately not here: compression, zlib (RFC 1950) framing,
// preset dictionaries, streaming (the whole input is in memory; MNIST's largest file is 47 MB).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/crc32.h"  // gzip's CRC-32 is the project's one crc32()

namespace mgf {

// Decodes one raw DEFLATE stream starting at data[0]. `consumed` (optional) receives the
// number of input bytes used, rounded up to a whole byte. Throws std::runtime_error naming
// `name` and the byte offset on a malformed or truncated stream, and the moment the output
// would pass `max_output` bytes (so a caller that knows the size to expect is never made to
// hold more: a "gzip bomb" is refused with bounded memory).
std::vector<uint8_t> inflate(const uint8_t* data, size_t n, const std::string& name = "deflate stream",
                             size_t* consumed = nullptr, size_t max_output = SIZE_MAX);

bool is_gzip(const uint8_t* data, size_t n);  // starts with the magic 1f 8b

// Decodes a gzip file (one or more members, concatenated) and checks each member's CRC-32
// and ISIZE. Throws std::runtime_error naming `name` and the offset when anything is wrong,
// including output past `max_output` bytes (all members together).
std::vector<uint8_t> gunzip(const uint8_t* data, size_t n, const std::string& name = "gzip stream",
                            size_t max_output = SIZE_MAX);

// The first min(k, all) decoded bytes of the first member, without its CRC/ISIZE check (the
// trailer is not reached): enough to read a file header and learn how much output to expect
// before decoding the rest with that cap.
std::vector<uint8_t> gunzip_prefix(const uint8_t* data, size_t n, size_t k, const std::string& name = "gzip stream");

}  // namespace mgf
