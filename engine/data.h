// engine/data.h — MNIST-like datasets: find the files, read them, normalise the pixels.
//
// MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) share the IDX format and
// the split: 60 000 training and 10 000 test images of 28×28 bytes, labels 0–9.
// Pixels become floats x = (p/255 − μ)/σ with MNIST's mean μ = 0.1307 and standard
// deviation σ = 0.3081 over the training set — the constants every PyTorch MNIST example
// uses. We use the same constants for Fashion-MNIST (its own are 0.2860 / 0.3530): the
// network does not care much, and one normalisation keeps the examples interchangeable.
//
// Where the files are looked up (the first place that has them wins):
//   1. --data DIR (when given, ONLY there: a wrong explicit path is an error, not a fallback)
//   2. $MGF_DATA   3. ./data   4. ../shared/data
// and in each place: the directory itself, then DIR/<set> (DIR/mnist, DIR/fashion-mnist).
// Each of the four files may be raw (train-images-idx3-ubyte) or gzipped (….gz).
// A validation split (DESIGN.md): split_validation() moves the last N training images into
// DataSplits::val, where hyper-parameters are chosen; test error is reported once.
// Book: book/03-training.md. Deliberately not here: other datasets, a shuffled or
// stratified split (the tail of MNIST's training file is as mixed as its head).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mgf {

constexpr float kMnistMean = 0.1307f;
constexpr float kMnistStd = 0.3081f;

struct Dataset {
  Tensor images;                  // [N, 1, H, W], normalised
  std::vector<int32_t> labels;    // N labels in [0, num_classes)
  int num_classes = 10;
  float background = (0.0f - kMnistMean) / kMnistStd;  // the value of a blank pixel (jitter fills with it)

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  // A copy of images [begin, begin + count); throws std::out_of_range when it does not fit.
  Dataset slice(int64_t begin, int64_t count) const;
};

// The validation images new chapters hold out (DESIGN.md: "the last 10 000 training images");
// the examples take it as --val N.
constexpr int64_t kDefaultValidationImages = 10000;

struct DataSplits {
  Dataset train, test;
  Dataset val;        // held out from the end of train by split_validation(); empty if none
  std::string dir;    // the directory the files came from
  std::string name;   // "mnist" or "fashion-mnist"
};

// Thrown when no place holds the files; the message lists the places and says what to do.
class DataNotFound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Loads an MNIST-format set (see the header comment for where it looks). max_train /
// max_test >= 0 keep only the first that many images (a --quick run); -1 keeps all.
// Throws DataNotFound, or std::runtime_error naming the file and offset when a file is bad or
// its images are not 28×28 (every model of the book takes [N, 1, 28, 28]).
DataSplits load_mnist_like(const std::string& flag_dir, const std::string& set = "mnist", int64_t max_train = -1,
                           int64_t max_test = -1);

// Moves the last `n` training images into s.val (replacing it), so train and val are disjoint
// and train keeps its first size - n images in order. Apply it after any --quick cap, so the
// held-out images come from the slice. Throws std::out_of_range naming n and the training
// size unless 0 <= n <= train size - 1 (at least one image must remain to train on).
void split_validation(DataSplits& s, int64_t n);

// The images an example makes its choices on (schedules, rates, early stops) and prints its
// progress with: the validation split when the run holds one out (--val), else the test set.
// `name` says which, so a --val 0 run's lines read "test error" and never pass for validation.
// The test error is then reported once, in the final table (DESIGN.md, validation split).
struct SelectionSet {
  const Dataset& images;
  const char* name;  // "val" or "test"
};
SelectionSet selection_set(const DataSplits& s);

// Builds one split from IDX image and label files (raw or .gz), checking that they agree
// (same count, labels in 0..9). Exposed for tests.
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, int64_t max_count = -1);
// The same from bytes already in memory (names are used in error messages).
Dataset make_idx_dataset(const std::vector<uint8_t>& image_bytes, const std::string& image_name,
                         const std::vector<uint8_t>& label_bytes, const std::string& label_name,
                         int64_t max_count = -1);

// The directories load_mnist_like would try, in order (for messages and tests).
std::vector<std::string> data_search_path(const std::string& flag_dir, const std::string& set);

// A tiny synthetic problem for tests: `n` images [n, 1, side, side] of `classes` classes;
// class c is a bright bar at a class-specific position plus Gaussian noise, so a small
// model can learn it in a few epochs. Deterministic for a given seed.
Dataset synthetic_dataset(int64_t n, int classes = 4, int64_t side = 8, uint64_t seed = 1);

}  // namespace mgf
