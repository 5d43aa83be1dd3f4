// fuzz/fuzz_vq.cpp — libFuzzer harness for the vector-quantized model file (.mgfvq,
// compression/quantization/vq_file.h): parse_vq(), VqTensor::decode() of every tensor, then
// VqRunner over a fresh skeleton (fuzz_common.h: vq_net(), two FC layers) on one input — the
// deployment path, where fc1 runs from its codes through the lookup-table kernel.
//
// The header's payload length (u64 at offset 12) and CRC-32 (u32 at offset 20, over the payload
// after the 24-byte header) are rewritten to match the mutated bytes first, so the fuzzer reaches
// the tensor fields and the code streams. A file that does not fit the skeleton is a
// std::invalid_argument from VqRunner, a clean refusal. Seeds: fuzz/make_corpus.cpp.
// Book: book/A1-reliability.md, book/22-vq.md.
#include <cstdint>
#include <string>

#include "compression/quantization/vq_file.h"
#include "engine/autograd.h"
#include "engine/threads.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mgf::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  mgf_fuzz::repair_frame(bytes);
  mgf::VqModel vm;
  if (!mgf_fuzz::expect_clean_error([&] { vm = mgf::parse_vq(bytes, "fuzz.mgfvq"); })) return 0;
  // decode() builds the dense matrix; a few bytes cannot declare a large one (every code and
  // codebook float is in the file), but keep the harness's memory bounded all the same.
  for (const auto& t : vm.tensors)
    if (mgf::shape_numel(t.shape) <= (int64_t{1} << 20)) mgf_fuzz::expect_clean_error([&] { t.decode(); });
  mgf_fuzz::expect_clean_error([&] {
    mgf::VqRunner runner(vm, mgf_fuzz::vq_net());
    mgf::NoGradGuard ng;
    runner.forward(mgf::Var(mgf::Tensor({2, 12}, 0.5f)));
  });
  return 0;
}
