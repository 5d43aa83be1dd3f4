// fuzz/make_corpus.cpp — writes the seed corpora of the harnesses: one directory per
// harness under the directory given on the command line (`make fuzz` uses build-fuzz/corpus).
//
// The seeds are the files the tests write, made with the project's own writers, so nothing
// binary is committed: IDX files (raw and gzipped), .npy tensors, a checkpoint of a tiny
// model, a .mgfdc of a tiny compressed model, and .xnor files of a tiny BinaryLeNet5. The
// project only has a gzip *decoder*, so the small DEFLATE encoder below writes the two block
// kinds that need no code construction — stored (RFC 1951 §3.2.4) and fixed Huffman (§3.2.6)
// — which is enough for the fuzzer to start inside every branch of the block loop; the
// Makefile adds gzip(1) output (dynamic Huffman blocks) to the inflate corpus when gzip exists.
// Book: book/A1-reliability.md.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "compression/deep_compression.h"
#include "compression/quantization/int8.h"
#include "compression/quantization/vq_file.h"
#include "compression/quantization/xnor.h"
#include "layers/models/binary_resnet.h"
#include "engine/checkpoint.h"
#include "engine/io/bytes.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/npy.h"
#include "engine/rng.h"
#include "fuzz/fuzz_common.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/pool.h"
#include "layers/sequential.h"
#include "layers/shape.h"

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

// ---- a minimal DEFLATE writer ------------------------------------------------------------
// DEFLATE packs bits from the least significant end of each byte (RFC 1951 §3.1.1); Huffman
// codes are sent most significant bit first, everything else least significant bit first.
struct BitWriter {
  Bytes out;
  int used = 8;  // bits used in out.back()
  void bit(unsigned b) {
    if (used == 8) out.push_back(0), used = 0;
    out.back() = static_cast<uint8_t>(out.back() | (b & 1) << used++);
  }
  void bits(uint32_t v, int n) {  // v, least significant bit first
    for (int i = 0; i < n; ++i) bit(v >> i);
  }
  void code(uint32_t c, int len) {  // a Huffman code, most significant bit first
    for (int i = len - 1; i >= 0; --i) bit(c >> i);
  }
  void align() { used = 8; }
};

// Stored blocks of at most 65535 bytes: BFINAL, BTYPE 00, pad to a byte, LEN, NLEN, the bytes.
Bytes deflate_stored(const Bytes& in) {
  BitWriter w;
  size_t pos = 0;
  do {
    const size_t len = std::min<size_t>(in.size() - pos, 65535);
    w.bits(pos + len == in.size() ? 1 : 0, 1);
    w.bits(0, 2);
    w.align();
    for (uint32_t v : {static_cast<uint32_t>(len), static_cast<uint32_t>(~len & 0xFFFF)})
      w.out.push_back(static_cast<uint8_t>(v)), w.out.push_back(static_cast<uint8_t>(v >> 8));
    w.align();
    w.out.insert(w.out.end(), in.begin() + static_cast<std::ptrdiff_t>(pos), in.begin() + static_cast<std::ptrdiff_t>(pos + len));
    pos += len;
  } while (pos < in.size());
  return w.out;
}

// The fixed literal/length code of §3.2.6: 0-143 → 8 bits from 0x30, 144-255 → 9 bits from
// 0x190, 256-279 → 7 bits from 0, 280-287 → 8 bits from 0xC0.
void fixed_symbol(BitWriter& w, unsigned s) {
  if (s < 144) w.code(0x30 + s, 8);
  else if (s < 256) w.code(0x190 + (s - 144), 9);
  else if (s < 280) w.code(s - 256, 7);
  else w.code(0xC0 + (s - 280), 8);
}

// One fixed-Huffman block. Runs of a repeated byte become (length, distance 1) copies using
// the length codes without extra bits (257-264: lengths 3-10; 285: length 258), so the seed
// also exercises LZ77 copies that overlap their own output.
Bytes deflate_fixed(const Bytes& in) {
  BitWriter w;
  w.bits(1, 1);  // BFINAL
  w.bits(1, 2);  // BTYPE 01
  size_t i = 0;
  while (i < in.size()) {
    size_t run = 0;
    while (i > 0 && i + run < in.size() && in[i + run] == in[i - 1] && run < 258) ++run;
    if (run >= 3) {
      const size_t len = run == 258 ? 258 : std::min<size_t>(run, 10);
      fixed_symbol(w, len == 258 ? 285 : static_cast<unsigned>(257 + len - 3));
      w.code(0, 5);  // distance code 0 = distance 1 (fixed 5-bit distance codes)
      i += len;
    } else {
      fixed_symbol(w, in[i++]);
    }
  }
  fixed_symbol(w, 256);  // end of block
  return w.out;
}

void put_le32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// One gzip member (RFC 1952 §2.3) around a DEFLATE stream of `raw`. With `named`, the header
// carries FNAME and FHCRC so those header paths are seeded too.
Bytes gzip_member(const Bytes& raw, const Bytes& deflated, bool named) {
  Bytes g = {0x1f, 0x8b, 8, static_cast<uint8_t>(named ? 0x08 | 0x02 : 0), 0, 0, 0, 0, 0, 255};
  if (named) {
    for (char c : std::string("seed.idx")) g.push_back(static_cast<uint8_t>(c));
    g.push_back(0);
    const uint32_t h = mgf::crc32(g.data(), g.size());
    g.push_back(static_cast<uint8_t>(h)), g.push_back(static_cast<uint8_t>(h >> 8));
  }
  g.insert(g.end(), deflated.begin(), deflated.end());
  put_le32(g, mgf::crc32(raw.data(), raw.size()));
  put_le32(g, static_cast<uint32_t>(raw.size()));
  return g;
}

// ---- IDX ---------------------------------------------------------------------------------
Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// N images of side×side: a bright square on a dark background (runs for the copies), and N labels.
std::pair<Bytes, Bytes> idx_pair(uint32_t n, uint32_t side) {
  Bytes px, lab;
  for (uint32_t k = 0; k < n; ++k) {
    for (uint32_t y = 0; y < side; ++y)
      for (uint32_t x = 0; x < side; ++x)
        px.push_back(y >= side / 4 && y < 3 * side / 4 && x >= side / 4 && x < 3 * side / 4 ? 255 : static_cast<uint8_t>(k));
    lab.push_back(static_cast<uint8_t>(k % 10));
  }
  return {idx_file({n, side, side}, px), idx_file({n}, lab)};
}

// fuzz_idx's input: u16 LE length of the images file, the images file, the labels file.
Bytes idx_input(const Bytes& images, const Bytes& labels) {
  Bytes b = {static_cast<uint8_t>(images.size()), static_cast<uint8_t>(images.size() >> 8)};
  b.insert(b.end(), images.begin(), images.end());
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

void write(const fs::path& dir, const std::string& name, const Bytes& b) {
  fs::create_directories(dir);
  mgf::write_bytes_atomic((dir / name).string(), b);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus DIR   (writes DIR/{idx,inflate,npy,checkpoint,mgfdc,xnor,int8,vq}/)\n";
    return 2;
  }
  try {
    const fs::path root = argv[1];
    int64_t files = 0;
    auto put = [&](const std::string& harness, const std::string& name, const Bytes& b) {
      write(root / harness, name, b);
      ++files;
    };

    // IDX, raw and through both gzip block kinds; the raw files also go to idx-raw/ for the
    // Makefile's gzip(1) seeds.
    const auto [img, lab] = idx_pair(3, 5);
    const auto [img28, lab28] = idx_pair(2, 28);
    put("idx", "raw-3x5x5", idx_input(img, lab));
    put("idx", "stored-3x5x5", idx_input(gzip_member(img, deflate_stored(img), false), gzip_member(lab, deflate_stored(lab), true)));
    put("idx", "fixed-3x5x5", idx_input(gzip_member(img, deflate_fixed(img), true), gzip_member(lab, deflate_fixed(lab), false)));
    put("idx", "fixed-2x28x28", idx_input(gzip_member(img28, deflate_fixed(img28), false), lab28));
    put("idx-raw", "images-2x28x28.idx", img28);
    put("idx-raw", "labels-2.idx", lab28);

    // inflate: raw DEFLATE streams and gzip files, including two members back to back.
    put("inflate", "stored.deflate", deflate_stored(img));
    put("inflate", "fixed.deflate", deflate_fixed(img28));
    put("inflate", "empty-stored.gz", gzip_member({}, deflate_stored({}), false));
    put("inflate", "stored-named.gz", gzip_member(img, deflate_stored(img), true));
    put("inflate", "fixed.gz", gzip_member(img28, deflate_fixed(img28), false));
    Bytes two = gzip_member(lab, deflate_fixed(lab), false);
    const Bytes second = gzip_member(img, deflate_stored(img), true);
    two.insert(two.end(), second.begin(), second.end());
    put("inflate", "two-members.gz", two);

    // .npy: a matrix, a vector, a scalar, a 4-D tensor.
    put("npy", "matrix.npy", mgf::npy_encode(mgf::Tensor({2, 3}, mgf::uniform_floats(6, 1))));
    put("npy", "vector.npy", mgf::npy_encode(mgf::Tensor({5}, mgf::uniform_floats(5, 2))));
    put("npy", "scalar.npy", mgf::npy_encode(mgf::Tensor::scalar(1.5f)));
    put("npy", "4d.npy", mgf::npy_encode(mgf::Tensor({1, 2, 2, 2}, mgf::uniform_floats(8, 3))));

    // Checkpoint of the harness's model, with and without a pruning mask on fc1.
    mgf::manual_seed(1);
    auto net = mgf_fuzz::checkpoint_net();
    put("checkpoint", "plain.ckpt", mgf::encode_checkpoint(mgf::checkpoint_entries(*net)));
    mgf::Parameter* w1 = net->named_parameters()[0].param;
    mgf::Tensor mask(w1->var.value().shape(), 1.0f);
    mask[0] = mask[5] = 0.0f;
    w1->set_mask(mask);
    put("checkpoint", "masked.ckpt", mgf::encode_checkpoint(mgf::checkpoint_entries(*net)));

    // .mgfdc of the harness's model: pruned, weights shared (4-bit conv, 3-bit FC), coded with
    // Huffman and with fixed-width codes, and with narrow gaps so filler entries appear; in
    // file version 1 and version 2 (varints, shared name prefixes; also with binary16 floats).
    {
      mgf::manual_seed(2);
      auto dc = mgf_fuzz::mgfdc_net();
      mgf::TrainedQuantization q;
      mgf::Rng rng(3);
      uint64_t seed = 10;
      for (auto& np : dc->named_parameters())
        if (np.param->var.value().ndim() >= 2) {
          mgf::Tensor m(np.param->var.value().shape());
          mgf::Rng r(++seed);
          for (int64_t i = 0; i < m.numel(); ++i) m[i] = r.uniform() < 0.3f ? 1.0f : 0.0f;
          np.param->set_mask(m);
          q.add(np.name, *np.param, np.param->var.value().ndim() == 4 ? 4 : 3, mgf::KmeansInit::linear, rng);
        }
      const mgf::CompressedModel cm = mgf::make_compressed_model(*dc, q, "tiny");
      auto str_bytes = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
      put("mgfdc", "huffman.mgfdc", str_bytes(mgf::serialize_compressed(cm, true)));
      put("mgfdc", "fixed-width.mgfdc", str_bytes(mgf::serialize_compressed(cm, false)));
      const mgf::CompressedModel narrow = mgf::make_compressed_model(*dc, q, "tiny", mgf::CodingOptions{2, 2, true});
      put("mgfdc", "narrow-gaps.mgfdc", str_bytes(mgf::serialize_compressed(narrow, true)));
      mgf::CodingOptions v2;
      v2.version = 2;
      put("mgfdc", "v2-huffman.mgfdc", str_bytes(mgf::serialize_compressed(mgf::make_compressed_model(*dc, q, "tiny", v2), true)));
      put("mgfdc", "v2-fixed-width.mgfdc", str_bytes(mgf::serialize_compressed(mgf::make_compressed_model(*dc, q, "tiny", v2), false)));
      v2.conv_gap_bits = v2.fc_gap_bits = 2;
      put("mgfdc", "v2-narrow-gaps.mgfdc", str_bytes(mgf::serialize_compressed(mgf::make_compressed_model(*dc, q, "tiny", v2), true)));
      mgf::CodingOptions half;
      half.version = 2;
      half.half_floats = true;
      mgf::round_to_half_floats(*dc, q);   // last: it changes the model the seeds above were made from
      put("mgfdc", "v2-f16.mgfdc", str_bytes(mgf::serialize_compressed(mgf::make_compressed_model(*dc, q, "tiny", half), true)));
    }

    // .mgfq8 of a tiny quantised net: a conv, a max-pool, two FC layers (int8 chapter).
    {
      mgf::manual_seed(4);
      auto q = std::make_shared<mgf::Sequential>();
      q->add("conv1", std::make_shared<mgf::Conv2d>(1, 2, 3));
      q->add("pool1", std::make_shared<mgf::MaxPool2d>(2, 2));
      q->add("flatten", std::make_shared<mgf::Flatten>());
      q->add("fc1", std::make_shared<mgf::Linear>(2 * 2 * 2, 5));
      q->add("relu", std::make_shared<mgf::ReLU>());
      q->add("fc2", std::make_shared<mgf::Linear>(5, 3));
      const mgf::Tensor calib(mgf::Shape{4, 1, 6, 6}, mgf::uniform_floats(144, 4));
      const std::string b = mgf::serialize_int8(mgf::quantize_model(*q, "tiny", calib));
      put("int8", "tiny.mgfq8", Bytes(b.begin(), b.end()));
    }

    // .mgfvq of the harness's model: fc1 by each of the four quantizers (vq.h), fc2 raw.
    {
      mgf::manual_seed(7);
      auto net = mgf_fuzz::vq_net();
      const float* w = net->named_parameters()[0].param->var.value().data();
      mgf::Rng rng(8);
      const std::vector<std::pair<std::string, mgf::VqMatrix>> seeds = {
          {"binary.mgfvq", mgf::vq_binarize(w, 9, 12)},
          {"scalar.mgfvq", mgf::vq_scalar(w, 9, 12, 3, rng)},
          {"pq.mgfvq", mgf::vq_product(w, 9, 12, 2, 5, rng)},
          {"rq.mgfvq", mgf::vq_residual(w, 9, 12, 2, 4, 2, rng)}};
      for (const auto& [name, q] : seeds) {
        const std::string b = mgf::serialize_vq(mgf::make_vq_model(*net, {{"fc1.weight", q}}, "tiny"));
        put("vq", name, Bytes(b.begin(), b.end()));
      }
    }

    // .xnor of a tiny BinaryLeNet5: XNOR-Net B-A-C-P (real inputs to the binary layers), C-B-A-P
    // (bits between them: thresholds with flips, OR-pools) and XNOR-Net++ (Γ case 1).
    struct XnorSeed {
      mgf::BinaryMode mode;
      mgf::BlockOrder order;
      const char* name;
    };
    for (const XnorSeed s : {XnorSeed{mgf::BinaryMode::xnor, mgf::BlockOrder::bacp, "xnor.xnor"},
                             XnorSeed{mgf::BinaryMode::xnor, mgf::BlockOrder::cbap, "xnor-cbap.xnor"},
                             XnorSeed{mgf::BinaryMode::xnorpp, mgf::BlockOrder::bacp, "xnorpp.xnor"}}) {
      mgf::manual_seed(4);
      mgf::BinaryNetConfig c = mgf_fuzz::xnor_config(s.mode);
      c.order = s.order;
      mgf::BinaryLeNet5 m(c);
      // batch-norm scales of both signs, so the C-B-A-P seed has flipped thresholds too
      mgf::Rng r(5);
      for (auto& np : m.named_parameters())
        if (np.name.rfind("bn", 0) == 0 && np.name.find(".weight") != std::string::npos)
          for (int64_t i = 0; i < np.param->var.value().numel(); ++i) np.param->var.value()[i] = r.uniform(-1.0f, 1.0f);
      m.eval();
      fs::create_directories(root / "xnor");
      mgf::export_packed(m, (root / "xnor" / s.name).string());
      ++files;
    }
    // .xnor version 4 of a tiny binary ResNet (chapter 24): binary_res_block records with α·K (case 0)
    // and a materialised Γ (case 4), between a real stem and classifier.
    for (const int gc : {0, 4}) {
      mgf::manual_seed(6);
      mgf::BinaryResNetConfig c;
      c.gamma_case = gc;
      c.width = 2;
      c.blocks_per_stage = 1;
      mgf::BinaryResNet m(c);
      m.eval();
      fs::create_directories(root / "xnor");
      mgf::export_packed(m, {1, 28, 28}, (root / "xnor" / (gc ? "resnet-gamma.xnor" : "resnet-alphak.xnor")).string());
      ++files;
    }
    std::cout << "make_corpus: " << files << " seed files under " << root.string() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "make_corpus: error: " << e.what() << "\n";
    return 1;
  }
}
