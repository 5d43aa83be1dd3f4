// fuzz/fuzz_xnor.cpp — libFuzzer harness for the packed XNOR-Net file (.xnor,
// compression/quantization/xnor.h): PackedBinaryNet::from_bytes(), then forward() on one
// 28×28 image — the popcount kernels reading the packed sign rows the file declared.
//
// The header's payload size (u64 at offset 16) and CRC-32 (u32 at offset 24, over the payload
// after the 28-byte header) are rewritten to match the mutated bytes first, so the fuzzer
// reaches the record parser and the shape checks forward() relies on. Seeds: a tiny
// XNOR-Net and XNOR-Net++ BinaryLeNet5 (fuzz/make_corpus.cpp). Book: book/A1-reliability.md.
#include <cstdint>
#include <vector>

#include "compression/quantization/packed_binary.h"
#include "engine/threads.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mgf::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 28;  // magic 8 | version u32 | record count u32 | payload u64 | CRC-32 u32
  std::vector<uint8_t> bytes(data, data + size);
  if (bytes.size() >= kHeader) {
    mgf_fuzz::put_le64(bytes.data() + 16, bytes.size() - kHeader);
    mgf_fuzz::put_le32(bytes.data() + 24, mgf::crc32(bytes.data() + kHeader, bytes.size() - kHeader));
  }
  mgf_fuzz::expect_clean_error([&] {
    const mgf::PackedBinaryNet net = mgf::PackedBinaryNet::from_bytes(bytes, "fuzz.xnor");
    const mgf::Tensor logits = net.forward(mgf::Tensor({1, 1, 28, 28}, 0.5f));
    mgf_fuzz::require(logits.ndim() == 2 && logits.dim(0) == 1, "xnor: one row of logits per image");
  });
  return 0;
}
