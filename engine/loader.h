// engine/loader.h — mini-batches from a Dataset: per-epoch shuffling, a ragged last batch,
// and random-translation ("jitter") augmentation.
//
// Each epoch visits every example exactly once, in a fresh permutation drawn from the Rng the
// loader was given (so a seed fixes the whole run). The last batch holds the remainder
// (N mod B examples) instead of being dropped: the papers count test errors out of all
// 10 000, and the same loader is used for evaluation-style passes.
// Jitter J moves each training image by (dx, dy), each uniform in {−J..J}, filling the
// uncovered border with the dataset's blank-pixel value. Hinton et al. 2015 §3 train their
// MNIST nets "with the input images jittered by up to two pixels in any direction"; it is
// also the cheap augmentation that takes LeNet-5 below 0.8 % error.
// Book: book/03-training.md. Deliberately not here: background threads, other augmentations.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/data.h"
#include "engine/rng.h"

namespace mgf {

class DataLoader {
 public:
  // Keeps a reference to `data` and `rng`: both must outlive the loader.
  DataLoader(const Dataset& data, int64_t batch, bool shuffle, Rng& rng, int jitter = 0);

  // Fills x [B, C, H, W] and y (B labels) with the next batch and returns true; at the end of
  // the epoch returns false and starts the next epoch (a new permutation), so
  // `while (loader.next(x, y))` is one epoch.
  bool next(Tensor& x, std::vector<int32_t>& y);
  void reset();                        // start a new epoch now (new permutation when shuffling)

  int64_t size() const { return data_.size(); }       // examples per epoch
  int64_t batch_size() const { return batch_; }
  int64_t num_batches() const { return (size() + batch_ - 1) / batch_; }
  int64_t position() const { return pos_; }           // examples already served this epoch
  const std::vector<int64_t>& order() const { return order_; }  // this epoch's permutation
  const Dataset& dataset() const { return data_; }

 private:
  const Dataset& data_;
  int64_t batch_;
  bool shuffle_;
  Rng& rng_;
  int jitter_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
};

// Copies image `src` [C, H, W] into `dst` shifted by (dx, dy) pixels (positive = right/down),
// filling what is uncovered with `fill`. Exposed for tests.
void translate_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w, int dx, int dy, float fill);

}  // namespace mgf
