// compression/pruning/sparse_model.h — a pruned network deployed: every Linear and Conv2d of a
// Sequential (LeNet-300-100, LeNet-5) runs from CSR, the other layers (pooling, ReLU, Flatten)
// run as they are. This is what Han et al. 2015 and Deep Compression §6 time: the pruned net
// computing with its nonzeros only, not the masked float weights that retraining uses.
// Book: book/14-magnitude_pruning.md and book/17-dns.md ("Running the pruned net from CSR").
// Tests: make test SUITE=magnitude_pruning (logits = the masked float model's, both LeNets).
//
// It lives in pruning/ rather than coding/ because it knows the layers (Linear, Conv2d,
// Sequential); coding/ holds the formats and kernels (csr.h, sparse_conv.h), which know only
// raw pointers and tensors.
// Deliberately not here: nested containers (a child that is itself a Sequential runs densely,
// as "other"), batch norm folding, training (a deployed net is inference only).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compression/coding/csr.h"
#include "compression/coding/sparse_conv.h"
#include "engine/table.h"
#include "layers/sequential.h"

namespace mgf {

struct SparseModelLayer {
  std::string name;                      // the child's name in the Sequential ("fc1", "conv2", "pool1")
  std::shared_ptr<SparseLinear> linear;  // set for a Linear
  std::shared_ptr<SparseConv2d> conv;    // set for a Conv2d
  std::shared_ptr<Module> other;         // anything else, run by its own forward
  int64_t kept = 0, total = 0;           // nonzero weights, all weights (0, 0 for other layers)
  int64_t csr_bytes = 0;                 // bytes of the stored CSR (16-bit columns where they fit)
};

// A Module, so that whatever evaluates a model (evaluate() in engine/train.h,
// compare_predictions() in compression/deep_compression.h) evaluates this one; its forward
// records no graph (inference only).
class SparseModel : public Module {
 public:
  // Reads every child of `net` in order: a Linear or Conv2d becomes its CSR form (weight ⊙
  // mask, bias kept dense), anything else is kept by reference and put in eval mode. Later
  // changes to net's weights are not seen (the CSR is a copy).
  explicit SparseModel(Sequential& net, SparseConvAlgo conv_algo = kDefaultSparseConvAlgo);

  // Logits [N, classes] for a batch x [N, ...]. An input of more than 2 dims is flattened to
  // [N, rest] before a Linear (what LeNet300::forward and Flatten do).
  Tensor logits(const Tensor& x) const;
  Var forward(const Var& x) override { return Var(logits(x.value())); }
  std::string type_name() const override { return "SparseModel"; }
  // Layer i alone on its input h (the example times the layers one by one with this).
  Tensor forward_layer(size_t i, const Tensor& h) const;

  const std::vector<SparseModelLayer>& layers() const { return layers_; }
  int64_t kept() const;         // nonzero weights of the sparse layers (Han's "weights" count)
  int64_t total() const;        // all weights of those layers
  int64_t csr_bytes() const;    // the stored format: CSR arrays of every sparse layer
  int64_t dense_bytes() const { return 4 * total(); }  // the same weights as dense float32
  void set_conv_algo(SparseConvAlgo a);

 private:
  std::vector<SparseModelLayer> layers_;
};

// Per-layer and whole-model time of the deployed model against the masked float model it was
// built from, on the batch x: median µs of process CPU time per call (variants interleaved, so a
// burst of load hits each alike); call it with one thread (CPU time sums over threads). A conv layer
// is timed with each algorithm (im2col + spmm, direct, direct scatter); for the other layers the
// three columns are the same run. The last row, "model", is the whole forward (conv layers with each algorithm).
struct SparseLayerTime {
  std::string name;
  int64_t kept = 0, total = 0;      // weights (0, 0 for layers without)
  double dense_us = 0;              // the float op on weight ⊙ mask as a dense tensor (sgemm, im2col + sgemm)
  double im2col_us = 0, direct_us = 0, scatter_us = 0;  // CSR, each SparseConvAlgo
  double us(SparseConvAlgo a) const {
    return a == SparseConvAlgo::im2col ? im2col_us : a == SparseConvAlgo::direct ? direct_us : scatter_us;
  }
};
std::vector<SparseLayerTime> time_sparse_model(const SparseModel& sm, Sequential& net, const Tensor& x, int samples);

// time_sparse_model at batch 1 and 64 on random images [N, image...], one thread, as one table
// (layer, kept, batch, dense, CSR im2col, CSR direct, CSR scatter, direct / im2col, dense / CSR
// as deployed) — what bench --sparse and the pruning examples print. `model_rows` (optional) gets
// the whole-model row of each batch.
ResultTable sparse_timing_table(const SparseModel& sm, Sequential& net, const Shape& image, int samples,
                                std::vector<SparseLayerTime>* model_rows = nullptr);

}  // namespace mgf
