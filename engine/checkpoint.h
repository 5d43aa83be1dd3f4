// engine/checkpoint.h — saving and loading a model: our own small format, crash-safe.
//
// Layout (all integers little-endian, floats IEEE-754 binary32 little-endian):
//   magic "MGFCKPT" + '\0'   8 bytes
//   version                  u32 = 1
//   count                    u32, then `count` entries:
//     kind                   u8: 0 parameter, 1 mask of the parameter of the same name, 2 buffer
//     name                   u32 length + bytes ("fc1.weight", "bn1.running_mean")
//     shape                  u32 ndim + ndim × i64
//     data                   numel × f32
//   crc                      u32, CRC-32 of every byte before it
// Masks are saved so a pruned model reloads pruned; buffers (batch-norm running statistics)
// so it reloads with the statistics it was evaluated with.
// Written with engine/io/bytes.h (ByteWriter / ByteReader) and engine/io/crc32.h.
// Crash safety: write_bytes_atomic() (engine/io/file.h) writes "<path>.tmp", fsyncs it and
// renames it over <path>, so a crash or kill -9 mid-write leaves the old checkpoint intact.
// Loading checks everything before touching the model — magic, version, CRC, bounds, every
// name and shape — so a truncated, corrupted or mismatched file throws (naming the tensor,
// expected vs found) and leaves the model exactly as it was.
// Book: book/03-training.md. Deliberately not here: optimizer state (runs restart their
// schedule), other dtypes (compressed formats are saved by their chapters).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/file.h"  // write_bytes_atomic: how save_checkpoint writes
#include "engine/tensor.h"
#include "layers/module.h"

namespace mgf {

enum class CheckpointKind : uint8_t { parameter = 0, mask = 1, buffer = 2 };

struct CheckpointEntry {
  CheckpointKind kind;
  std::string name;
  Tensor value;
};

void save_checkpoint(const std::string& path, Module& model);
void load_checkpoint(const std::string& path, Module& model);

// The lower level, for tests and tools: entries ↔ bytes ↔ file.
std::vector<uint8_t> encode_checkpoint(const std::vector<CheckpointEntry>& entries);
std::vector<CheckpointEntry> decode_checkpoint(const std::vector<uint8_t>& bytes, const std::string& name);
std::vector<CheckpointEntry> read_checkpoint(const std::string& path);
std::vector<CheckpointEntry> checkpoint_entries(Module& model);  // what save_checkpoint writes

}  // namespace mgf
