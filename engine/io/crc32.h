// engine/io/crc32.h — the one CRC-32 of the project (IEEE 802.3, reflected polynomial
// 0xEDB88320), as gzip (RFC 1952 §8), PNG and zlib's crc32() compute it. Every format that
// carries a checksum uses this: gzip members (engine/inflate.cpp), checkpoints, `.mgfdc`
// and `.xnor`. Book: book/03-training.md ("Files").
#pragma once
#include <cstddef>
#include <cstdint>

namespace mgf {

// CRC-32 of n bytes at data. Chainable: crc32(b, nb, crc32(a, na)) == crc32(a‖b).
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace mgf
