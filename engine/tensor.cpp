// engine/tensor.cpp — see tensor.h.
#include "engine/tensor.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "engine/io/checked.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mgf {

// ---- tensor storage accounting (tensor.h) --------------------------------------------------
namespace {
std::atomic<int64_t> g_bytes_live{0}, g_bytes_peak{0};
}
namespace detail {
void note_tensor_alloc(int64_t bytes) {
  const int64_t now = g_bytes_live.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = g_bytes_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_bytes_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
void note_tensor_free(int64_t bytes) { g_bytes_live.fetch_sub(bytes, std::memory_order_relaxed); }
}  // namespace detail
int64_t tensor_bytes_live() { return g_bytes_live.load(std::memory_order_relaxed); }
int64_t tensor_bytes_peak() { return g_bytes_peak.load(std::memory_order_relaxed); }
void reset_tensor_bytes_peak() { g_bytes_peak.store(g_bytes_live.load(std::memory_order_relaxed), std::memory_order_relaxed); }

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) { return checked_numel(s, "shape_numel"); }

// Training allocates the same large tensors every batch and frees them all at its end. With
// glibc's defaults each of them is a fresh mmap (or the freed heap top is trimmed back to the
// OS), so every batch pays page faults to re-zero memory it just returned: on LeNet-5 that
// was a third of the CPU time (sys 0.53 s of 1.86 s for 100 batches, 1 thread). Keeping
// tensors up to 32 MiB on the heap and never trimming it makes the next batch reuse the
// pages (sys 0.01 s). Done once, on the first tensor; other C libraries keep their defaults.
static void keep_freed_tensor_memory() {
#if defined(__GLIBC__)
  static const bool once = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed value
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)once;
#endif
}

static void validate(const Shape& s) {
  if (s.size() > 4)
    throw std::invalid_argument("Tensor: expected at most 4 dimensions, found " + shape_str(s));
  for (int64_t d : s)
    if (d < 0) throw std::invalid_argument("Tensor: negative dimension in shape " + shape_str(s));
}

Tensor::Tensor(Shape shape, float fill) : shape_(std::move(shape)) {
  validate(shape_);
  numel_ = shape_numel(shape_);
  keep_freed_tensor_memory();
  data_ = std::make_shared<Storage>(static_cast<size_t>(numel_), fill);
}

Tensor Tensor::uninit(Shape shape) {
  validate(shape);
  Tensor t;
  t.numel_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  keep_freed_tensor_memory();
  t.data_ = std::make_shared<Storage>(static_cast<size_t>(t.numel_));  // default-init: no fill
  return t;
}

Tensor::Tensor(Shape shape, std::vector<float> values) : shape_(std::move(shape)) {
  validate(shape_);
  numel_ = shape_numel(shape_);
  if (static_cast<int64_t>(values.size()) != numel_)
    throw std::invalid_argument("Tensor: shape " + shape_str(shape_) + " needs " + std::to_string(numel_) +
                                " values, found " + std::to_string(values.size()));
  keep_freed_tensor_memory();
  data_ = std::make_shared<Storage>(values.begin(), values.end());
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  int j = i < 0 ? i + n : i;
  if (j < 0 || j >= n)
    throw std::invalid_argument("Tensor::dim: index " + std::to_string(i) + " out of range for shape " + str());
  return shape_[static_cast<size_t>(j)];
}

float Tensor::item() const {
  if (numel_ != 1) throw std::invalid_argument("Tensor::item: expected one element, found shape " + str());
  return (*data_)[0];
}

Tensor Tensor::clone() const {
  Tensor t;
  t.shape_ = shape_;
  t.numel_ = numel_;
  if (data_) t.data_ = std::make_shared<Storage>(*data_);
  return t;
}

Tensor Tensor::reshape(Shape s) const {
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("reshape: more than one -1 in " + shape_str(s));
      infer = static_cast<int>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0 && known > 0 && numel_ % known == 0) s[static_cast<size_t>(infer)] = numel_ / known;
  validate(s);
  if (shape_numel(s) != numel_)
    throw std::invalid_argument("reshape: cannot view " + str() + " (" + std::to_string(numel_) +
                                " elements) as " + shape_str(s));
  Tensor t = *this;
  t.shape_ = std::move(s);
  return t;
}

void Tensor::fill(float v) {
  if (data_) std::fill(data_->begin(), data_->end(), v);
}

void shape_error(const char* op, const std::string& expected, const Shape& found) {
  throw std::invalid_argument(std::string(op) + ": expected " + expected + ", found " + shape_str(found));
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw std::invalid_argument(std::string(op) + ": shapes must match, found " + a.str() + " and " + b.str());
}

void check_ndim(const char* op, const Tensor& t, int ndim, const char* what) {
  if (t.ndim() != ndim)
    throw std::invalid_argument(std::string(op) + ": expected " + what + " with " + std::to_string(ndim) +
                                " dims, found " + t.str());
}

}  // namespace mgf
