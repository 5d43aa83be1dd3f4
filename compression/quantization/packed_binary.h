// compression/quantization/packed_binary.h — the binary LeNet-5 as deployed: our .xnor file,
// and PackedBinaryNet, which runs it on the popcount GEMM (binary_gemm.h). Its test is
// simulation = deployment: the packed model predicts what the float simulation
// (layers/models/binary_lenet5.h) predicts. Book: book/23-xnor.md, book/24-xnorpp.md.
// Not here: other networks (the file's layer list is the B-A-C-P LeNet-5's; a new network
// needs a record of its layers and a version 3), C-B-A-P or BWN models (export refuses them),
// and activations kept in bits between binary layers (see Layer below).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/data.h"
#include "engine/kernels/conv.h"
#include "layers/models/binary_lenet5.h"

namespace mgf {

// export_packed writes an XNOR-Net or XNOR-Net++ BinaryLeNet5 (B-A-C-P) as our .xnor file.
// Layout, version 2 — every field little-endian (engine/io/bytes.h), floats IEEE-754 binary32:
//   magic "MGFXNOR1" (8) | u32 version = 2 | u32 record count | u64 payload bytes
//   | u32 CRC-32 of the payload (engine/io/crc32.h) | payload
//   payload = records { u32 name length, name, u32 kind (0 fp32 tensor, 1 packed signs),
//                       u32 ndim, i64 dims[ndim], data }
//   data: kind 0: numel × f32; kind 1 ([rows, K]): rows × ceil(K/64) × u64, the packed sign rows
//         of bitpack.h (bit k of word k/64 set for sign +1)
// Records, in this order: meta [4] = {XNOR-Net++?, β used?, α used?, Γ case};
//   conv1.weight, conv1.bias; bn1..bn4 .gamma .beta .mean .var; conv2.bits, conv2.scale;
//   fc1.bits, fc1.scale; fc2.weight, fc2.bias. A .scale is α per filter [O, 1] (XNOR-Net) or
//   Γ materialised per output [O, OH·OW] (XNOR-Net++).
// Binary layers are packed sign rows + their scales; the real layers and batch-norm statistics
// are fp32. Version 1 (native byte order, FNV-1a checksum) is refused with a message saying to
// re-export. Written atomically (write_file_atomic, engine/io/file.h).
// Returns the file size in bytes. Throws std::invalid_argument for a model it cannot pack.
int64_t export_packed(BinaryLeNet5& model, const std::string& path);

class PackedBinaryNet {
 public:
  // Reads and checks the file; a wrong magic, version, size or checksum, or a truncated record,
  // is a std::runtime_error naming the file and what was expected vs found.
  explicit PackedBinaryNet(const std::string& path);
  // The same from the bytes of a file already in memory (`name` is used in messages): every
  // field is checked against the bytes left before anything is allocated from it, and every
  // record forward() reads against the shape it assumes, so no input makes forward() misbehave.
  static PackedBinaryNet from_bytes(const std::vector<uint8_t>& bytes, const std::string& name);
  // Logits [N, 10] for images [N, 1, 28, 28], binary layers on bgemm (xnor + popcount).
  Tensor forward(const Tensor& x) const;
  int64_t file_bytes() const { return file_bytes_; }
  int64_t binary_weight_bytes() const;  // packed bits of the binary layers
  bool xnorpp() const { return xnorpp_; }

  // One layer of the packed network. The file holds the records of the B-A-C-P LeNet-5 (its
  // layer kinds and order are the format's, below export_packed); from_bytes walks that list
  // from the input shape and gives every layer its geometry from the shapes of its records,
  // checking each record against the shape reaching it. forward() walks the same list.
  // Activations are float between layers; a pass that keeps them in bits between two binary
  // layers (batch norm + sign as a threshold on the popcount, max-pool as OR) rewrites this list.
  enum class Kind { conv, batch_norm, relu, max_pool, flatten, binary_conv, binary_linear, linear };
  struct Layer {
    Kind kind;
    std::string name;          // the records' prefix ("conv1", "bn2"); empty when parameter-free
    ConvGeom g{};              // conv, binary_conv: one image; binary_linear: g.C = in features
    int64_t out = 0;           // output channels / features; max_pool: the window (= stride)
    std::vector<size_t> recs;  // records read, by index: conv / linear {weight, bias}, batch norm
                               // {gamma, beta, mean, var}, binary {bits, scale}
  };
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  struct Rec {
    std::vector<int64_t> dims;
    std::vector<float> f;      // kind 0
    std::vector<uint64_t> b;   // kind 1: rows = dims[0], K = dims[1]
  };
  PackedBinaryNet() = default;
  const Rec& rec(size_t i) const { return recs_[i].second; }
  Tensor tensor(size_t i) const;  // an fp32 record as a constant Tensor
  Tensor binary_conv(const Layer& l, const Tensor& x) const;
  Tensor binary_linear(const Layer& l, const Tensor& x) const;
  std::vector<std::pair<std::string, Rec>> recs_;
  std::vector<Layer> layers_;
  int64_t file_bytes_ = 0;
  bool xnorpp_ = false, use_beta_ = true;
};

// The packed model on a dataset: top-1 errors, plus how many predictions differ from `reference`
// logits when given (the simulation = deployment count).
struct PackedEval {
  int64_t errors = 0, count = 0, disagreements = 0;
  double seconds = 0;
};
PackedEval evaluate_packed(const PackedBinaryNet& net, const Dataset& data, const Tensor* reference = nullptr,
                           int64_t batch = 1000);

}  // namespace mgf
