// fuzz/fuzz_idx.cpp — libFuzzer harness for the MNIST loader: two IDX files (images and
// labels), each raw or gzipped, through the exact path a training run takes:
// load_idx_pair() → read_file_bytes() (gunzip with the output capped at what the IDX header
// declares) → parse_idx() → make_idx_dataset().
//
// Input layout (so one input holds both files): u16 LE length L of the images file, then L
// bytes of it (fewer when the input ends first), then the labels file. Each file that starts
// with the gzip magic has its member CRC-32 / ISIZE repaired (fuzz_common.h) so the fuzzer
// reaches the decoder and the IDX parser behind it. Seeds: fuzz/make_corpus.cpp.
// Book: book/A1-reliability.md.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/data.h"
#include "engine/threads.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mgf::set_num_threads(1);  // one process, one thread: the pool only adds noise here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t split = std::min<size_t>(data[0] | size_t{data[1]} << 8, size - 2);
  std::vector<uint8_t> images(data + 2, data + 2 + split), labels(data + 2 + split, data + size);
  for (auto* f : {&images, &labels})
    if (mgf::is_gzip(f->data(), f->size())) mgf_fuzz::repair_gzip(*f);
  const std::string ip = mgf_fuzz::scratch_file(images, "images.idx");
  const std::string lp = mgf_fuzz::scratch_file(labels, "labels.idx");
  mgf_fuzz::expect_clean_error([&] {
    mgf::Dataset d = mgf::load_idx_pair(ip, lp, -1);
    // What the loader promises: one image per label, labels 0..9, pixels normalized finite.
    mgf_fuzz::require(d.images.ndim() == 4 && d.images.dim(0) == static_cast<int64_t>(d.labels.size()),
                      "one image per label");
    for (int32_t y : d.labels) mgf_fuzz::require(y >= 0 && y <= 9, "labels in 0..9");
  });
  return 0;
}
