// engine/idx.h — the IDX file format of MNIST and Fashion-MNIST, read and checked.
//
// An IDX file is a 4-byte magic (0x00 0x00, a type byte, the number of dimensions), one
// big-endian uint32 per dimension, then the data, row-major. MNIST uses type 0x08 (unsigned
// byte): images are [N, 28, 28] (magic 2051), labels [N] (magic 2049). LeCun's page:
// yann.lecun.com/exdb/mnist; ../shared/data/README.md restates it.
// Every check a malformed file could fail is made, and the exception names the file and the
// byte offset: wrong magic, a dimension of 0, a length that does not match the header
// (truncated or trailing bytes). Gzipped files (magic 1f 8b) are decompressed first.
// Book: book/03-training.md. Deliberately not here: IDX types other than unsigned byte
// (MNIST-like sets only use bytes), memory mapping.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mgf {

struct IdxArray {
  std::vector<int64_t> dims;   // e.g. {60000, 28, 28}
  std::vector<uint8_t> data;   // product(dims) bytes, row-major
};

// The bytes of an IDX file, gunzipped when it starts with the gzip magic: first only the
// header, then the rest with the output capped at the size the header declares, so a gzip
// bomb is refused at that size. Throws std::runtime_error naming the path when it cannot be
// read or decoded.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Parses an in-memory IDX file. `ndim` is the number of dimensions the caller expects
// (3 for images, 1 for labels); `name` is used in error messages.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, int ndim, const std::string& name);

// read_file_bytes + parse_idx.
IdxArray read_idx(const std::string& path, int ndim);

}  // namespace mgf
