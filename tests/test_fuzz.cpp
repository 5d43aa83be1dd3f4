// tests/test_fuzz.cpp — the fuzzers' findings (fuzz/, book/A1-reliability.md) as regression
// tests, each in the suite of the reader it hit, each asserting the named error a fixed reader
// gives. The findings the I/O work fixed beside the fuzzers (shape overflow in .npy and
// checkpoints, huge counts in .mgfdc and .xnor, the gzip bomb) are tested with their formats
// in test_training.cpp, test_deep_compression.cpp and test_xnor.cpp.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "compression/deep_compression.h"
#include "compression/quantization/weight_sharing.h"
#include "engine/inflate.h"
#include "engine/rng.h"
#include "layers/linear.h"
#include "layers/sequential.h"

using namespace mgf;

TEST_SUITE("training") {
  // fuzz_idx, through read_file_bytes(): gunzip_prefix() handed the DEFLATE decoder a
  // temporary stream name ("<file> @<offset>") that the decoder kept by reference, so its
  // first error message read freed memory (AddressSanitizer: heap-use-after-free).
  TEST_CASE("gunzip_prefix names the file and the member offset when the stream is corrupt") {
    // gzip header (10 bytes), then a stored block whose NLEN is not the complement of LEN,
    // then 8 bytes where the trailer would be.
    const std::vector<uint8_t> gz = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255,  // ID1 ID2 CM FLG MTIME XFL OS
                                     0x01, 5, 0, 0, 0,                       // BFINAL, stored; LEN 5, NLEN 0
                                     0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_THROWS_WITH_AS(gunzip_prefix(gz.data(), gz.size(), 4, "bad-images.gz"),
                         doctest::Contains("inflate(bad-images.gz @10): stored block length 5 does not match its complement 0"),
                         std::runtime_error);
  }
}

TEST_SUITE("deep_compression") {
  // fuzz_mgfdc: CompressedRunner took a coded 2-D weight's shape from the file without
  // comparing it with the skeleton's layer (the conv path did compare), so a file could size a
  // fully connected layer, and its output, as it liked.
  TEST_CASE("CompressedRunner refuses a coded FC weight whose shape differs from the skeleton's layer") {
    manual_seed(5);
    auto big = std::make_shared<Sequential>();
    big->add("fc", std::make_shared<Linear>(4, 5));
    TrainedQuantization q;
    Rng rng(6);
    for (auto& np : big->named_parameters())
      if (np.name == "fc.weight") q.add(np.name, *np.param, 2, KmeansInit::linear, rng);
    const CompressedModel cm = make_compressed_model(*big, q, "tiny");

    auto small = std::make_shared<Sequential>();
    small->add("fc", std::make_shared<Linear>(4, 3));
    CHECK_THROWS_WITH_AS(CompressedRunner(cm, small),
                         doctest::Contains("'fc.weight': expected [3, 4], the file has [5, 4]"), std::invalid_argument);
    auto same = std::make_shared<Sequential>();
    same->add("fc", std::make_shared<Linear>(4, 5));
    CHECK(CompressedRunner(cm, same).compressed_linear_layers() == 1);
  }
}
