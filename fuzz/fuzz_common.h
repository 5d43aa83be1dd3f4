// fuzz/fuzz_common.h — what the libFuzzer harnesses share: checksum repair, the one rule
// for which exceptions are expected, a scratch file for readers that take a path, and the
// tiny models the seed corpora are made from (fuzz/make_corpus.cpp) and loaded into.
//
// Why repair checksums: every file format here carries a CRC-32 (gzip per member, checkpoint,
// .mgfdc, .xnor). A mutated input almost never has a matching one, so without repair the
// fuzzer would spend all its time in the four-line checksum test and never reach the parsers
// behind it. Each harness recomputes the checksum (and the length fields the reader compares
// the file size against) over the mutated bytes, exactly where the writer puts them, before
// handing the bytes to the reader. The checksum tests themselves are covered by the unit tests.
//
// The contract under test (DESIGN.md, "Errors"): a malformed file ends in std::runtime_error
// or std::invalid_argument (or a subclass: std::overflow_error is a std::runtime_error) whose
// message names the file. Anything else — a crash, a sanitizer report, any other exception
// (std::bad_alloc, std::out_of_range, std::length_error), or an allocation over
// -malloc_limit_mb — is a finding. Book: book/A1-reliability.md.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "compression/quantization/packed_binary.h"
#include "layers/models/binary_lenet5.h"
#include "engine/inflate.h"
#include "engine/io/crc32.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/sequential.h"
#include "layers/shape.h"

namespace mgf_fuzz {

// Runs f; returns true when it completed, false when it threw one of the promised error types.
// Every other exception escapes to libFuzzer, which reports it as a crash.
template <class F>
bool expect_clean_error(F&& f) {
  try {
    f();
    return true;
  } catch (const std::runtime_error&) {
    return false;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

// A property a successful parse must have (e.g. a prefix equals the start of the whole);
// violating it is a finding, so it aborts with the reason.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

inline void put_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_le64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The frame of .mgfdc and .mgfvq (engine/io/frame.h): the payload length (u64 at offset 12) and
// the CRC-32 (u32 at offset 20, over the payload after the 24-byte header) rewritten to match.
inline void repair_frame(std::string& bytes) {
  constexpr size_t kHeader = 24;  // magic 8 | version u32 | payload bytes u64 | CRC-32 u32
  if (bytes.size() < kHeader) return;
  auto* b = reinterpret_cast<uint8_t*>(bytes.data());
  put_le64(b + 12, bytes.size() - kHeader);
  put_le32(b + 20, mgf::crc32(b + kHeader, bytes.size() - kHeader));
}

// gzip (RFC 1952): for each member, the header CRC-16 (when FHCRC is set) and the trailer's
// CRC-32 and ISIZE are rewritten to match the member's data. The header walk mirrors the
// reader's; it stops quietly at the first member it cannot get through (truncated header, a
// DEFLATE stream the decoder refuses, no room for a trailer) and leaves the rest as it is,
// for the reader to refuse.
inline void repair_gzip(std::vector<uint8_t>& b) {
  const size_t n = b.size();
  size_t pos = 0;
  while (n - pos >= 18 && b[pos] == 0x1f && b[pos + 1] == 0x8b && b[pos + 2] == 8) {
    const uint8_t flg = b[pos + 3];
    size_t p = pos + 10;
    if (flg & 0x04) {  // FEXTRA: u16 length + bytes
      if (n - p < 2) return;
      const size_t xlen = b[p] | size_t{b[p + 1]} << 8;
      if (n - p - 2 < xlen) return;
      p += 2 + xlen;
    }
    for (uint8_t bit : {uint8_t{0x08}, uint8_t{0x10}}) {  // FNAME, FCOMMENT: zero-terminated
      if (!(flg & bit)) continue;
      while (p < n && b[p] != 0) ++p;
      if (p == n) return;
      ++p;
    }
    if (flg & 0x02) {  // FHCRC: low 16 bits of the CRC-32 of the header so far
      if (n - p < 2) return;
      const uint32_t h = mgf::crc32(b.data() + pos, p - pos);
      b[p] = static_cast<uint8_t>(h);
      b[p + 1] = static_cast<uint8_t>(h >> 8);
      p += 2;
    }
    std::vector<uint8_t> out;
    size_t used = 0;
    if (!expect_clean_error([&] { out = mgf::inflate(b.data() + p, n - p, "repair", &used); })) return;
    p += used;
    if (n - p < 8) return;
    put_le32(b.data() + p, mgf::crc32(out.data(), out.size()));
    put_le32(b.data() + p + 4, static_cast<uint32_t>(out.size()));
    pos = p + 8;
  }
}

// Writes bytes to a file of this process's own (for readers that only take a path) and
// returns its path. `tag` keeps two files of one harness apart. The files are removed when
// the process exits normally (libFuzzer ends a run with exit()).
inline std::string scratch_file(const std::vector<uint8_t>& bytes, const std::string& tag) {
  struct Scratch {
    std::vector<std::string> paths;
    ~Scratch() {
      for (const auto& p : paths) std::remove(p.c_str());
    }
  };
  static Scratch made;
  static const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string path = dir + "/mgf-fuzz-" + std::to_string(getpid()) + "-" + tag;
  if (std::find(made.paths.begin(), made.paths.end(), path) == made.paths.end()) made.paths.push_back(path);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    std::abort();  // the harness cannot run, which is not a finding about the reader
  }
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
  return path;
}

// ---- the tiny models ---------------------------------------------------------------------
// Checkpoint: a parameter with a mask (fc1), batch-norm buffers (bn), a plain parameter (fc2),
// so every entry kind of the format is in the seed. Input [N, 4] → [N, 2].
inline std::shared_ptr<mgf::Sequential> checkpoint_net() {
  auto s = std::make_shared<mgf::Sequential>();
  s->add("fc1", std::make_shared<mgf::Linear>(4, 3));
  s->add("bn", std::make_shared<mgf::BatchNorm1d>(3));
  s->add("relu", std::make_shared<mgf::ReLU>());
  s->add("fc2", std::make_shared<mgf::Linear>(3, 2));
  return s;
}

// .mgfdc: conv(1→3, 3×3) on 6×6 → ReLU → flatten (48) → fc1 48→20 → ReLU → fc2 20→5, the
// network tests/test_deep_compression.cpp compresses; CompressedRunner runs both the conv and
// the FC layers from their streams. Input [N, 1, 6, 6] → [N, 5].
inline std::shared_ptr<mgf::Sequential> mgfdc_net() {
  auto s = std::make_shared<mgf::Sequential>();
  s->add("conv", std::make_shared<mgf::Conv2d>(1, 3, 3));
  s->add("relu0", std::make_shared<mgf::ReLU>());
  s->add("flat", std::make_shared<mgf::Flatten>());
  s->add("fc1", std::make_shared<mgf::Linear>(48, 20));
  s->add("relu1", std::make_shared<mgf::ReLU>());
  s->add("fc2", std::make_shared<mgf::Linear>(20, 5));
  return s;
}

// .mgfvq: fc1 12→9 (quantized in the seeds) → ReLU → fc2 9→4 (raw). Input [N, 12] → [N, 4].
inline std::shared_ptr<mgf::Sequential> vq_net() {
  auto s = std::make_shared<mgf::Sequential>();
  s->add("fc1", std::make_shared<mgf::Linear>(12, 9));
  s->add("relu", std::make_shared<mgf::ReLU>());
  s->add("fc2", std::make_shared<mgf::Linear>(9, 4));
  return s;
}

// .xnor: the binary LeNet-5 of tests/test_xnor.cpp, narrowed (4, 6, 16 channels) so the file
// is about 2 KB; forward() takes [N, 1, 28, 28].
inline mgf::BinaryNetConfig xnor_config(mgf::BinaryMode mode) {
  mgf::BinaryNetConfig c;
  c.mode = mode;
  c.c1 = 4;
  c.c2 = 6;
  c.fc = 16;
  return c;
}

}  // namespace mgf_fuzz
