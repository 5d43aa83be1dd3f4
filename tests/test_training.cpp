// tests/test_training.cpp — TEST_SUITE("training"): the gzip/DEFLATE decoder on streams built
// by hand, the IDX reader on every malformed case, the data loader, the training loop on a
// tiny synthetic problem, checkpoints and .npy files. Book: book/03-training.md.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "engine/checkpoint.h"
#include "engine/data.h"
#include "engine/idx.h"
#include "engine/inflate.h"
#include "engine/io/bytes.h"
#include "engine/loader.h"
#include "engine/npy.h"
#include "engine/summary.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "layers/linear.h"
#include "layers/shape.h"
#include "layers/models/baseline.h"
#include "layers/models/lenet.h"
#include "layers/module.h"
#include "tests/gradcheck.h"

using namespace mgf;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes str_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// Writes bits LSB-first, as DEFLATE packs them.
struct BitWriter {
  Bytes out;
  int used = 8;  // bits used in the last byte
  void bits(uint32_t v, int n) {
    for (int i = 0; i < n; ++i) {
      if (used == 8) {
        out.push_back(0);
        used = 0;
      }
      out.back() |= static_cast<uint8_t>(((v >> i) & 1) << used);
      ++used;
    }
  }
  void code(uint32_t c, int n) {  // Huffman codes go most-significant bit first
    for (int i = n - 1; i >= 0; --i) bits((c >> i) & 1, 1);
  }
  // The fixed literal/length code of RFC 1951 §3.2.6.
  void fixed_symbol(int s) {
    if (s < 144) code(0x30 + s, 8);
    else if (s < 256) code(0x190 + s - 144, 9);
    else if (s < 280) code(s - 256, 7);
    else code(0xC0 + s - 280, 8);
  }
};

Bytes stored_block(const Bytes& data, bool final = true) {
  Bytes b{static_cast<uint8_t>(final ? 1 : 0)};  // BFINAL, BTYPE = 00, then pad to the byte
  uint16_t len = static_cast<uint16_t>(data.size()), nlen = static_cast<uint16_t>(~len);
  for (uint16_t v : {len, nlen}) {
    b.push_back(static_cast<uint8_t>(v & 0xFF));
    b.push_back(static_cast<uint8_t>(v >> 8));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// "abc" as literals, then (length 9, distance 3) → "abcabcabcabc", with the fixed code.
Bytes fixed_block_abc(int distance = 3) {
  BitWriter w;
  w.bits(1, 1);  // BFINAL
  w.bits(1, 2);  // BTYPE = 01 (fixed)
  for (char c : std::string("abc")) w.fixed_symbol(static_cast<uint8_t>(c));
  w.fixed_symbol(263);               // length 9: base 9, no extra bits
  int dcode = distance == 3 ? 2 : 3; // distance 3 is code 2; distance 4 is code 3
  w.code(static_cast<uint32_t>(dcode), 5);
  w.fixed_symbol(256);               // end of block
  return w.out;
}

void le32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

Bytes gzip_wrap(const Bytes& deflate, const Bytes& plain) {
  Bytes g{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
  g.insert(g.end(), deflate.begin(), deflate.end());
  le32(g, crc32(plain.data(), plain.size()));
  le32(g, static_cast<uint32_t>(plain.size()));
  return g;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void be32(Bytes& b, uint32_t v) {
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
Bytes idx_images(uint32_t n, uint32_t h, uint32_t w, uint8_t fill = 0) {
  Bytes b{0, 0, 8, 3};
  be32(b, n);
  be32(b, h);
  be32(b, w);
  for (uint32_t i = 0; i < n * h * w; ++i) b.push_back(static_cast<uint8_t>(fill + i));
  return b;
}
Bytes idx_labels(std::vector<uint8_t> labels) {
  Bytes b{0, 0, 8, 1};
  be32(b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("mgf_test_training_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name, const Bytes& content) const {
    std::string p = (path / name).string();
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(content.data()),
                                             static_cast<std::streamsize>(content.size()));
    return p;
  }
};

// A two-layer perceptron written with ops only (the tests do not depend on layers/).
struct TinyMlp : Module {
  Parameter &w1, &b1, &w2, &b2;
  TinyMlp(int64_t in, int64_t hidden, int64_t out, uint64_t seed)
      : w1(register_parameter("w1", testing::random_tensor({hidden, in}, seed, -0.3f, 0.3f))),
        b1(register_parameter("b1", Tensor({hidden}))),
        w2(register_parameter("w2", testing::random_tensor({out, hidden}, seed + 1, -0.3f, 0.3f))),
        b2(register_parameter("b2", Tensor({out}))) {}
  Var forward(const Var& x) override {
    return linear(relu(linear(flatten(x), w1.effective(), b1.var)), w2.effective(), b2.var);
  }
  std::string type_name() const override { return "TinyMlp"; }
};

// The MLP plus a buffer (like batch-norm's running mean) and a mask, for checkpoints.
struct TinyWithState : TinyMlp {
  Tensor running{Shape{3}, std::vector<float>{0.5f, -1.0f, 2.0f}};
  TinyWithState(int64_t hidden, uint64_t seed) : TinyMlp(64, hidden, 4, seed) {
    register_buffer("running", &running);
    Tensor m({4, hidden}, 1.0f);
    m[1] = 0.0f;
    w2.set_mask(m);
  }
};

std::vector<float> all_values(Module& m) {
  std::vector<float> v;
  for (const auto& e : checkpoint_entries(m))
    for (int64_t i = 0; i < e.value.numel(); ++i) v.push_back(e.value[i]);
  return v;
}

// A Linear that claims compressed storage through the summary's hook.
struct PretendCompressed : Linear, ReportsBytes {
  PretendCompressed() : Linear(800, 500) {}
  int64_t parameter_bytes() const override { return 1234; }
};

}  // namespace

TEST_SUITE("training") {
  // ---- DEFLATE / gzip ----------------------------------------------------------------------
  TEST_CASE("CRC-32 of \"123456789\" is the standard check value cbf43926") {
    Bytes b = str_bytes("123456789");
    CHECK(crc32(b.data(), b.size()) == 0xCBF43926u);
    CHECK(crc32(b.data() + 4, 5, crc32(b.data(), 4)) == 0xCBF43926u);  // chainable
  }

  TEST_CASE("inflate: stored blocks and a fixed-Huffman block with an overlapping copy") {
    Bytes hello = str_bytes("hello, deflate");
    CHECK(inflate(stored_block(hello).data(), stored_block(hello).size()) == hello);
    Bytes two = stored_block(str_bytes("ab"), false);
    Bytes tail = stored_block(str_bytes("cd"));
    two.insert(two.end(), tail.begin(), tail.end());
    CHECK(inflate(two.data(), two.size()) == str_bytes("abcd"));
    Bytes f = fixed_block_abc();
    size_t used = 0;
    CHECK(inflate(f.data(), f.size(), "fixed", &used) == str_bytes("abcabcabcabc"));
    CHECK(used == f.size());
  }

  TEST_CASE("gunzip checks CRC-32 and ISIZE and reads concatenated members") {
    Bytes plain = str_bytes("abcabcabcabc");
    Bytes gz = gzip_wrap(fixed_block_abc(), plain);
    CHECK(gunzip(gz.data(), gz.size()) == plain);
    Bytes two = gz;
    two.insert(two.end(), gz.begin(), gz.end());
    CHECK(gunzip(two.data(), two.size()).size() == 2 * plain.size());

    Bytes bad_crc = gz;
    bad_crc[bad_crc.size() - 8] ^= 1;
    CHECK(has(error_of([&] { gunzip(bad_crc.data(), bad_crc.size(), "x.gz"); }), "CRC-32 mismatch"));
    Bytes bad_size = gz;
    bad_size[bad_size.size() - 1] ^= 1;
    CHECK(has(error_of([&] { gunzip(bad_size.data(), bad_size.size(), "x.gz"); }), "ISIZE"));
    Bytes bad_magic = gz;
    bad_magic[1] = 0x8c;
    CHECK(has(error_of([&] { gunzip(bad_magic.data(), bad_magic.size(), "x.gz"); }), "magic"));
  }

  TEST_CASE("inflate rejects bad streams with the offset: block type 3, LEN/NLEN, far distance, truncation") {
    Bytes type3{0x07};  // BFINAL=1, BTYPE=11
    CHECK(has(error_of([&] { inflate(type3.data(), type3.size()); }), "invalid block type"));
    Bytes s = stored_block(str_bytes("abc"));
    s[3] ^= 0xFF;  // NLEN no longer the complement of LEN
    CHECK(has(error_of([&] { inflate(s.data(), s.size()); }), "complement"));
    Bytes far = fixed_block_abc(4);  // distance 4 with only 3 bytes of output
    std::string e = error_of([&] { inflate(far.data(), far.size(), "far"); });
    CHECK(has(e, "before the start"));
    CHECK(has(e, "byte offset"));
    Bytes full = stored_block(str_bytes("abcdef"));
    for (size_t cut : {size_t{0}, size_t{3}, full.size() - 1}) {
      CAPTURE(cut);
      CHECK(has(error_of([&] { inflate(full.data(), cut); }), "truncated"));
    }
    Bytes gz = gzip_wrap(fixed_block_abc(), str_bytes("abcabcabcabc"));
    for (size_t cut = 1; cut < gz.size(); cut += 3) {
      CAPTURE(cut);
      CHECK_THROWS_AS(gunzip(gz.data(), cut), std::runtime_error);
    }
  }

  TEST_CASE("gunzip reads dynamic-Huffman output of the system gzip (skipped without gzip)") {
    if (std::system("command -v gzip >/dev/null 2>&1") != 0) {
      MESSAGE("gzip not on PATH: dynamic-block round trip skipped");
      return;
    }
    TempDir dir;
    Bytes plain;
    Rng rng(3);
    for (int i = 0; i < 200000; ++i)  // skewed bytes with repeats: gzip picks dynamic blocks
      plain.push_back(static_cast<uint8_t>(rng.uniform() < 0.5f ? 'a' + rng.randint(4) : rng.randint(256)));
    std::string p = dir.file("blob", plain);
    REQUIRE(std::system(("gzip -9 -f '" + p + "'").c_str()) == 0);
    Bytes gz = read_file(p + ".gz");
    CHECK(gunzip(gz.data(), gz.size(), p) == plain);
  }

  // ---- IDX ---------------------------------------------------------------------------------
  TEST_CASE("a well-formed IDX pair is read, normalised with (x/255 - 0.1307)/0.3081") {
    Dataset d = make_idx_dataset(idx_images(3, 2, 2), "img", idx_labels({0, 9, 4}), "lab");
    CHECK(d.size() == 3);
    CHECK(d.images.shape() == Shape{3, 1, 2, 2});
    CHECK(d.labels == std::vector<int32_t>{0, 9, 4});
    CHECK(d.images[0] == doctest::Approx((0.0f / 255 - 0.1307f) / 0.3081f));
    CHECK(d.images[5] == doctest::Approx((5.0f / 255 - 0.1307f) / 0.3081f));
    Dataset two = make_idx_dataset(idx_images(3, 2, 2), "img", idx_labels({0, 9, 4}), "lab", 2);
    CHECK(two.size() == 2);
    Dataset s = d.slice(1, 2);
    CHECK(s.labels == std::vector<int32_t>{9, 4});
    CHECK(s.images[0] == d.images[4]);
    CHECK_THROWS_AS(d.slice(2, 2), std::out_of_range);
  }

  TEST_CASE("malformed IDX files are rejected naming the file and the offset") {
    Bytes good = idx_images(2, 3, 3);
    auto err = [](const Bytes& b, int ndim) { return error_of([&] { parse_idx(b, ndim, "f.idx"); }); };
    Bytes magic = good;
    magic[3] = 1;  // a label file's magic where images are expected
    std::string e = err(magic, 3);
    CHECK(has(e, "f.idx"));
    CHECK(has(e, "magic"));
    CHECK(has(e, "offset 3"));
    Bytes nonzero = good;
    nonzero[0] = 1;
    CHECK(has(err(nonzero, 3), "offset 0"));
    Bytes type = good;
    type[2] = 0x0D;  // float IDX
    CHECK(has(err(type, 3), "0x0d"));
    Bytes truncated(good.begin(), good.end() - 1);
    e = err(truncated, 3);
    CHECK(has(e, "truncated"));
    CHECK(has(e, std::to_string(good.size())));  // the expected length
    Bytes header_cut(good.begin(), good.begin() + 9);
    CHECK(has(err(header_cut, 3), "header"));
    Bytes trailing = good;
    trailing.push_back(0);
    CHECK(has(err(trailing, 3), "trailing"));
    Bytes zero = idx_images(2, 3, 3);
    zero[11] = 0;  // rows = 0
    zero.resize(16);
    CHECK(has(err(zero, 3), "is 0"));
    CHECK(has(err(Bytes{0, 0}, 3), "too short"));
  }

  TEST_CASE("label count must equal image count and labels must lie in 0..9") {
    std::string e = error_of([] { make_idx_dataset(idx_images(3, 2, 2), "img", idx_labels({1, 2}), "lab"); });
    CHECK(has(e, "3 images"));
    CHECK(has(e, "2 labels"));
    e = error_of([] { make_idx_dataset(idx_images(3, 2, 2), "img", idx_labels({1, 12, 2}), "lab"); });
    CHECK(has(e, "lab"));
    CHECK(has(e, "label 12"));
    CHECK(has(e, "offset 9"));
  }

  TEST_CASE("load_mnist_like finds raw or .gz files under --data and DIR/<set>, else says what to do") {
    TempDir dir;
    fs::create_directories(dir.path / "mnist");
    auto put = [&](const std::string& name, const Bytes& b, bool gz) {
      dir.file("mnist/" + name + (gz ? ".gz" : ""), gz ? gzip_wrap(stored_block(b), b) : b);
    };
    put("train-images-idx3-ubyte", idx_images(5, 28, 28), true);   // the models' 28x28, checked at load
    put("train-labels-idx1-ubyte", idx_labels({1, 2, 3, 4, 5}), false);
    put("t10k-images-idx3-ubyte", idx_images(2, 28, 28), false);
    put("t10k-labels-idx1-ubyte", idx_labels({7, 8}), true);
    DataSplits s = load_mnist_like(dir.path.string(), "mnist", 3);
    CHECK(s.train.size() == 3);
    CHECK(s.test.size() == 2);
    CHECK(s.test.labels[1] == 8);
    CHECK(s.dir == (dir.path / "mnist").string());
    try {
      load_mnist_like(dir.path.string(), "fashion-mnist");
      FAIL("expected DataNotFound");
    } catch (const DataNotFound& e) {
      CHECK(has(e.what(), (dir.path / "fashion-mnist").string()));
      CHECK(has(e.what(), "make data"));
      CHECK(has(e.what(), "--data"));
    }
    CHECK_THROWS_AS(load_mnist_like(dir.path.string(), "cifar"), std::invalid_argument);
  }

  // ---- loader ------------------------------------------------------------------------------
  TEST_CASE("the loader's shuffle is a permutation, reproducible by seed, new each epoch") {
    Dataset d = synthetic_dataset(103, 4, 4, 1);
    Rng r1(42), r2(42), r3(43);
    DataLoader a(d, 10, true, r1), b(d, 10, true, r2), c(d, 10, true, r3);
    CHECK(a.order() == b.order());
    CHECK(a.order() != c.order());
    std::set<int64_t> seen(a.order().begin(), a.order().end());
    CHECK(seen.size() == 103);
    CHECK(*seen.begin() == 0);
    CHECK(*seen.rbegin() == 102);
    Tensor x;
    std::vector<int32_t> y;
    std::vector<int64_t> first = a.order();
    std::vector<int32_t> labels;
    while (a.next(x, y)) labels.insert(labels.end(), y.begin(), y.end());
    CHECK(labels.size() == 103);
    CHECK(labels[0] == d.labels[static_cast<size_t>(first[0])]);
    CHECK(a.order() != first);  // the next epoch has its own permutation
    Rng r4(1);
    DataLoader plain(d, 10, false, r4);
    CHECK(plain.order()[57] == 57);
  }

  TEST_CASE("the last batch is ragged: N mod B examples, none dropped") {
    Dataset d = synthetic_dataset(23, 3, 4, 2);
    Rng rng(1);
    DataLoader l(d, 10, false, rng);
    CHECK(l.num_batches() == 3);
    Tensor x;
    std::vector<int32_t> y;
    std::vector<int64_t> sizes;
    while (l.next(x, y)) {
      sizes.push_back(x.dim(0));
      CHECK(static_cast<int64_t>(y.size()) == x.dim(0));
    }
    CHECK(sizes == std::vector<int64_t>{10, 10, 3});
    CHECK(x.shape() == Shape{3, 1, 4, 4});
    CHECK(x[0] == d.images[20 * 16]);
    CHECK_THROWS_AS(DataLoader(d, 0, false, rng), std::invalid_argument);
  }

  TEST_CASE("jitter translates the image and fills the border with the blank value") {
    // 3x3 image 1..9, shift right 1 and up 1.
    float src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, dst[9];
    translate_image(src, dst, 1, 3, 3, 1, -1, -5.0f);
    float want[9] = {-5, 4, 5, -5, 7, 8, -5, -5, -5};
    for (int i = 0; i < 9; ++i) CHECK(dst[i] == want[i]);
    // Through the loader: every jittered pixel is either an original pixel or the blank value.
    Dataset d = synthetic_dataset(8, 4, 6, 3);
    Rng rng(5);
    DataLoader l(d, 8, false, rng, 2);
    Tensor x;
    std::vector<int32_t> y;
    REQUIRE(l.next(x, y));
    int moved = 0;
    for (int64_t i = 0; i < 8 * 36; ++i) moved += x[i] != d.images[i];
    CHECK(moved > 0);
  }

  // ---- training loop -----------------------------------------------------------------------
  TEST_CASE("train_epoch learns a tiny synthetic problem; evaluate counts errors out of all") {
    set_training_output(false);
    Dataset train = synthetic_dataset(400, 4, 8, 11), test = synthetic_dataset(200, 4, 8, 12);
    TinyMlp m(64, 16, 4, 5);
    EvalResult before = evaluate(m, test, 64);
    CHECK(before.count == 200);
    SGD opt(m.parameters(), {.lr = 0.1f, .momentum = 0.9f});
    Rng rng(7);
    DataLoader loader(train, 32, true, rng);
    EpochStats last;
    for (int e = 0; e < 4; ++e) last = train_epoch(m, opt, loader);
    EvalResult after = evaluate(m, test, 64);
    CHECK(last.count == 400);
    CHECK(last.batches == 13);
    CHECK(after.error_rate() < 0.05);
    CHECK(after.loss < before.loss);
    CHECK(m.training());  // evaluate restores the mode
    set_training_output(true);
  }

  TEST_CASE("selection_set: the validation split when one is held out, else the test set, named") {
    DataSplits s;
    s.train = synthetic_dataset(40, 4, 4, 23);
    s.test = synthetic_dataset(10, 4, 4, 24);
    const SelectionSet none = selection_set(s);
    CHECK(&none.images == &s.test);
    CHECK(std::string(none.name) == "test");
    split_validation(s, 8);
    const SelectionSet held = selection_set(s);
    CHECK(&held.images == &s.val);
    CHECK(held.images.size() == 8);
    CHECK(std::string(held.name) == "val");
  }

  TEST_CASE("split_validation holds out the tail of train: sizes, order, disjoint, range-checked") {
    DataSplits s;
    s.train = synthetic_dataset(50, 4, 4, 21);
    const Dataset all = s.train;
    split_validation(s, 12);
    REQUIRE(s.train.size() == 38);
    REQUIRE(s.val.size() == 12);
    const int64_t per = all.images.numel() / all.size();
    // train is the head and val the tail, image for image and label for label: together they
    // are the original set, so no image is in both and none is lost.
    CHECK(std::equal(s.train.images.data(), s.train.images.data() + 38 * per, all.images.data()));
    CHECK(std::equal(s.val.images.data(), s.val.images.data() + 12 * per, all.images.data() + 38 * per));
    CHECK(std::equal(s.train.labels.begin(), s.train.labels.end(), all.labels.begin()));
    CHECK(std::equal(s.val.labels.begin(), s.val.labels.end(), all.labels.begin() + 38));
    CHECK(s.val.num_classes == all.num_classes);
    split_validation(s, 0);  // none held out: train unchanged, val emptied
    CHECK(s.train.size() == 38);
    CHECK(s.val.size() == 0);
    for (int64_t bad : {int64_t{-1}, int64_t{38}, int64_t{1000}}) {
      DataSplits t;
      t.train = synthetic_dataset(38, 4, 4, 22);
      try {
        split_validation(t, bad);
        FAIL("split_validation accepted " << bad);
      } catch (const std::out_of_range& e) {
        const std::string m = e.what();
        CHECK(m.find(std::to_string(bad) + " validation images") != std::string::npos);
        CHECK(m.find("expected 0..37") != std::string::npos);
        CHECK(m.find("has 38 images") != std::string::npos);
      }
      CHECK(t.train.size() == 38);  // a refused split leaves the data as it was
    }
  }

  TEST_CASE("train_with_recipe reports validation error per epoch when data.val is present") {
    set_training_output(false);
    DataSplits d;
    d.train = synthetic_dataset(160, 4, 8, 31);
    d.test = synthetic_dataset(40, 4, 8, 32);
    BaselineRecipe r;
    r.epochs = 2;
    r.batch = 32;
    r.lr = 0.1f;
    r.warmup = 0.0;
    TinyMlp a(64, 16, 4, 5);
    auto none = train_with_recipe(a, d, r, 3);
    REQUIRE(none.size() == 2);
    CHECK(none[1].val.count == 0);  // no val split: nothing evaluated
    split_validation(d, 48);
    TinyMlp b(64, 16, 4, 5);
    auto logs = train_with_recipe(b, d, r, 3);
    REQUIRE(logs.size() == 2);
    for (const EpochLog& l : logs) {
      CHECK(l.val.count == 48);
      CHECK(l.train.count == 112);  // trained on what is left, not on the held-out images
      CHECK(l.test.count == 40);
    }
    CHECK(logs[1].val.errors == evaluate(b, d.val).errors);  // the last epoch's val is the final model's
    set_training_output(true);
  }

  TEST_CASE("baseline_path tags a baseline trained without the validation images -val<N>") {
    const std::string dir = checkpoint_dir() + "/";
    CHECK(baseline_path("lenet5", "mnist", false) == dir + "lenet5-mnist.mgf");
    CHECK(baseline_path("lenet5", "mnist", false, 0, 10000) == dir + "lenet5-mnist-val10000.mgf");
    CHECK(baseline_path("lenet300", "mnist", true, 1500, 500) == dir + "lenet300-mnist-quick-n1500-val500.mgf");
  }

  TEST_CASE("train_epoch steps hooks.schedule once per batch, after after_step") {
    set_training_output(false);
    Dataset train = synthetic_dataset(40, 4, 8, 1);  // 3 batches of 16 (the last ragged)
    TinyMlp m(64, 8, 4, 2);
    SGD opt(m.parameters(), {.lr = 0.1f});
    Rng rng(1);
    DataLoader loader(train, 16, true, rng);
    BatchSchedule sched(cosine_schedule(0.1f, 2), loader.num_batches());
    std::vector<float> seen;  // η each after_step sees: the rate the batch was trained with
    TrainHooks hooks;
    hooks.after_step = [&] { seen.push_back(opt.lr); };
    hooks.schedule = &sched;
    sched.reset(opt);
    train_epoch(m, opt, loader, hooks);
    train_epoch(m, opt, loader, hooks);
    REQUIRE(seen.size() == 6);
    CHECK(sched.batch == 6);
    CHECK(seen[0] == 0.1f);
    CHECK(seen[3] == doctest::Approx(0.05f));  // the first batch of epoch 2: halfway
    CHECK(opt.lr == doctest::Approx(0.0f));    // after both epochs the cosine is at its end
    set_training_output(true);
  }

  TEST_CASE("train_epoch stops with a clear message when the loss becomes NaN") {
    set_training_output(false);
    Dataset train = synthetic_dataset(40, 4, 8, 1);
    TinyMlp m(64, 8, 4, 2);
    m.w2.var.value()[0] = std::nanf("");
    SGD opt(m.parameters(), {.lr = 0.1f});
    Rng rng(1);
    DataLoader loader(train, 16, true, rng);
    std::string e = error_of([&] { train_epoch(m, opt, loader, {}, "nan-test"); });
    CHECK(has(e, "NaN"));
    CHECK(has(e, "batch 1"));
    set_training_output(true);
  }

  TEST_CASE("count_errors takes the arg-max of each row") {
    Tensor logits({3, 3}, {0, 1, 0, 5, 1, 1, 0, 0, 2});
    CHECK(count_errors(logits, {1, 0, 2}) == 0);
    CHECK(count_errors(logits, {0, 0, 0}) == 2);
    CHECK_THROWS_AS(count_errors(logits, {1}), std::invalid_argument);
  }

  // ---- checkpoints -------------------------------------------------------------------------
  TEST_CASE("checkpoint round trip restores parameters, masks and buffers") {
    TempDir dir;
    const std::string path = (dir.path / "sub" / "m.mgf").string();  // parent dirs are created
    TinyWithState a(16, 1), b(16, 2);
    save_checkpoint(path, a);
    b.w2.clear_mask();
    b.running.fill(0.0f);
    load_checkpoint(path, b);
    CHECK(all_values(a) == all_values(b));
    REQUIRE(b.w2.has_mask());
    CHECK(b.w2.mask[1] == 0.0f);
    CHECK(b.running[2] == 2.0f);
    std::vector<CheckpointEntry> e = read_checkpoint(path);
    CHECK(e.size() == 6);  // 4 parameters, 1 mask, 1 buffer
    CHECK(e[0].name == "w1");
  }

  TEST_CASE("a corrupted, truncated or mismatched checkpoint throws and leaves the model unchanged") {
    TempDir dir;
    TinyWithState a(16, 1), target(16, 2);
    Bytes good = encode_checkpoint(checkpoint_entries(a));
    const std::vector<float> before = all_values(target);

    Bytes flipped = good;
    flipped[flipped.size() / 2] ^= 0x10;
    std::string e = error_of([&] { load_checkpoint(dir.file("flip.mgf", flipped), target); });
    CHECK(has(e, "checksum"));
    CHECK(all_values(target) == before);

    for (size_t cut : {size_t{10}, size_t{100}, good.size() - 1}) {
      CAPTURE(cut);
      Bytes t(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
      CHECK_THROWS_AS(load_checkpoint(dir.file("cut.mgf", t), target), std::runtime_error);
      CHECK(all_values(target) == before);
    }
    Bytes magic = good;
    magic[0] = 'X';
    CHECK(has(error_of([&] { load_checkpoint(dir.file("magic.mgf", magic), target); }), "magic"));

    TinyWithState wider(20, 3);  // w1 is [20, 64] in the model, [16, 64] in the file
    const std::vector<float> wider_before = all_values(wider);
    e = error_of([&] { load_checkpoint(dir.file("good.mgf", good), wider); });
    CHECK(has(e, "w1"));
    CHECK(has(e, "[20, 64]"));
    CHECK(has(e, "[16, 64]"));
    CHECK(all_values(wider) == wider_before);

    TinyMlp no_buffer(64, 16, 4, 4);  // the file has a buffer this model does not
    e = error_of([&] { load_checkpoint(dir.path.string() + "/good.mgf", no_buffer); });
    CHECK(has(e, "running"));
    CHECK(has(e, "not in the model"));
  }

  TEST_CASE("an interrupted checkpoint write leaves the old file intact") {
    TempDir dir;
    const std::string path = (dir.path / "m.mgf").string();
    TinyWithState a(40, 1), b(40, 2);
    save_checkpoint(path, a);
    Bytes newer = encode_checkpoint(checkpoint_entries(b));
    REQUIRE(newer.size() > 8192);
    std::string e = error_of([&] { write_bytes_atomic(path, newer, 4096); });  // "crash" mid-data
    CHECK(has(e, "simulated crash"));
    CHECK_FALSE(fs::exists(path + ".tmp"));
    TinyWithState c(40, 3);
    load_checkpoint(path, c);
    CHECK(all_values(c) == all_values(a));
  }

  // ---- .npy --------------------------------------------------------------------------------
  TEST_CASE(".npy round trip for 0- to 4-D float32 tensors, 64-byte aligned header") {
    TempDir dir;
    for (const Shape& s : {Shape{}, Shape{5}, Shape{2, 3}, Shape{1, 2, 3, 4}}) {
      CAPTURE(shape_str(s));
      Tensor t = testing::random_tensor(s, 9);
      Bytes b = npy_encode(t);
      size_t hlen = b[8] | size_t{b[9]} << 8;
      CHECK((10 + hlen) % 64 == 0);
      CHECK(b[10 + hlen - 1] == '\n');
      const std::string p = (dir.path / "t.npy").string();
      write_npy(p, t);
      Tensor r = read_npy(p);
      CHECK(r.shape() == s);
      CHECK(r.to_vector() == t.to_vector());
    }
    std::string h(reinterpret_cast<const char*>(npy_encode(Tensor({5})).data()) + 10, 55);
    CHECK(has(h, "'shape': (5,)"));
  }

  TEST_CASE(".npy reads a hand-written NumPy header and rejects other dtypes, Fortran order, bad lengths") {
    auto make = [](const std::string& dict, size_t nfloats) {
      std::string hdr = dict;
      while ((10 + hdr.size() + 1) % 64) hdr += ' ';
      hdr += '\n';
      std::string file = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(hdr.size()) + '\0' + hdr;
      for (size_t i = 0; i < nfloats; ++i) {
        float v = static_cast<float>(i) + 0.5f;
        char raw[4];
        std::memcpy(raw, &v, 4);
        file.append(raw, 4);
      }
      return Bytes(file.begin(), file.end());
    };
    Tensor t = npy_decode(make("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 6), "hand");
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t[4] == 4.5f);
    // numpy writes the keys in this order, but any order is a valid dict
    Tensor u = npy_decode(make("{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}", 3), "hand");
    CHECK(u.shape() == Shape{3});
    CHECK(has(error_of([&] { npy_decode(make("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 6), "d"); }),
              "'<f8'"));
    CHECK(has(error_of([&] { npy_decode(make("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", 3), "f"); }),
              "Fortran"));
    CHECK(has(error_of([&] { npy_decode(make("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 3), "n"); }),
              "needs 16 data bytes, found 12"));
    CHECK(has(error_of([&] { npy_decode(Bytes{1, 2, 3}, "m"); }), "magic"));
  }

  // ---- models ------------------------------------------------------------------------------
  // ---- readers that cannot misbehave: each fuzzer reproducer asserts the named error ----------
  TEST_CASE(".npy: a shape whose element count overflows 64 bits is refused, not loaded as numel 0") {
    // The fuzzer's find: (2^32, 2^32) multiplied in int64_t wrapped to 0, so this header-only
    // file matched its "0 data bytes" and loaded as a tensor whose shape and storage disagree.
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }";
    h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    ByteWriter w;
    w.bytes("\x93NUMPY\x01\x00", 8);
    w.u16(static_cast<uint16_t>(h.size()));
    w.bytes(h.data(), h.size());
    CHECK_THROWS_WITH_AS(npy_decode(w.data(), "big.npy"), doctest::Contains("npy big.npy: shape [4294967296, 4294967296]"),
                         std::overflow_error);
    CHECK_THROWS_AS(Tensor({int64_t{1} << 32, int64_t{1} << 32}), std::overflow_error);
  }

  TEST_CASE("checkpoint: an overflowing shape or one larger than the file is refused before allocating") {
    auto file = [](const std::vector<int64_t>& dims) {
      ByteWriter w;
      w.bytes("MGFCKPT", 8);  // with its terminating '\0'
      w.u32(1);
      w.u32(1);               // one entry
      w.u8(0);                // a parameter
      w.str_u32("w");
      w.u32(static_cast<uint32_t>(dims.size()));
      for (int64_t d : dims) w.i64(d);
      w.u32(crc32(w.data().data(), w.size()));  // a valid checksum, so the parser is reached
      return w.take();
    };
    CHECK_THROWS_WITH_AS(decode_checkpoint(file({int64_t{1} << 32, int64_t{1} << 32}), "x.mgf"),
                         doctest::Contains("checkpoint x.mgf: tensor w: 4294967296 × 4294967296 overflows"),
                         std::overflow_error);
    // 2^20 × 2^12 floats = 16 GiB declared by a 49-byte file: refused by the bytes left.
    CHECK_THROWS_WITH_AS(decode_checkpoint(file({int64_t{1} << 20, int64_t{1} << 12}), "x.mgf"),
                         doctest::Contains("field 'data of w' at byte offset 42: declares 4294967296 elements"),
                         std::runtime_error);
  }

  // A gzip "bomb" whose first bytes are a valid MNIST image header for 2 images (1 584 bytes
  // in all) and which then inflates to over 1 GiB of zeros: a fixed-Huffman block with the
  // header and one zero, then a dynamic block whose literal/length code holds only 256 (end)
  // and 285 (length 258) and whose distance code holds only distance 1, both one bit long —
  // two bits of stream per 258 bytes of output, so ~1 MB of stream. RFC 1951 §3.2.5-3.2.7.
  Bytes gzip_bomb(uint64_t copies) {
    Bytes plain = idx_images(2, 28, 28);
    plain.resize(17);  // the 16-byte header and the first pixel (0)
    BitWriter w;
    w.bits(0, 1);      // BFINAL = 0
    w.bits(1, 2);      // BTYPE = 01, fixed
    for (uint8_t c : plain) w.fixed_symbol(c);
    w.fixed_symbol(256);
    w.bits(1, 1);      // BFINAL = 1
    w.bits(2, 2);      // BTYPE = 10, dynamic
    w.bits(286 - 257, 5), w.bits(1 - 1, 5), w.bits(18 - 4, 4);  // HLIT, HDIST, HCLEN
    // Code-length code: symbols 0, 1 and 18 each 2 bits long (codes 00, 01, 10), sent in
    // the RFC's order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1.
    for (int s : {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1})
      w.bits(s == 0 || s == 1 || s == 18 ? 2 : 0, 3);
    auto zeros = [&](int n) { w.code(2, 2), w.bits(static_cast<uint32_t>(n - 11), 7); };  // symbol 18
    zeros(138), zeros(118);  // literals 0..255 unused
    w.code(1, 2);            // 256: length 1
    zeros(28);               // 257..284 unused
    w.code(1, 2);            // 285: length 1
    w.code(1, 2);            // distance 0 (distance 1): length 1
    // Canonical codes: 256 → 0, 285 → 1; distance 0 → 0.
    for (uint64_t i = 0; i < copies; ++i) w.code(1, 1), w.code(0, 1);
    w.code(0, 1);            // end of block
    const uint64_t size = 17 + 258 * copies;
    Bytes out;
    if (size < 1 << 20) {  // small enough to build the plain bytes: a fully valid gzip file
      plain.resize(size, 0);
      out = gzip_wrap(w.out, plain);
    } else {               // the trailer is never reached
      out = gzip_wrap(w.out, {});
    }
    return out;
  }

  TEST_CASE("the gzip bomb generator is valid DEFLATE (checked on a small copy count)") {
    Bytes small = gzip_bomb(100);
    Bytes plain = gunzip(small.data(), small.size(), "small");
    CHECK(plain.size() == 17 + 258 * 100);
    CHECK(plain[3] == 3);
    CHECK(std::count(plain.begin() + 16, plain.end(), 0) == static_cast<long>(plain.size() - 16));
  }

  TEST_CASE("an IDX gzip bomb (1 MB inflating to 1 GiB) is refused at its header's size, fast, with bounded memory") {
    TempDir dir;
    const uint64_t copies = ((uint64_t{1} << 30) + 257) / 258;  // ≥ 1 GiB of output
    const std::string path = dir.file("bomb-idx3-ubyte.gz", gzip_bomb(copies));
    REQUIRE(fs::file_size(path) < (2u << 20));
    // In a child, so that its peak resident memory is its own: it starts from the parent's
    // current pages, and we report only the growth while reading the file.
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      struct Report {
        long grew_kb, ms;
        char msg[400];
      } r{};
      rusage u0, u1;
      getrusage(RUSAGE_SELF, &u0);
      const auto t0 = std::chrono::steady_clock::now();
      std::string e = error_of([&] { read_file_bytes(path); });
      r.ms = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
      getrusage(RUSAGE_SELF, &u1);
      r.grew_kb = u1.ru_maxrss - u0.ru_maxrss;
      std::snprintf(r.msg, sizeof r.msg, "%s", e.c_str());
      ssize_t k = write(fds[1], &r, sizeof r);
      _exit(k == static_cast<ssize_t>(sizeof r) ? 0 : 1);
    }
    close(fds[1]);
    struct {
      long grew_kb, ms;
      char msg[400];
    } r{};
    const ssize_t k = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(k == static_cast<ssize_t>(sizeof r));
    const std::string e = r.msg;
    MESSAGE("refused in " << r.ms << " ms, resident growth " << r.grew_kb << " KiB: " << e);
    CHECK(has(e, path));
    CHECK(has(e, "header declares 1584 bytes"));      // 16 + 2 × 28 × 28
    CHECK(has(e, "output would exceed 1584 bytes"));
    CHECK(r.grew_kb < 100 * 1024);
    CHECK(r.ms < 2000);
  }

  TEST_CASE("a gzipped IDX file with a bad header is named by parse_idx, not by the output cap") {
    TempDir dir;
    Bytes zero = idx_images(2, 28, 28);
    zero[11] = 0;  // rows = 0
    const std::string p = dir.file("zero.gz", gzip_wrap(stored_block(zero), zero));
    CHECK_THROWS_WITH_AS(read_idx(p, 3), doctest::Contains("dimension 1 is 0 (at byte offset 8)"), std::runtime_error);
    Bytes labels = idx_labels({1, 2});
    const std::string q = dir.file("labels.gz", gzip_wrap(stored_block(labels), labels));
    CHECK_THROWS_WITH_AS(read_idx(q, 3), doctest::Contains("expected 3 dimension(s)"), std::runtime_error);
    Bytes big = idx_images(2, 28, 28);
    big.push_back(7);  // one byte more than the header declares
    const std::string r = dir.file("big.gz", gzip_wrap(stored_block(big), big));
    CHECK_THROWS_WITH_AS(read_idx(r, 3), doctest::Contains("output would exceed 1584 bytes"), std::runtime_error);
    CHECK(read_idx(dir.file("ok.gz", gzip_wrap(stored_block(labels), labels)), 1).data == Bytes({1, 2}));
  }

  TEST_CASE("MNIST-like data with 10x10 images is refused at load, naming the file and 28x28") {
    TempDir dir;
    dir.file("train-images-idx3-ubyte", idx_images(3, 10, 10));
    dir.file("train-labels-idx1-ubyte", idx_labels({1, 2, 3}));
    dir.file("t10k-images-idx3-ubyte", idx_images(2, 10, 10));
    dir.file("t10k-labels-idx1-ubyte", idx_labels({4, 5}));
    const std::string want = (dir.path / "train-images-idx3-ubyte").string() +
                             ": images are 10x10 (dims at byte offsets 8 and 12), expected 28x28";
    CHECK_THROWS_WITH_AS(load_mnist_like(dir.path.string()), doctest::Contains(want.c_str()), std::runtime_error);
  }

  TEST_CASE("kill -9 at any moment of a checkpoint write leaves the old or the new file, whole") {
    // A writer is forked and SIGKILLed at delays spread from 0 to past its write time; after
    // each kill the file must read back (CRC and all) as the old or the new checkpoint, and
    // the .tmp the killed writer may leave must not stop the next write.
    TempDir dir;
    const std::string path = (dir.path / "m.mgf").string();
    auto entries = [](float v) {
      Tensor t({1 << 20}, v);  // 4 MiB of floats: the write takes a measurable time
      return encode_checkpoint({{CheckpointKind::parameter, "w", t}});
    };
    const Bytes older = entries(1.0f), newer = entries(2.0f);
    auto first_value = [&] {
      std::vector<CheckpointEntry> e = read_checkpoint(path);  // throws if not whole
      REQUIRE(e.size() == 1);
      return e[0].value[e[0].value.numel() - 1];
    };
    write_bytes_atomic(path, older);
    auto t0 = std::chrono::steady_clock::now();
    write_bytes_atomic(path, newer);
    const double write_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    write_bytes_atomic(path, older);
    int old_seen = 0, new_seen = 0;
    const int kills = 24;
    for (int i = 0; i < kills; ++i) {
      const bool to_new = i % 2 == 0;  // alternate, so "new" is a different file each time
      const Bytes& target = to_new ? newer : older;
      const float before = first_value();
      const pid_t pid = fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        try {
          write_bytes_atomic(path, target);
        } catch (...) {
          _exit(1);
        }
        _exit(0);
      }
      // Delays from 0 to 1.5 × the write time, so some kills land before, during and after.
      const auto delay = std::chrono::microseconds(static_cast<int64_t>(write_us * 1.5 * i / (kills - 1)));
      std::this_thread::sleep_for(delay);
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
      const float now = first_value();
      CHECK((now == before || now == (to_new ? 2.0f : 1.0f)));
      (now == before ? old_seen : new_seen) += 1;
    }
    MESSAGE("kills that left the old file: " << old_seen << ", the new one: " << new_seen);
    write_bytes_atomic(path, newer);  // after any stale .tmp
    CHECK(first_value() == 2.0f);
    CHECK_FALSE(fs::exists(path + ".tmp"));
  }

  TEST_CASE("LeNet-5 (Caffe) has 431 080 parameters and LeNet-300-100 has 266 610") {
    auto l5 = make_lenet5();
    CHECK(l5->num_parameters() == 431080);
    CHECK(l5->at<Linear>("fc1").weight.var.value().shape() == Shape{500, 800});
    auto l3 = make_lenet_300_100();
    CHECK(l3->num_parameters() == 266610);  // 266 200 weights + 410 biases (Han 2015 "267K")
    std::vector<std::string> names;
    for (const auto& c : *l3) names.push_back(c.first);
    CHECK(names == std::vector<std::string>{"fc1", "relu1", "fc2", "relu2", "fc3"});
    Tensor x = testing::random_tensor({2, 1, 28, 28}, 1);
    CHECK(l5->forward(Var(x)).shape() == Shape{2, 10});
    CHECK(l3->forward(Var(x)).shape() == Shape{2, 10});
    CHECK(l3->forward(Var(x.reshape({2, 784}))).shape() == Shape{2, 10});
    CHECK_THROWS_AS(make_model("alexnet"), std::invalid_argument);
  }

  TEST_CASE("trained_baseline trains once, saves <model>-<set>-quick-n<images>.mgf, then loads it") {
    set_training_output(false);
    TempDir dir;
    setenv("MGF_CHECKPOINTS", dir.path.string().c_str(), 1);
    DataSplits d;
    d.train = synthetic_dataset(640, 10, 28, 1);
    d.test = synthetic_dataset(100, 10, 28, 2);
    d.name = "synthetic";
    auto a = trained_baseline("lenet300", d, true);
    CHECK(fs::exists(dir.path / "lenet300-synthetic-quick-n640.mgf"));
    CHECK_FALSE(fs::exists(dir.path / "lenet300-synthetic.mgf"));  // never under the full name
    auto b = trained_baseline("lenet300", d, true);
    CHECK(all_values(*a) == all_values(*b));
    // Another slice of the data is another quick model, never the cached one.
    DataSplits half = d;
    half.train = d.train.slice(0, 320);
    auto c = trained_baseline("lenet300", half, true);
    CHECK(fs::exists(dir.path / "lenet300-synthetic-quick-n320.mgf"));
    CHECK(all_values(*c) != all_values(*a));
    CHECK(evaluate(*b, d.test).error_rate() < 0.5);  // it learned something (chance is 0.9)
    unsetenv("MGF_CHECKPOINTS");
    set_training_output(true);
  }

  // ---- summary -----------------------------------------------------------------------------
  TEST_CASE("summary counts LeNet-5's MACs per layer (conv1 = 24*24*20*25) and 4 bytes per parameter") {
    auto m = make_lenet5();
    ModelSummary s = summarize(*m, {1, 1, 28, 28}, 2);
    REQUIRE(s.layers.size() == 8);
    CHECK(s.layers[0].name == "conv1");
    CHECK(s.layers[0].output == Shape{1, 20, 24, 24});
    CHECK(s.layers[0].macs == 288000);      // Han's "576K FLOP" = 2 x 288K MAC
    CHECK(s.layers[2].macs == 1600000);     // 8*8*50 outputs x 20*5*5
    CHECK(s.layers[5].macs == 400000);
    CHECK(s.macs == 2293000);
    CHECK(s.params == 431080);
    CHECK(s.bytes == 4 * 431080);
    CHECK(s.layers[3].params == 0);
    CHECK(s.latency_us > 0.0);
    CHECK(s.table().rows().size() == 9);
    auto mlp = make_lenet_300_100();
    ModelSummary t = summarize(*mlp, {1, 1, 28, 28}, 2);
    CHECK(t.macs == 266200);
    mlp->at<Linear>("fc1").weight.set_mask(Tensor({300, 784}, 0.0f));
    CHECK(summarize(*mlp, {1, 1, 28, 28}, 1).nonzero == 266610 - 235200);
  }

  TEST_CASE("a compressed layer reports its true bytes through the ReportsBytes hook") {
    Sequential net;
    net.add("flatten", std::make_shared<Flatten>());
    net.add("fc", std::make_shared<PretendCompressed>());
    ModelSummary s = summarize(net, {1, 800}, 1);
    CHECK(s.layers[1].bytes == 1234);
    CHECK(s.bytes == 1234);
    CHECK(parameter_bytes(net) == 1234);
  }

  TEST_CASE("same seed and thread count: LeNet-5 with shuffling and jitter trains bit for bit the same") {
    set_training_output(false);
    DataSplits d;
    d.train = synthetic_dataset(96, 10, 28, 4);
    d.test = synthetic_dataset(32, 10, 28, 5);
    BaselineRecipe r = baseline_recipe("lenet5", true);
    r.epochs = 1;
    r.batch = 32;
    auto run = [&](uint64_t seed) {
      manual_seed(seed);  // the layers' initialisers draw from global_rng()
      auto m = make_model("lenet5");
      train_with_recipe(*m, d, r, seed);
      return all_values(*m);
    };
    const std::vector<float> a = run(3), b = run(3), c = run(4);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    CHECK(a != c);
    set_training_output(true);
  }
}
