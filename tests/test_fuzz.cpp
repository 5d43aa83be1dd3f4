// tests/test_fuzz.cpp — the fuzzers' findings (fuzz/, book/A1-reliability.md) as regression
// tests, each in the suite of the reader it hit, each asserting the named error a fixed reader
// gives. The findings the I/O work fixed beside the fuzzers (shape overflow in .npy and
// checkpoints, huge counts in .mgfdc, the gzip bomb) are tested with their formats in
// test_training.cpp and test_deep_compression.cpp; the .xnor cases (version 3, layer records)
// are below, in suite xnor.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "compression/deep_compression.h"
#include "compression/quantization/packed_binary.h"
#include "compression/quantization/weight_sharing.h"
#include "engine/inflate.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
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

TEST_SUITE("xnor") {
  // A .xnor version 3 file around a hand-written payload: header, CRC-32, the bytes.
  std::vector<uint8_t> xnor_file(const ByteWriter& p, uint32_t layers) {
    ByteWriter f;
    f.bytes("MGFXNOR1", 8);
    f.u32(3), f.u32(layers), f.u64(p.size()), f.u32(crc32(p.data().data(), p.size()));
    f.bytes(p.data().data(), p.size());
    return f.take();
  }

  // fuzz_xnor (version 2, then carried into version 3): the packed rows were sized from a
  // record's declared count before the file was checked to be long enough.
  TEST_CASE("a 65-byte .xnor file declaring 2^20 binary filters is refused before the buffer is sized") {
    ByteWriter p;
    p.u32(1), p.u32(28), p.u32(28);  // input [1, 28, 28]
    p.u32(5);                        // binary_conv (real input)
    p.str_u32("conv2");
    p.u32(1u << 20), p.u32(5), p.u32(1);  // O = 2^20 filters of 1·5·5 bits, α scale
    const std::vector<uint8_t> f = xnor_file(p, 1);
    CHECK(f.size() == 65);
    CHECK_THROWS_WITH_AS(PackedBinaryNet::from_bytes(f, "huge.xnor"),
                         doctest::Contains("packed model huge.xnor: field 'packed bits of conv2' at byte offset 65: "
                                           "declares 1048576 elements of 8 bytes"),
                         std::runtime_error);
  }

  // Sizes that each pass their own check can still multiply to an image or activation the
  // runner would allocate N times: both are bounded at 2^26 values per image.
  TEST_CASE("a .xnor whose input or layer output would exceed 2^26 values per image is refused") {
    ByteWriter big_input;
    big_input.u32(1), big_input.u32(1u << 14), big_input.u32(1u << 14);  // 2^28 pixels
    big_input.u32(2), big_input.str_u32("relu");
    CHECK_THROWS_WITH_AS(PackedBinaryNet::from_bytes(xnor_file(big_input, 1), "big.xnor"),
                         doctest::Contains("expected an input image of at most 2^26 values, found [1, 16384, 16384]"),
                         std::runtime_error);
    ByteWriter wide;
    wide.u32(1), wide.u32(1024), wide.u32(1024);  // 2^20 pixels, fine
    wide.u32(0), wide.str_u32("conv1");           // a 1x1 conv to 128 channels: 2^27 outputs
    wide.u32(128), wide.u32(1), wide.u32(1), wide.u32(1), wide.u32(0);
    for (int i = 0; i < 2 * 128; ++i) wide.f32(0.5f);
    CHECK_THROWS_WITH_AS(PackedBinaryNet::from_bytes(xnor_file(wide, 1), "wide.xnor"),
                         doctest::Contains("an output of at most 2^26 values per image"), std::runtime_error);
  }
}
