// fuzz/fuzz_npy.cpp — libFuzzer harness for the NumPy .npy reader, npy_decode()
// (engine/npy.h). .npy has no checksum, so the bytes go in as they are.
//
// A successful decode must describe itself consistently: numel() is the product of the shape
// (an overflowing product once loaded as numel 0), every element is readable (ASan watches
// the sum), and npy_encode() of the tensor decodes back to the same shape and bits.
// Seeds: fuzz/make_corpus.cpp. Book: book/A1-reliability.md.
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/npy.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mgf_fuzz::require;
  const std::vector<uint8_t> bytes(data, data + size);
  mgf::Tensor t;
  if (!mgf_fuzz::expect_clean_error([&] { t = mgf::npy_decode(bytes, "fuzz.npy"); })) return 0;
  int64_t product = 1;
  for (int64_t d : t.shape()) product *= d;  // the reader has checked this cannot overflow
  require(product == t.numel(), "npy: numel is the product of the shape");
  float sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) sum += t.data()[i];  // reads every element
  (void)sum;
  const mgf::Tensor back = mgf::npy_decode(mgf::npy_encode(t), "round trip");
  require(back.shape() == t.shape(), "npy: round trip keeps the shape");
  require(t.numel() == 0 || std::memcmp(back.data(), t.data(), sizeof(float) * static_cast<size_t>(t.numel())) == 0,
          "npy: round trip keeps the bits");
  return 0;
}
