// engine/io/frame.h — the frame around a model file: magic, version, payload length, CRC-32.
//
//   magic (8 bytes) | u32 version | u64 payload bytes | u32 CRC-32 of the payload | payload
//
// Chapter 15's `.mgfdc` and chapter 22's `.mgfvq` share it. frame_open() checks, in this order,
// the magic (is this our file at all?), the version, the length (truncated or padded?) and the
// checksum (corrupted?), each failure a std::runtime_error naming the file, the field and the
// byte offset; it then returns a reader positioned at the payload, for the format's own fields.
// Book: book/03-training.md ("Files"). Deliberately not here: the checkpoint and `.xnor`
// headers, which carry other fields in other orders.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/io/bytes.h"

namespace mgf {

constexpr size_t kFrameHeaderBytes = 8 + 4 + 8 + 4;

// The whole file: the header for `payload`, then the payload.
std::string frame_write(const char* magic8, uint32_t version, const ByteWriter& payload);

// Checks the header of `bytes` (which must outlive the reader). `magic_text` and `kind` word the
// magic error: expected "MGFDC\r\n\x1a" (a Deep Compression file), found bytes ...
ByteReader frame_open(const std::string& bytes, const std::string& what, const char* magic8, const std::string& magic_text,
                      const std::string& kind, uint32_t version);

}  // namespace mgf
