// compression/quantization/packed_binary.h — a binary network as deployed: our .xnor file, which
// lists the network's layers, and PackedBinaryNet, which walks that list on the popcount GEMM
// (binary_gemm.h) and, between two binary layers, on bits (bit_activations.h). Its test is
// simulation = deployment: the packed model predicts what the float simulation
// (layers/models/binary_lenet5.h) predicts. Book: book/23-xnor.md, book/24-xnorpp.md.
// Not here: BWN models (real inputs: export refuses them), padding or strides on bit inputs,
// residual blocks with a downsampling shortcut,
// Γ on a bit input (XNOR-Net++ runs in the B-A-C-P order, whose binary layers see real inputs).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compression/quantization/bit_activations.h"
#include "engine/data.h"
#include "engine/kernels/conv.h"
#include "layers/models/binary_lenet5.h"

namespace mgf {

// export_packed writes a binary network as our .xnor file, version 4. Every field little-endian
// (engine/io/bytes.h), floats IEEE-754 binary32, written atomically (write_file_atomic):
//   header  magic "MGFXNOR1" (8) | u32 version = 4 | u32 layer count | u64 payload bytes
//           | u32 CRC-32 of the payload (engine/io/crc32.h)
//   payload u32 C, H, W of one input image, then one record per layer:
//           u32 kind | u32 name length, name | the kind's fields below
// Sizes not in a record come from the shape reaching the layer ([C, H, W] or [F]), which the
// reader tracks from the input: C_in, F, P = OH·OW. Packed sign rows are bitpack.h's (bit k of
// word k/64 set for +1, padding bits 0), ⌈K/64⌉ u64 per row.
//   0 conv          u32 O, KH, KW, stride, pad | f32 weight[O·C·KH·KW], bias[O]     (real)
//   1 batch_norm    f32 eps | f32 gamma[C], beta[C], mean[C], var[C]               (eval mode)
//   2 relu
//   3 max_pool      u32 k                 (stride k, no padding; on bits it is or_pool, kind 9)
//   4 flatten       — on floats [C,H,W] → [C·H·W]; on bits the pixels in (h, w, c) order
//   5 binary_conv   u32 O, k, scale | u64 bits[O rows of C·k·k, order (c, kh, kw)] | f32 s
//   6 binary_linear u32 O, scale | u64 bits[O rows of F] | f32 s          (real input: sign + pack)
//       scale 0: y = α_o·β·z (s = α [O], β = K of the real input, Eq. 11); 1: y = α_o·z;
//       2: y = Γ·z (XNOR-Net++, s = Γ materialised [O·P] for a conv, [O] for a linear layer)
//   7 linear        u32 O | f32 weight[O·F], bias[O]                                (real)
//   8 sign          f32 tau[C] | u64 down[⌈C/64⌉] — real → HWC bits (bit_activations.h), +1 ↦ 1:
//                   bit = x ≥ tau_c (x ≤ tau_c where down); a batch norm before it is folded in
//   9 or_pool       u32 k                 (max-pool of ±1 = OR; stride k, no padding)
//  10 bit_conv      u32 O, k, out | u64 bits[O rows of k·k·C, order (kh, kw, c)] | out 0: f32 s[O]
//                   (y = s_o·z, real) ; out 1: i32 t[O], u64 flip[⌈O/64⌉] (bits = (z > t) ⊕ flip)
//  11 bit_linear    u32 O, out | u64 bits[O rows of F] | as bit_conv
//  12 binary_res_block  (version 4) u32 O, k, pad, scale | f32 eps | f32 gamma[C], beta[C], mean[C],
//                  var[C] | u64 bits[O rows of C·k·k, order (c, kh, kw)] | f32 s — the residual block
//                  of layers/models/binary_resnet.h: y = x + s ⊙ (sign(BN(x)) ⊛ sign(W)), stride 1,
//                  O = C and pad = (k − 1)/2 (the identity shortcut; the padding counts as +1, as in
//                  the simulation); scale and s as binary_conv (0 α·K with K from BN(x), 1 α, 2 Γ)
// Every count is checked against the bytes left before anything is allocated from it, every
// layer against the shape reaching it, and no image or activation may exceed 2^26 values, so
// no file makes forward() read out of bounds or allocate without limit.
// Version 3 (the same records without kind 12) is still read; version 2 (a fixed LeNet-5 layout
// of named tensors) and version 1 are refused with a message saying to re-export.
//
// The model's layers are walked in order and mapped to records: Conv2d, BatchNorm, ReLU,
// MaxPool2d, Flatten, Linear as themselves, a BinaryResBlock as one binary_res_block; SignSTE starts the bit domain (a BatchNorm before
// it is folded into its float thresholds, fold_bn_sign_real); a binary layer on bits followed
// by BatchNorm + SignSTE becomes one record with integer thresholds folded at export
// (fold_bn_sign). So XNOR B-A-C-P and XNOR-Net++ (binary layers on real inputs) keep floats
// between layers, and XNOR C-B-A-P runs conv2 → fc1 in bits end to end.
// Returns the file size in bytes. Throws std::invalid_argument for a model it cannot pack.
int64_t export_packed(BinaryLeNet5& model, const std::string& path);
// The same for any Sequential of those layers on input images of shape `input` ([C, H, W]).
int64_t export_packed(const Sequential& model, const std::vector<int64_t>& input, const std::string& path);

class PackedBinaryNet {
 public:
  // Reads and checks the file; a wrong magic, version, size or checksum, or a truncated record,
  // is a std::runtime_error naming the file and what was expected vs found.
  explicit PackedBinaryNet(const std::string& path);
  // The same from the bytes of a file already in memory (`name` is used in messages).
  static PackedBinaryNet from_bytes(const std::vector<uint8_t>& bytes, const std::string& name);
  // Logits [N, classes] for images [N, C, H, W] of the file's input shape. With layer_us, the
  // time of each layer (µs) is added to (*layer_us)[i], sized to layers().size(): wall clock,
  // or with cpu_time this thread's CPU time (what a loaded machine's waits do not inflate).
  Tensor forward(const Tensor& x, std::vector<double>* layer_us = nullptr, bool cpu_time = false) const;
  int64_t file_bytes() const { return file_bytes_; }
  int64_t binary_weight_bytes() const;  // packed bits of the binary layers
  // Work of one image: multiply-adds of the real layers + 64-bit xor-popcount words of the
  // binary ones + one per output value of the rest (what a caller can bound before forward()).
  int64_t ops_per_image() const;
  bool xnorpp() const { return xnorpp_; }
  const std::vector<int64_t>& input_shape() const { return input_; }

  enum class Kind : uint32_t {
    conv = 0, batch_norm, relu, max_pool, flatten, binary_conv, binary_linear, linear, sign, or_pool, bit_conv, bit_linear,
    binary_res_block
  };
  static const char* kind_name(Kind k);
  // One layer of the packed network, as read from its record.
  struct Layer {
    Kind kind;
    std::string name;             // the model's child name ("conv1", "bn2", "conv2+bn2+sign2")
    bool in_bits = false, out_bits = false;
    std::vector<int64_t> in, out_shape;  // one image: [C, H, W] or [F]
    ConvGeom g{};                 // conv, binary_conv, bit_conv: on one image
    int64_t out = 0;              // output channels / features; pools: the window k
    uint32_t mode = 0;            // binary_conv/_linear: scale kind; bit_conv/_linear: out (0 real, 1 bits)
    int64_t K = 0;                // binary layers: bits per packed row
    float eps = 0;
    Tensor weight, bias;          // conv, linear
    std::vector<float> gamma, beta, mean, var, scale;
    std::vector<float> istd;      // batch norm: 1/√(var + eps), computed at load
    std::vector<uint64_t> bits;   // O packed rows of K bits
    SignThresholds th;            // bit layers with out = 1
    RealThresholds rth;           // sign
  };
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  PackedBinaryNet() = default;
  std::vector<Layer> layers_;
  std::vector<int64_t> input_;
  int64_t file_bytes_ = 0;
  bool xnorpp_ = false;
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
