// engine/summary.h — a model summary: per layer the output shape, parameters, multiply-adds
// per image, bytes of parameters and measured latency at batch 1, then totals.
//
// Units: MACs (multiply-accumulates) per image — Han et al. count FLOP = 2·MAC, MobileNet
// counts "Mult-Adds" = MAC; we print MACs and say so. Latency is the median of repeated
// batch-1 forward passes (no graph: NoGradGuard, eval mode), measured, never estimated.
// Bytes: by default 4 per float parameter. A compressed layer (CSR, packed bits, codebook
// indices) stores far fewer; it says so by also deriving from ReportsBytes, and the summary
// asks it — so the table reports what the layer really keeps in memory. ReportsMacs does the
// same for work (a sparse layer does only the MACs of its non-zeros).
// The summary walks the model's top-level children in order, feeding each the previous
// output: right for Sequential models (every model in this book). A Linear fed an image
// gets it flattened, as LeNet300::forward does. A nested Sequential is counted by walking
// its children the same way; a block with its own forward (a residual, a concat) counts its
// MACs by implementing ReportsMacs (layers/mobile_blocks.h), so the model's count is exact.
// Activation memory: peak_activation_bytes() measures it (tensor storage accounting in
// engine/tensor.h), it does not estimate it.
// Book: book/03-training.md, book/05-mobilenet.md (MACs of blocks), book/07-mobilenet_v2.md
// (peak memory). Deliberately not here: FLOPs of activations/pooling/BN/adds (0 MACs, as
// MobileNet's Mult-Adds count only the multiply-adds of convolutions and FC layers).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/table.h"
#include "engine/tensor.h"
#include "layers/module.h"

namespace mgf {

// Mix-in for layers whose storage is not 4 bytes per parameter.
class ReportsBytes {
 public:
  virtual ~ReportsBytes() = default;
  virtual int64_t parameter_bytes() const = 0;   // what the layer really stores
};

// Mix-in for layers whose work is not the dense count (sparse, low-rank, binary).
class ReportsMacs {
 public:
  virtual ~ReportsMacs() = default;
  virtual int64_t macs_per_image(const Shape& input, const Shape& output) const = 0;
};

struct LayerSummary {
  std::string name, type;
  Shape output;              // at batch 1
  int64_t params = 0;        // elements of every parameter (masked ones included)
  int64_t nonzero = 0;       // parameters that are not masked out
  int64_t macs = 0;          // per image
  int64_t bytes = 0;         // ReportsBytes, else 4 · params
  double latency_us = 0.0;   // median, batch 1
};

struct ModelSummary {
  std::vector<LayerSummary> layers;
  int64_t params = 0, nonzero = 0, macs = 0, bytes = 0;
  double latency_us = 0.0;   // the whole model's forward at batch 1, median (not the sum)
  ResultTable table() const; // one row per layer plus a total row
};

// `input` is one image's shape with batch 1, e.g. {1, 1, 28, 28}. `repeats` timed runs
// per layer (after one warm-up run).
ModelSummary summarize(Module& model, const Shape& input, int repeats = 50);

// The bytes a module's parameters occupy, asking ReportsBytes where a layer implements it.
int64_t parameter_bytes(Module& m);
// Dense MACs per image of Linear and Conv2d (and ReportsMacs); 0 for other layers.
int64_t layer_macs(Module& m, const Shape& input, const Shape& output);
// MACs of a conv with this weight shape producing OH·OW outputs per channel, one image.
int64_t conv_macs(const Shape& weight, int64_t out_h, int64_t out_w);

// Peak activation memory of one inference (eval mode, no graph): the most bytes of tensor
// storage alive at once during model.forward(x), above what was alive before the call (the
// parameters and x itself). Measured by the allocator's accounting, so it includes every
// intermediate the model keeps alive (a residual's input) and excludes kernel scratch.
int64_t peak_activation_bytes(Module& model, const Shape& input);

}  // namespace mgf
