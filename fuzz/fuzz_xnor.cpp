// fuzz/fuzz_xnor.cpp — libFuzzer harness for the packed XNOR-Net file (.xnor version 4,
// compression/quantization/packed_binary.h): PackedBinaryNet::from_bytes(), which walks the
// file's layer records from its input shape, then forward() on one image of that shape — the
// popcount kernels, the folded thresholds and the OR-pools reading what the file declared.
//
// The header's payload size (u64 at offset 16) and CRC-32 (u32 at offset 24, over the payload
// after the 28-byte header) are rewritten to match the mutated bytes first, so the fuzzer
// reaches the record parser and the shape checks forward() relies on. forward() runs only when
// the declared network is small (ops_per_image() <= 2^22): a valid file may describe a network
// that is simply slow, which is not a bug. Seeds: a tiny XNOR-Net B-A-C-P, C-B-A-P (bits between
// the binary layers) and XNOR-Net++ BinaryLeNet5, and a tiny binary ResNet with α·K and with Γ
// (binary_res_block records, fuzz/make_corpus.cpp). Book: book/A1-reliability.md.
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
  constexpr size_t kHeader = 28;  // magic 8 | version u32 | layer count u32 | payload u64 | CRC-32 u32
  std::vector<uint8_t> bytes(data, data + size);
  if (bytes.size() >= kHeader) {
    mgf_fuzz::put_le64(bytes.data() + 16, bytes.size() - kHeader);
    mgf_fuzz::put_le32(bytes.data() + 24, mgf::crc32(bytes.data() + kHeader, bytes.size() - kHeader));
  }
  mgf_fuzz::expect_clean_error([&] {
    const mgf::PackedBinaryNet net = mgf::PackedBinaryNet::from_bytes(bytes, "fuzz.xnor");
    if (net.ops_per_image() > (int64_t{1} << 22)) return;
    const std::vector<int64_t>& in = net.input_shape();
    const mgf::Tensor logits = net.forward(mgf::Tensor({1, in[0], in[1], in[2]}, 0.5f));
    mgf_fuzz::require(logits.ndim() == 2 && logits.dim(0) == 1, "xnor: one row of logits per image");
  });
  return 0;
}
