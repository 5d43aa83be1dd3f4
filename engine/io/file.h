// engine/io/file.h — whole files in and out; a write is never half-done.
//
// write_file_atomic() writes the bytes to "<path>.tmp", fsyncs it, renames it over <path>
// and fsyncs the directory. rename(2) replaces the name atomically on POSIX, so a reader (or
// a crash, or kill -9) sees the old file or the new one, never a mix; the fsync before the
// rename makes sure the new name never points at data still only in the page cache (after a
// power cut a renamed-but-unsynced file can come back empty on ext4/xfs), and the fsync of the
// directory makes the rename itself durable. A stale "<path>.tmp" left by a killed writer is
// removed and recreated by the next write, so it never blocks or leaks into a later file.
// Book: book/03-training.md ("Files"). Deliberately not here: locking between concurrent
// writers of one path (the last rename wins), Windows (MoveFileEx semantics differ).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mgf {

// The whole file; std::runtime_error naming the path when it cannot be opened or read.
std::vector<uint8_t> read_file(const std::string& path);

// Atomic write as described above; the directory must exist. `crash_after` >= 0 throws after
// that many bytes have been written (a simulated crash, for tests); the temporary file is
// then removed and <path> is untouched. Throws std::runtime_error naming the path and the
// system's reason on any failure.
void write_file_atomic(const std::string& path, const void* data, size_t n, int64_t crash_after = -1);
void write_file_atomic(const std::string& path, const std::string& text);

// The same, creating missing parent directories first (checkpoints, .npy files).
void write_bytes_atomic(const std::string& path, const std::vector<uint8_t>& bytes, int64_t crash_after = -1);

}  // namespace mgf
