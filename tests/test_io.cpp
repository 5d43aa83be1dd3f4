// tests/test_io.cpp — TEST_SUITE("engine"): the I/O module every file format stands on
// (engine/io/): little-endian bytes out, checked bytes in, checked sizes, atomic writes (crc32
// is tested with inflate, in the training suite). The formats' own reproducers live with their formats (training: IDX, gzip, checkpoint,
// .npy; deep_compression: .mgfdc; xnor: .xnor).
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/file.h"
#include "engine/tensor.h"

using namespace mgf;
namespace fs = std::filesystem;

TEST_SUITE("engine") {
  TEST_CASE("ByteWriter writes little-endian; ByteReader reads back every width") {
    ByteWriter w;
    w.u8(0xAB), w.u16(0x1234), w.u32(0xDEADBEEF), w.u64(0x0102030405060708ull), w.i64(-2), w.f32(1.5f);
    w.str_u8("ab"), w.str_u32("xyz");
    const std::vector<uint8_t>& b = w.data();
    REQUIRE(b.size() == 1 + 2 + 4 + 8 + 8 + 4 + 3 + 7);
    CHECK(b[1] == 0x34);  // least significant byte first
    CHECK(b[3] == 0xEF);
    CHECK(b[7] == 0x08);
    ByteReader r(b, "test");
    CHECK(r.u8("a") == 0xAB);
    CHECK(r.u16("b") == 0x1234);
    CHECK(r.u32("c") == 0xDEADBEEFu);
    CHECK(r.u64("d") == 0x0102030405060708ull);
    CHECK(r.i64("e") == -2);
    CHECK(r.f32("f") == 1.5f);
    CHECK(r.str_u8("g") == "ab");
    CHECK(r.str_u32("h") == "xyz");
    CHECK(r.remaining() == 0);
    CHECK_THROWS_AS(w.str_u8(std::string(256, 'x')), std::invalid_argument);
  }

  TEST_CASE("ByteReader errors name the thing, the field and the byte offset") {
    std::vector<uint8_t> b(54, 0);
    ByteReader r(b, "checkpoint x.mgf");
    r.seek(52);
    CHECK_THROWS_WITH_AS(r.u32("ndim"), "checkpoint x.mgf: field 'ndim' at byte offset 52: needs 4 bytes, 2 left (truncated?)",
                         std::runtime_error);
    CHECK(r.pos() == 52);  // a failed read consumes nothing
    // need_array: count × size against the bytes left, with the product overflow-checked
    CHECK(r.need_array(1, 2, "pair") == 2);
    CHECK_THROWS_WITH_AS(r.need_array(3, 1, "data"), doctest::Contains("declares 3 elements of 1 bytes (3 bytes), only 2 left"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(r.need_array(uint64_t{1} << 62, 8, "data"), doctest::Contains("overflows 64 bits"),
                         std::runtime_error);
    ByteReader s(b, "f");
    s.set_end(4);  // e.g. stop before a trailing checksum
    s.u32("x");
    CHECK_THROWS_AS(s.u8("y"), std::runtime_error);
  }

  TEST_CASE("checked_mul, checked_add and checked_numel refuse what does not fit") {
    CHECK(checked_mul(uint64_t{1} << 31, uint64_t{1} << 32, "m") == uint64_t{1} << 63);
    CHECK_THROWS_WITH_AS(checked_mul(uint64_t{1} << 32, uint64_t{1} << 32, "dims"),
                         "dims: 4294967296 × 4294967296 overflows 64 bits", std::overflow_error);
    CHECK_THROWS_AS(checked_add(std::numeric_limits<uint64_t>::max(), 1, "a"), std::overflow_error);
    CHECK(checked_numel({}, "s") == 1);
    CHECK(checked_numel({3, 0, 5}, "s") == 0);
    CHECK(checked_numel({1 << 20, 1 << 20, 1 << 20}, "s") == int64_t{1} << 60);
    CHECK_THROWS_WITH_AS(checked_numel({1 << 20, 1 << 20, 1 << 20, 1 << 20}, "s"), doctest::Contains("s: shape [1048576"),
                         std::overflow_error);
    CHECK_THROWS_AS(checked_numel({2, -1}, "s"), std::invalid_argument);
    CHECK(shape_numel({2, 3, 4}) == 24);
  }

  TEST_CASE("write_file_atomic replaces the file whole, removes a stale .tmp first, and names the path on failure") {
    const fs::path dir = fs::temp_directory_path() / ("mgf_test_io_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string path = (dir / "f.bin").string();
    write_file_atomic(path, "old");
    // A killed writer's leftover, made read-only: the next write must not be blocked by it.
    write_file_atomic(path + ".tmp.src", "half-written");
    fs::rename(path + ".tmp.src", path + ".tmp");
    ::chmod((path + ".tmp").c_str(), 0444);
    write_file_atomic(path, "new");
    const std::vector<uint8_t> got = read_file(path);
    CHECK(std::string(got.begin(), got.end()) == "new");
    CHECK_FALSE(fs::exists(path + ".tmp"));
    // A simulated crash mid-write leaves the old file and no .tmp.
    std::vector<uint8_t> big(3 * 4096 + 5, 7);
    CHECK_THROWS_WITH_AS(write_file_atomic(path, big.data(), big.size(), 4096), doctest::Contains("simulated crash"),
                         std::runtime_error);
    CHECK(read_file(path).size() == 3);
    CHECK_FALSE(fs::exists(path + ".tmp"));
    // write_bytes_atomic creates parent directories; write_file_atomic does not.
    write_bytes_atomic((dir / "a" / "b.bin").string(), {1, 2});
    CHECK(read_file((dir / "a" / "b.bin").string()).size() == 2);
    CHECK_THROWS_WITH_AS(write_file_atomic((dir / "no" / "x").string(), "x"), doctest::Contains((dir / "no" / "x.tmp").string().c_str()),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(read_file((dir / "missing").string()), doctest::Contains("cannot open"), std::runtime_error);
    fs::remove_all(dir);
  }
}
