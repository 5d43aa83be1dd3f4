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
#include <utility>
#include <vector>

namespace mgf {

using Shape = std::vector<int64_t>;

// Bytes of tensor storage alive now, and the most alive at once since the last reset.
// Every Tensor's floats pass through DefaultInitAllocator, which reports here, so the
// engine can measure the peak activation memory of one inference (MobileNetV2 §5, the
// memory argument; peak_activation_bytes() in engine/summary.h). Kernel scratch buffers
// (im2col's columns, plain std::vector) are not tensor storage and are not counted.
int64_t tensor_bytes_live();
int64_t tensor_bytes_peak();
void reset_tensor_bytes_peak();   // peak := live
namespace detail {
void note_tensor_alloc(int64_t bytes);
void note_tensor_free(int64_t bytes);
}  // namespace detail

// The storage's allocator: std::allocator, except that `vector(n)` leaves the floats
// uninitialised (default-init instead of value-init). Only Tensor::uninit() relies on it;
// every other constructor passes a fill value or copies, so they still write every float.
// allocate/deallocate also count bytes for tensor_bytes_live() / tensor_bytes_peak().
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <class U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    detail::note_tensor_alloc(static_cast<int64_t>(n * sizeof(T)));
    return std::allocator<T>::allocate(n);
  }
  void deallocate(T* p, size_t n) noexcept {
    detail::note_tensor_free(static_cast<int64_t>(n * sizeof(T)));
    std::allocator<T>::deallocate(p, n);
  }
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Storage = std::vector<float, DefaultInitAllocator<float>>;

std::string shape_str(const Shape& s);   // "[64, 784]"
int64_t shape_numel(const Shape& s);     // product of the dims (1 for [])

class Tensor {
 public:
  Tensor() = default;                                  // empty: numel 0, no storage
  explicit Tensor(Shape shape, float fill = 0.0f);     // throws on > 4 dims or negative dims
  Tensor(Shape shape, std::vector<float> values);      // values.size() must equal numel

  // Uninitialised floats, for an op output that the op then overwrites completely (an sgemm
  // with beta = 0, a pooling kernel): it saves the zero-fill pass, which was 6.5 % of a
  // LeNet-5 training epoch. Never read an element before writing it.
  static Tensor uninit(Shape s);
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
  std::vector<float> to_vector() const {
    return data_ ? std::vector<float>(data_->begin(), data_->end()) : std::vector<float>{};
  }

  Tensor clone() const;                     // deep copy
  Tensor reshape(Shape s) const;            // same storage; one dim may be -1
  void fill(float v);
  bool shares_storage(const Tensor& o) const { return data_ && data_ == o.data_; }
  std::string str() const { return shape_str(shape_); }

 private:
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<Storage> data_;
};

// Shape checks used by every op: they throw std::invalid_argument naming the op and the shapes.
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_ndim(const char* op, const Tensor& t, int ndim, const char* what = "input");
[[noreturn]] void shape_error(const char* op, const std::string& expected, const Shape& found);

}  // namespace mgf
