// compression/quantization/vq_file.h — the vector-quantized model file (".mgfvq") and the model
// that runs from it (Gong et al. 2014; book/22-vq.md).
//
// The file stores every parameter of a model: the quantized fully connected weights as codes +
// codebooks (vq.h), everything else (biases, conv layers, the layers left dense) as raw floats.
// The compression rate the chapter reports is measured on these bytes. Layout (little-endian,
// written with ByteWriter, read with ByteReader: engine/io/bytes.h):
//
//   header   magic "MGFVQ\r\n\x1a" (8) | u32 version | u64 payload bytes | u32 CRC-32 of payload
//   payload  str arch | u32 tensor count | tensors...
//   tensor   str name | u8 ndim | u32 dims[ndim] | u8 kind
//     kind 0 (raw)  f32 × numel
//     kind 1 (vq)   2-D only: u8 method (0 binary, 1 scalar, 2 pq, 3 rq) | u8 bits b | u8 shared |
//                   u32 segment width d | u8 stages t | t × (f32 × codebook floats | codes)
//     codes         s·m codes of b bits each, packed most significant bit first, segment-major
//                   ([s][m], vq.h), zero-padded to a whole byte: ⌈s·m·b/8⌉ bytes — the
//                   fixed-width canonical code of compression/coding/huffman.h
//   str      u8 length | bytes
// The reader refuses, naming file, field and byte offset: a wrong magic, version, length or
// checksum, a field out of range (bits 1..8, d in 1..n, t in 1..16, shared only with d = 1, a
// method that does not fit its fields), a non-finite codebook entry, non-zero padding bits,
// trailing bytes. Book: book/22-vq.md. Deliberately not here: entropy coding of the codes (the
// paper counts fixed-width codes; Deep Compression's Huffman stage is chapter 15).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compression/quantization/vq.h"
#include "engine/tensor.h"
#include "layers/module.h"

namespace mgf {

struct VqTensor {
  std::string name;             // dotted parameter name, "fc1.weight"
  Shape shape;
  bool quantized = false;
  std::vector<float> values;    // raw tensors
  VqMatrix q;                   // quantized 2-D weights
  Tensor decode() const;        // the float tensor it stands for
};

struct VqModel {
  std::string arch;
  std::vector<VqTensor> tensors;
  const VqTensor* find(const std::string& name) const;
};

// Bytes per tensor in the file (its name, shape and kind included), for the compression rate.
struct VqTensorBytes {
  std::string name;
  bool quantized = false;
  int64_t bytes = 0, codebook_bytes = 0, code_bytes = 0;
};
struct VqFileLayout {
  int64_t file_bytes = 0, header_bytes = 0;
  std::vector<VqTensorBytes> tensors;
};

// Every parameter of `m`; those named in `quantized` (name → matrix of the same shape) stored
// as codes, the rest raw. Throws std::invalid_argument on a name that is not a 2-D parameter
// or a shape mismatch.
VqModel make_vq_model(Module& m, const std::vector<std::pair<std::string, VqMatrix>>& quantized, const std::string& arch);

std::string serialize_vq(const VqModel& vm, VqFileLayout* layout = nullptr);
VqModel parse_vq(const std::string& bytes, const std::string& what, VqFileLayout* layout = nullptr);
int64_t save_vq(const std::string& path, const VqModel& vm, VqFileLayout* layout = nullptr);   // atomic
VqModel load_vq(const std::string& path, VqFileLayout* layout = nullptr);

// The deployed model: `skeleton` is a flat model (LeNet-300-100, LeNet-5); a Linear child whose
// weight is quantized in the file becomes a VqLinear (lookup-table kernel, no float weight
// matrix); every other child keeps its module with its parameters read from the file. Every
// parameter must be in the file with its shape, and every tensor of the file must be used, or
// construction throws std::invalid_argument.
class VqRunner : public Module {
 public:
  VqRunner(const VqModel& vm, std::shared_ptr<Module> skeleton);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "VqRunner"; }
  int64_t vq_layers() const { return n_vq_; }

 private:
  std::vector<std::shared_ptr<Module>> stages_;
  int64_t n_vq_ = 0;
};

}  // namespace mgf
