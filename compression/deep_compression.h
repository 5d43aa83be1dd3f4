// compression/deep_compression.h — Deep Compression (Han, Mao, Dally, ICLR 2016): the three
// stages joined, a real compressed model file, and a model that runs from it.
//
//   1. prune (Han 2015, compression/pruning/magnitude.h) and retrain with the masks;
//   2. trained quantization (§3, compression/quantization/weight_sharing.h): per-layer codebook,
//      one uint8 index per weight, centroids fine-tuned by grouped gradients;
//   3. Huffman coding (§4, compression/coding/huffman.h) of the weight indices and of the
//      relative-index gaps (§2, compression/coding/relative_index.h).
//
// The file ("MGFDC") stores every layer in exactly that representation; the compression
// ratio we report is its size on disk against the float checkpoint's. Versions 1 and 2 are
// read; version 1 is written by default (the byte counts chapters 03, 15 and 25 publish stay
// reproducible), version 2 on request (CodingOptions::version; book/04's Fire-net). Layout (little-endian; every field is length-checked by the reader):
//
//   header   magic "MGFDC\r\n\x1a" (8) | u32 version | u64 payload bytes | u32 CRC-32 of payload
//            (engine/io/frame.h)
//   version 1
//   payload  str arch | u32 tensor count | tensors...
//   tensor   str name | u8 ndim | u32 dims[ndim] | u8 kind
//     kind 0 (raw)   f32 × numel                                     (biases)
//     kind 1 (coded) u8 weight bits b_w | u8 gap bits b_i | f32 × (2^b_w − 1) codebook (C_0 = 0
//                    implied) | u32 entries | code stream | gap stream
//   stream   u16 symbols n | n code lengths, 4 bits each | u32 bits | ⌈bits/8⌉ bytes
//   str      u8 length | bytes
//   version 2: the same content with a lean per-tensor record. Version 1 spends ~45 bytes of
//   name, shape and counts on every tensor: nothing at LeNet's 6 tensors, but 19 % of the
//   5.4 KB file of the 28-tensor Fire-net of book/04. Changes:
//   payload  str arch | varint tensor count | tensors...
//   tensor   varint p | str suffix (name = first p bytes of the previous name + suffix) |
//            u8 ndim | varint dims[ndim] | u8 kind
//     kind 0 / 2 (raw)   f32 / f16 × numel
//     kind 1 / 3 (coded) u8 b_w << 4 | b_i | (2^b_w − 1) codebook entries as f32 / f16 |
//                        varint entries | code stream | gap stream
//   stream   varint n | n code lengths, 4 bits each | varint bits | ⌈bits/8⌉ bytes
//   varint   LEB128: 7 bits per byte, low first, high bit = more (at most 5 bytes here)
//   f16 (IEEE-754 binary16) is lossy, so it is written only for tensors marked `half` whose
//   values are already exactly binary16 (CodingOptions::half_floats and round_to_half_floats()
//   make the in-memory model hold exactly what the file will hold).
// The reader refuses a tensor of more than kMaxTensorElements elements before anything is
// allocated for it: a coded tensor's shape is not bounded by its bytes (trailing zeros need
// no entries), and decode() and the runner build arrays of that size.
//
// With `huffman = false` the same streams are written with fixed-width codes (every length =
// b), i.e. the paper's P+Q column, also measured as bytes on disk.
// The loaded model (CompressedRunner) turns every coded layer's gap stream + codebook indices
// into a sparse sliced-ELL matrix at load (compression/coding/sliced_ell.h) — no dense float
// weight matrix exists: fully connected layers run sell_matvec() at batch 1 (sell_spmm() on
// the transposed batch otherwise), convolutions im2col followed by sell_spmm().
// Book: book/15-deep_compression.md. Deliberately not here: the paper's CSC row pointers (one
// stream per layer), AlexNet/VGG, hardware (EIE) cost models.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compression/coding/relative_index.h"
#include "compression/coding/sliced_ell.h"
#include "compression/quantization/weight_sharing.h"
#include "engine/data.h"
#include "engine/ops.h"
#include "layers/module.h"

namespace mgf {

// One named tensor of the file, in its stored representation.
struct CompressedTensor {
  std::string name;             // dotted parameter name, e.g. "fc1.weight"
  Shape shape;
  bool coded = false;           // false: raw floats in `values`
  bool half = false;            // stored as binary16 (raw values, or the codebook); version 2 only
  std::vector<float> values;    // raw tensors (biases)
  int weight_bits = 0;          // b_w: codes 0 .. 2^b_w − 1
  std::vector<float> codebook;  // 2^b_w entries, codebook[0] = 0
  RelativeIndex stream;         // gaps (b_i bits) + codes, over the row-major flattened weight

  Tensor decode() const;        // the float tensor this entry stands for
};

struct CompressedModel {
  std::string arch;             // free text, e.g. "lenet300"; stored, not interpreted
  uint32_t version = 1;         // the layout serialize_compressed() writes (1 or 2); parse sets it
  std::vector<CompressedTensor> tensors;
  const CompressedTensor* find(const std::string& name) const;
};

// Where the bytes go (inspect mode, and the per-layer bits table).
struct TensorLayout {
  std::string name;
  Shape shape;
  bool coded = false;
  int weight_bits = 0, gap_bits = 0;
  int64_t numel = 0, nonzeros = 0, entries = 0, fillers = 0;
  int64_t header_bytes = 0;     // name, shape, kind, bit widths, entry count
  int64_t raw_bytes = 0;        // f32 payload of a raw tensor
  int64_t codebook_bytes = 0;
  int64_t code_table_bytes = 0, code_bytes = 0;   // Huffman lengths table; the weight-index bits
  int64_t gap_table_bytes = 0, gap_bytes = 0;     // same for the relative-index gaps
  uint64_t code_bits = 0, gap_stream_bits = 0;
  int64_t total_bytes() const {
    return header_bytes + raw_bytes + codebook_bytes + code_table_bytes + code_bytes + gap_table_bytes + gap_bytes;
  }
};
struct FileLayout {
  int64_t file_bytes = 0;
  int64_t header_bytes = 0;     // magic, version, length, checksum, arch, count
  std::vector<TensorLayout> tensors;
};

// ---- building the compressed model ------------------------------------------------------
struct CodingOptions {
  int conv_gap_bits = 8;        // b_i for 4-D weights (paper: 8 for conv)
  int fc_gap_bits = 5;          // b_i for 2-D weights (paper: 5 for FC)
  bool huffman = true;          // false: fixed-width codes (the P+Q column)
  // Raw tensors and codebooks as binary16 (version 2). Lossy: the model's values must already
  // be binary16 (round_to_half_floats()); compress_and_measure() rounds the model first.
  bool half_floats = false;
  uint32_t version = 1;         // file layout to write: 1 (the original) or 2 (the lean record)
};

// The largest tensor the reader accepts (elements): 2^26, a 256 MB dense float copy.
constexpr int64_t kMaxTensorElements = int64_t{1} << 26;

// IEEE-754 binary16 round trip, round to nearest even (what a half-float file stores).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
inline float round_to_half(float f) { return half_to_float(float_to_half(f)); }
// Rounds every codebook of `q` (then W ← C[I]) and every parameter of `m` that `q` does not
// hold (biases) to binary16, so the model holds exactly what a half_floats file stores.
void round_to_half_floats(Module& m, TrainedQuantization& q);
// Every parameter of `m` in file form: the layers held by `q` are coded (their indices must
// match the parameter, i.e. q.write_weights() state), the rest stored raw.
CompressedModel make_compressed_model(Module& m, const TrainedQuantization& q, const std::string& arch,
                                      const CodingOptions& o = {});

// ---- the file ----------------------------------------------------------------------------
std::string serialize_compressed(const CompressedModel& cm, bool huffman, FileLayout* layout = nullptr);
// Throws std::runtime_error naming `what` (the file), the field, the byte offset and expected
// vs found, on any truncation, bad magic/version/checksum, or inconsistent content.
CompressedModel parse_compressed(const std::string& bytes, const std::string& what, FileLayout* layout = nullptr);
// Atomic write (temporary file + rename); returns the bytes written.
int64_t save_compressed(const std::string& path, const CompressedModel& cm, bool huffman = true,
                        FileLayout* layout = nullptr);
CompressedModel load_compressed(const std::string& path, FileLayout* layout = nullptr);
int64_t file_size_bytes(const std::string& path);   // throws when it cannot be read

// ---- running from the file -----------------------------------------------------------------
// At load, each coded layer's (gaps, codes, codebook) is turned into the sliced-ELL form of
// compression/coding/sliced_ell.h — 16-bit columns and the centroid value of every surviving
// weight, 8 rows per slice — which the kernels run from; no dense float matrix is built.
// memory_bytes() is that form's size (with the bias), to set beside the file's bytes.

// A fully connected layer whose weights exist only as the sparse sliced-ELL form of its stream.
class CompressedLinear : public Module {
 public:
  CompressedLinear(const CompressedTensor& weight, std::vector<float> bias);
  Var forward(const Var& x) override;    // x [N, in] (or [N, ...]) → [N, out]; inference only
  std::string type_name() const override { return "CompressedLinear"; }
  int64_t in_features() const { return W_.cols; }
  int64_t out_features() const { return W_.rows; }
  const SellMatrix& matrix() const { return W_; }
  int64_t memory_bytes() const { return W_.bytes() + static_cast<int64_t>(sizeof(float) * bias_.size()); }

 private:
  SellMatrix W_;
  std::vector<float> bias_;
};

// A convolution (groups = 1) whose weight [OC, C, KH, KW] exists only as the sliced-ELL form of
// its stream, viewed as [OC, C·KH·KW]: per image, im2col (engine/kernels/conv.h) and
// Y_n [OC × OH·OW] = W·col + bias (sell_spmm).
class CompressedConv2d : public Module {
 public:
  CompressedConv2d(const CompressedTensor& weight, std::vector<float> bias, const Conv2dOptions& o);
  Var forward(const Var& x) override;    // x [N, C, H, W] → [N, OC, OH, OW]; inference only
  std::string type_name() const override { return "CompressedConv2d"; }
  const SellMatrix& matrix() const { return W_; }
  int64_t memory_bytes() const { return W_.bytes() + static_cast<int64_t>(sizeof(float) * bias_.size()); }

 private:
  Shape shape_;                 // [OC, C, KH, KW]
  Conv2dOptions options_;
  SellMatrix W_;
  std::vector<float> bias_;
};

// The deployed model: `skeleton` gives the architecture — a flat container whose children are
// run in order (LeNet-300-100, LeNet-5), or whose children are Fire blocks (layers/fire.h,
// the SqueezeNet of book/04): a Fire's three convolutions are loaded under
// "<fire>.squeeze|expand1x1|expand3x3" like top-level layers and the Fire is rebuilt around them. A child whose "weight" is a coded 2-D tensor is
// replaced by a CompressedLinear, a Conv2d (groups = 1) whose weight is coded by a
// CompressedConv2d; every other child keeps its module, with its parameters overwritten from
// the file (a coded weight anywhere else would be re-inflated to floats, and counted by
// reinflated_layers()). Every parameter of the skeleton must be in the file with the same
// shape, or construction throws.
class CompressedRunner : public Module {
 public:
  CompressedRunner(const CompressedModel& cm, std::shared_ptr<Module> skeleton);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "CompressedRunner"; }
  int64_t compressed_linear_layers() const { return n_compressed_; }
  int64_t compressed_conv_layers() const { return n_compressed_conv_; }
  int64_t reinflated_layers() const { return n_reinflated_; }
  // Bytes of the in-memory form: the compressed layers' memory_bytes() plus every other
  // stage's parameters as floats (biases of uncompressed layers, batch norm).
  int64_t memory_bytes() const;

 private:
  // One flat layer from the file: a CompressedLinear / CompressedConv2d for a coded weight,
  // else `child` with its parameters overwritten; adds the tensors it consumed to `used`.
  std::shared_ptr<Module> load_stage(const CompressedModel& cm, const std::string& name, std::shared_ptr<Module> child,
                                     size_t& used);
  std::vector<std::shared_ptr<Module>> stages_;
  int64_t n_compressed_ = 0, n_compressed_conv_ = 0, n_reinflated_ = 0;
};

// ---- the pipeline ---------------------------------------------------------------------------
// Stage by stage, for a trained flat model (LeNet-300-100, LeNet-5). Each stage retrains with
// plain SGD (momentum 0.9) on the training set, batch `batch`.
struct DeepCompressionConfig {
  // Stage 1, pruning (Han 2015): final keep fraction per weight name ("fc1.weight" → 0.08),
  // reached in `prune_steps` geometric steps (iterative_keep_fraction), each followed by
  // `prune_epochs` epochs of retraining at `prune_lr`. A weight not listed is not pruned.
  std::vector<std::pair<std::string, double>> keep;
  // With `prune_cosine`, each step's retraining decays the rate from prune_lr to 0 along a
  // cosine, batch by batch (the baselines end their own schedule the same way); without it the
  // rate stays at prune_lr. weight_decay is L2 during that retraining (the baselines' 5e-4).
  int prune_steps = 3;
  int prune_epochs = 4;
  float prune_lr = 0.005f;        // generic default; the paper configs rewind to the baseline's peak rate
  bool prune_cosine = true;
  float weight_decay = 5e-4f;
  int jitter = 0;                 // pixels of random translation while retraining (LeNet-5's baseline: 2)
  // Stage 2, trained quantization (§3): bits per layer kind, k-means init, centroid fine-tuning.
  int conv_bits = 8, fc_bits = 5;
  KmeansInit init = KmeansInit::linear;
  int quant_epochs = 4;
  float quant_lr = 3e-4f;         // η for the centroids (their gradient is a sum over many weights)
  float quant_bias_lr = 0.005f;   // the unshared parameters (biases) meanwhile: plain SGD, flat rate
  // Stage 3 and the file.
  CodingOptions coding;
  int64_t batch = 64;
  std::string file = "build/deep_compression.mgfdc";
  std::string arch = "model";
  uint64_t seed = 1;
  std::function<void(Module&)> after_prune;   // optional: e.g. save the pruned model
};

struct DeepCompressionResult {
  double error_baseline = 0, error_pruned = 0, error_quantized_kmeans = 0, error_quantized = 0, error_deployed = 0;
  // The same stages on data.val (the validation split; -1 when the run holds none out).
  double val_baseline = -1, val_pruned = -1, val_quantized = -1, val_deployed = -1;
  int64_t float_params = 0;          // every parameter, weights and biases
  int64_t float_checkpoint_bytes = 0;// save_checkpoint() of the model before pruning, on disk
  int64_t pq_file_bytes = 0;         // the same compressed file with fixed-width codes (P+Q)
  int64_t file_bytes = 0;            // the compressed file, Huffman-coded (P+Q+H), on disk
  FileLayout pq_layout, layout;
  int64_t prediction_mismatches = 0; // test images where file model and simulated model disagree
  double max_logit_diff = 0;         // largest |logit(file) − logit(simulated)| over the test set
  double seconds = 0;
  double ratio() const { return file_bytes ? static_cast<double>(float_checkpoint_bytes) / static_cast<double>(file_bytes) : 0; }
};

// The paper's setting for "lenet300" (keep 8/9/26 %, 6 bits everywhere) or "lenet5" (keep
// 66/12/8/19 %, conv 8 bits, fc 5 bits) — §5, Tables 2-3; LeNet-5 gets 4 retraining epochs per
// pruning step, 2 of centroid training (its epochs cost ~10x more), and retrains on the
// 2-pixel jitter its baseline was trained with. Retraining after each pruning step starts at
// the baseline recipe's peak rate (0.05 / 0.01) and anneals to 0 along a cosine — measured
// better here than Han's flat 1/10 rate (book/15). Throws on other names.
DeepCompressionConfig deep_compression_paper_config(const std::string& model);

// Stage 1: prune to cfg.keep with iterative retraining. Returns the test error afterwards.
double deep_compression_prune(Module& model, const DataSplits& data, const DeepCompressionConfig& cfg);
// Stage 2: k-means on every prunable weight, then cfg.quant_epochs of centroid training.
// Returns the quantizer; *error_kmeans gets the error before fine-tuning.
TrainedQuantization deep_compression_quantize(Module& model, const DataSplits& data, const DeepCompressionConfig& cfg,
                                              double* error_kmeans = nullptr);
// Runs `a` and `b` on the test set, counts arg-max disagreements and the largest logit gap.
void compare_predictions(Module& a, Module& b, const Dataset& test, int64_t* mismatches, double* max_diff);

// The whole pipeline on a trained model: prune → retrain → quantize → retrain centroids →
// Huffman → write cfg.file (and cfg.file + ".pq", fixed-width) → load → evaluate from the file.
// `make_model` builds an untrained model of the same architecture (the runner's skeleton).
// The model is left pruned and quantized (the simulated model).
DeepCompressionResult compress_and_measure(Module& model, const std::function<std::shared_ptr<Module>()>& make_model,
                                           const DataSplits& data, const DeepCompressionConfig& cfg);

// ---- §3.2, Fig. 5: the k-means initialisation, one layer at a time --------------------------------
// The paper's Fig. 4-5 compare linear, Forgy and density-based initialisation; here one weight
// (`weight`, e.g. "fc1.weight") is quantized while every other layer stays a pruned float one,
// for every bits × init, over `seeds` seeds. Each trial starts from a fresh `pruned_model()`
// (the same pruned weights every time); seed s changes the k-means random start (Forgy,
// density; Rng cfg.seed + 7 + 101 s) and the order of the centroid-training batches
// (cfg.seed + 8 + 101 s). The centroids then train for `epochs` epochs as in
// deep_compression_quantize() (eq. 3 at cfg.quant_lr, the other parameters by SGD at
// cfg.quant_bias_lr, cfg.batch, cfg.jitter); with epochs = 0 that step is skipped.
// Errors are on data.test. Throws std::invalid_argument when the model has no parameter
// named `weight`.
struct KmeansInitTrial {
  int bits = 0;
  KmeansInit init = KmeansInit::linear;
  std::vector<double> error_kmeans;   // per seed, right after k-means
  std::vector<double> error_trained;  // per seed, after centroid training (= error_kmeans when epochs = 0)
};
// Cells in the order bits (outer) × linear, Forgy, density (inner). Errors are on
// selection_set(data): the validation split when the run holds one out, else the test set.
std::vector<KmeansInitTrial> kmeans_init_ablation(const std::function<std::shared_ptr<Module>()>& pruned_model,
                                                  const std::string& weight, const std::vector<int>& bits, int epochs,
                                                  int seeds, const DataSplits& data, const DeepCompressionConfig& cfg);

}  // namespace mgf
