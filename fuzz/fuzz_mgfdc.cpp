// fuzz/fuzz_mgfdc.cpp — libFuzzer harness for the Deep Compression file (.mgfdc, versions 1
// and 2, compression/deep_compression.h): parse_compressed(), CompressedTensor::decode() of every
// tensor, then the model built from the file — CompressedRunner over a fresh skeleton
// (fuzz_common.h: mgfdc_net(), a conv and two FC layers) — on one 6×6 input. That is the
// deployment path: the conv and FC layers run straight from the relative-index and Huffman
// streams the file holds.
//
// The header's payload length (u64 at offset 12) and CRC-32 (u32 at offset 20, over the
// payload after the 24-byte header) are rewritten to match the mutated bytes first, so the
// fuzzer reaches the tensor parser and the stream decoders. A file that does not fit the
// skeleton is a std::invalid_argument from CompressedRunner, which is a clean refusal.
// Seeds: fuzz/make_corpus.cpp. Book: book/A1-reliability.md.
#include <cstdint>
#include <string>

#include "compression/deep_compression.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mgf::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  mgf_fuzz::repair_frame(bytes);
  mgf::CompressedModel cm;
  if (!mgf_fuzz::expect_clean_error([&] { cm = mgf::parse_compressed(bytes, "fuzz.mgfdc"); })) return 0;
  // decode() materializes the dense tensor. The format lets a few bytes declare a sparse tensor
  // (trailing zeros of a relative-index stream need no entries); the reader caps its shape at
  // kMaxTensorElements (2^26), still a legitimate 256 MB allocation, so decode only what fits
  // the harness's time and memory budget. The runner below never decodes a tensor whose shape
  // the skeleton does not match.
  for (const auto& t : cm.tensors)
    if (mgf::shape_numel(t.shape) <= (int64_t{1} << 20)) mgf_fuzz::expect_clean_error([&] { t.decode(); });

  mgf::manual_seed(1);
  mgf_fuzz::expect_clean_error([&] {
    mgf::CompressedRunner runner(cm, mgf_fuzz::mgfdc_net());
    mgf::NoGradGuard ng;
    runner.forward(mgf::Var(mgf::Tensor({1, 1, 6, 6}, 0.5f)));
  });
  return 0;
}
