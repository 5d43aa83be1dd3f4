// engine/ops_reduce.cpp — sum and mean, over all elements or along one axis.
// Book: book/01-autograd.md. Forward and backward side by side; the backward of a sum is
// a broadcast (every input element that fed an output receives that output's gradient).
// Deliberately not here: max/min/prod reductions (no chapter needs them).
#include <stdexcept>
#include <string>

#include "engine/ops.h"

namespace mgf {

// ---- sum over everything: y = Σ a;  da += dy (broadcast) ------------------------------
Var sum(const Var& a) {
  double s = 0;  // accumulate in double: the order of a long float sum matters
  const float* p = a.value().data();
  for (int64_t i = 0; i < a.value().numel(); ++i) s += p[i];
  return make_result("sum", Tensor::scalar(static_cast<float>(s)), {a}, [an = a.node()](Node& self) {
    float g = self.grad[0];
    float* da = grad_buffer(*an).data();
    for (int64_t i = 0; i < an->value.numel(); ++i) da[i] += g;
  });
}

// ---- mean over everything: y = Σ a / n;  da += dy / n ---------------------------------
Var mean(const Var& a) {
  const int64_t n = a.value().numel();
  if (n == 0) throw std::invalid_argument("mean: expected a non-empty tensor, found " + a.value().str());
  return scale(sum(a), 1.0f / static_cast<float>(n));
}

namespace {

// Viewing a as [outer, D, inner] around `axis` makes one loop nest serve every axis:
// y[o][i] = Σ_d a[o][d][i].
struct AxisSplit {
  int64_t outer = 1, D = 1, inner = 1;
  Shape out_shape;
};

AxisSplit split_axis(const char* op, const Shape& s, int axis, bool keepdim) {
  const int nd = static_cast<int>(s.size());
  const int ax = axis < 0 ? axis + nd : axis;
  if (ax < 0 || ax >= nd)
    throw std::invalid_argument(std::string(op) + ": expected axis in [" + std::to_string(-nd) + ", " +
                                std::to_string(nd) + "), found " + std::to_string(axis) + " for shape " +
                                shape_str(s));
  AxisSplit r;
  for (int i = 0; i < nd; ++i) {
    const int64_t d = s[static_cast<size_t>(i)];
    if (i < ax) r.outer *= d;
    if (i == ax) r.D = d;
    if (i > ax) r.inner *= d;
    if (i != ax) r.out_shape.push_back(d);
    else if (keepdim) r.out_shape.push_back(1);
  }
  return r;
}

// y[o][i] = w · Σ_d a[o][d][i];  backward: da[o][d][i] += w · dy[o][i]
Var reduce_axis(const char* op, const Var& a, int axis, bool keepdim, bool average) {
  AxisSplit g = split_axis(op, a.shape(), axis, keepdim);
  if (average && g.D == 0) throw std::invalid_argument(std::string(op) + ": cannot average over an empty axis");
  const float w = average ? 1.0f / static_cast<float>(g.D) : 1.0f;
  Tensor y(g.out_shape);
  const float* pa = a.value().data();
  float* py = y.data();
  for (int64_t o = 0; o < g.outer; ++o)
    for (int64_t d = 0; d < g.D; ++d) {
      const float* row = pa + (o * g.D + d) * g.inner;
      float* out = py + o * g.inner;
      for (int64_t i = 0; i < g.inner; ++i) out[i] += row[i];
    }
  if (average)
    for (int64_t i = 0; i < y.numel(); ++i) py[i] *= w;
  return make_result(op, std::move(y), {a}, [an = a.node(), g, w](Node& self) {
    const float* dy = self.grad.data();
    float* da = grad_buffer(*an).data();
    for (int64_t o = 0; o < g.outer; ++o)
      for (int64_t d = 0; d < g.D; ++d) {
        float* row = da + (o * g.D + d) * g.inner;
        const float* src = dy + o * g.inner;
        for (int64_t i = 0; i < g.inner; ++i) row[i] += w * src[i];
      }
  });
}

}  // namespace

Var sum(const Var& a, int axis, bool keepdim) { return reduce_axis("sum", a, axis, keepdim, false); }
Var mean(const Var& a, int axis, bool keepdim) { return reduce_axis("mean", a, axis, keepdim, true); }

}  // namespace mgf
