// engine/tensor.h — the one array type of the engine.
//
// A Tensor is float32, contiguous, row-major, with up to 4 dimensions (NCHW for images).
// The shape has value semantics; the data is shared storage: copying a Tensor shares the
// floats, `clone()` copies them. There are no strided views: `reshape` shares storage (the
// order of elements does not change), a transpose copies.  Other number formats (int8,
// packed bits, codebook indices, CSR) are plain structs in the chapter that owns them.
// Book: book/01-autograd.md.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace mgf {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);   // "[64, 784]"
int64_t shape_numel(const Shape& s);     // product of the dims (1 for [])

class Tensor {
 public:
  Tensor() = default;                                  // empty: numel 0, no storage
  explicit Tensor(Shape shape, float fill = 0.0f);     // throws on > 4 dims or negative dims
  Tensor(Shape shape, std::vector<float> values);      // values.size() must equal numel

  static Tensor zeros(Shape s) { return Tensor(std::move(s), 0.0f); }
  static Tensor ones(Shape s) { return Tensor(std::move(s), 1.0f); }
  static Tensor full(Shape s, float v) { return Tensor(std::move(s), v); }
  static Tensor zeros_like(const Tensor& t) { return Tensor(t.shape(), 0.0f); }
  static Tensor scalar(float v) { return Tensor(Shape{}, std::vector<float>{v}); }

  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;       // negative i counts from the end; throws when out of range
  int64_t numel() const { return numel_; }
  bool empty() const { return data_ == nullptr; }

  float* data() { return data_ ? data_->data() : nullptr; }
  const float* data() const { return data_ ? data_->data() : nullptr; }
  float& operator[](int64_t i) { return (*data_)[static_cast<size_t>(i)]; }
  float operator[](int64_t i) const { return (*data_)[static_cast<size_t>(i)]; }
  float item() const;             // the single value of a one-element tensor
  std::vector<float> to_vector() const { return data_ ? *data_ : std::vector<float>{}; }

  Tensor clone() const;                     // deep copy
  Tensor reshape(Shape s) const;            // same storage; one dim may be -1
  void fill(float v);
  bool shares_storage(const Tensor& o) const { return data_ && data_ == o.data_; }
  std::string str() const { return shape_str(shape_); }

 private:
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<std::vector<float>> data_;
};

// Shape checks used by every op: they throw std::invalid_argument naming the op and the shapes.
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_ndim(const char* op, const Tensor& t, int ndim, const char* what = "input");
[[noreturn]] void shape_error(const char* op, const std::string& expected, const Shape& found);

}  // namespace mgf
