// fuzz/fuzz_int8.cpp — libFuzzer harness for the int8 model file (.mgfq8,
// compression/quantization/int8.h): parse_int8(), then the parsed net's integer and
// fake-quant forwards on one input of the declared size (when that is small). The header's
// payload length (u64 at offset 12) and CRC-32 (u32 at offset 20, over the payload after the
// 24-byte header) are rewritten to match the mutated bytes first, so the fuzzer reaches the
// field checks. Seeds: fuzz/make_corpus.cpp. Book: book/21-int8.md.
#include <cstdint>
#include <string>

#include "compression/quantization/int8.h"
#include "engine/io/crc32.h"
#include "engine/threads.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mgf::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 24;  // magic 8 | version u32 | payload bytes u64 | CRC-32 u32
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= kHeader) {
    auto* b = reinterpret_cast<uint8_t*>(bytes.data());
    mgf_fuzz::put_le64(b + 12, bytes.size() - kHeader);
    mgf_fuzz::put_le32(b + 20, mgf::crc32(b + kHeader, bytes.size() - kHeader));
  }
  mgf::Int8Net net;
  if (!mgf_fuzz::expect_clean_error([&] { net = mgf::parse_int8(bytes, "fuzz.mgfq8"); })) return 0;
  // A parsed file is a runnable net: its geometry was checked layer by layer. Run it when the
  // input and the im2col buffers stay small (the format allows large, legitimate shapes).
  int64_t work = net.in_c * net.in_h * net.in_w;
  for (const auto& L : net.layers) work += L.out * L.in_c * L.in_h * L.in_w * L.k * L.k;
  if (work > (int64_t{1} << 22)) return 0;
  const mgf::Tensor x(mgf::Shape{1, net.in_c, net.in_h, net.in_w}, 0.25f);
  net.forward(x, mgf::Int8Path::integer);
  net.forward(x, mgf::Int8Path::fake_quant);
  return 0;
}
