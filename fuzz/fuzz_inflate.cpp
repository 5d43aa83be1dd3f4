// fuzz/fuzz_inflate.cpp — libFuzzer harness for the DEFLATE decoder and the gzip reader
// (engine/inflate.h): inflate() on the input as a raw stream, and, when the input starts with
// the gzip magic, gunzip() / gunzip_prefix() on it after its checksums are repaired
// (fuzz_common.h).
//
// Beyond "no crash, only the promised exceptions", a successful decode must agree with itself:
//   inflate(): `consumed` never exceeds the input;
//   gunzip() with max_output = the full size gives the same bytes; with one byte less, it
//     throws (the cap that stops a gzip bomb is exact);
//   gunzip_prefix(k) is the first k bytes of the first member (it also runs on inputs gunzip()
//     refuses, to reach its own error paths).
// Any disagreement aborts, and libFuzzer keeps the input. Seeds: fuzz/make_corpus.cpp (stored
// and fixed-Huffman blocks) and gzip(1) output (dynamic blocks) — see the Makefile's fuzz block.
// Book: book/A1-reliability.md.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/inflate.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mgf_fuzz::expect_clean_error;
  using mgf_fuzz::require;
  expect_clean_error([&] {
    size_t used = 0;
    std::vector<uint8_t> out = mgf::inflate(data, size, "fuzz input", &used);
    require(used <= size, "inflate: consumed <= input size");
  });
  if (!mgf::is_gzip(data, size)) return 0;

  std::vector<uint8_t> gz(data, data + size);
  mgf_fuzz::repair_gzip(gz);
  std::vector<uint8_t> all;
  const bool whole = expect_clean_error([&] { all = mgf::gunzip(gz.data(), gz.size(), "fuzz input"); });
  if (whole) {
    // Not wrapped: the exact cap must succeed, so any exception here is a finding.
    require(mgf::gunzip(gz.data(), gz.size(), "fuzz input", all.size()) == all, "gunzip: exact cap gives the same bytes");
    if (!all.empty())
      require(!expect_clean_error([&] { mgf::gunzip(gz.data(), gz.size(), "fuzz input", all.size() - 1); }),
              "gunzip: a cap one byte short is refused");
  }
  // gunzip_prefix reads the first member only and skips its trailer, so it runs on every gzip
  // input (its own error paths included); when the whole file decoded, it must succeed too
  // (unwrapped) and return the start of the whole.
  for (size_t k : {size_t{0}, size_t{4}, size_t{16}, all.size()}) {
    std::vector<uint8_t> head;
    auto prefix = [&] { head = mgf::gunzip_prefix(gz.data(), gz.size(), k, "fuzz input"); };
    if (whole) prefix();
    else if (!expect_clean_error(prefix)) continue;
    require(head.size() <= k, "gunzip_prefix: at most k bytes");
    if (whole) require(head.size() <= all.size() && std::equal(head.begin(), head.end(), all.begin()),
                       "gunzip_prefix: the start of the whole");
  }
  return 0;
}
