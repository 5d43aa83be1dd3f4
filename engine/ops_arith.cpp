// engine/ops_arith.cpp — add, sub, mul, div with one-sided broadcasting; neg, scale.
// Each op: forward, then its backward registered right below. See ops.h for the rule.
#include <stdexcept>

#include "engine/kernels/elementwise.h"
#include "engine/ops.h"

namespace mgf {
namespace {

// How b (broadcast) lines up with a: both padded to 4 dims; b's stride is 0 along every
// dim it is broadcast along. Element i of a, at 4-D index (i0, i1, i2, i3), reads
// b[i0·bs0 + i1·bs1 + i2·bs2 + i3·bs3].
struct Broadcast {
  int64_t dims[4];
  int64_t bstride[4];
  bool same;  // b has a's shape: no index arithmetic needed
};

Broadcast broadcast_of(const char* op, const Shape& a, const Shape& b) {
  if (b.size() > a.size())
    throw std::invalid_argument(std::string(op) + ": cannot broadcast " + shape_str(b) + " to " + shape_str(a));
  Broadcast r{};
  r.same = a == b;
  int64_t bd[4];
  for (int i = 0; i < 4; ++i) {
    int ai = i - (4 - static_cast<int>(a.size())), bi = i - (4 - static_cast<int>(b.size()));
    r.dims[i] = ai >= 0 ? a[static_cast<size_t>(ai)] : 1;
    bd[i] = bi >= 0 ? b[static_cast<size_t>(bi)] : 1;
    if (bd[i] != 1 && bd[i] != r.dims[i])
      throw std::invalid_argument(std::string(op) + ": cannot broadcast " + shape_str(b) + " to " + shape_str(a) +
                                  " (each dim of the second must be 1 or equal to the first's)");
  }
  int64_t s = 1;
  for (int i = 3; i >= 0; --i) {
    r.bstride[i] = bd[i] == 1 ? 0 : s;
    s *= bd[i];
  }
  return r;
}

// Calls f(ia, ib) for every element ia of a with the matching element ib of b.
template <class F>
void for_each_pair(const Broadcast& bc, F f) {
  if (bc.same) {
    int64_t n = bc.dims[0] * bc.dims[1] * bc.dims[2] * bc.dims[3];
    for (int64_t i = 0; i < n; ++i) f(i, i);
    return;
  }
  int64_t ia = 0;
  for (int64_t i0 = 0; i0 < bc.dims[0]; ++i0)
    for (int64_t i1 = 0; i1 < bc.dims[1]; ++i1)
      for (int64_t i2 = 0; i2 < bc.dims[2]; ++i2) {
        int64_t ib = i0 * bc.bstride[0] + i1 * bc.bstride[1] + i2 * bc.bstride[2];
        for (int64_t i3 = 0; i3 < bc.dims[3]; ++i3, ++ia) f(ia, ib + i3 * bc.bstride[3]);
      }
}

}  // namespace

// ---- add: y = a + b;  da += dy,  db += Σ_broadcast dy ---------------------------------
Var add(const Var& a, const Var& b) {
  Broadcast bc = broadcast_of("add", a.shape(), b.shape());
  Tensor y = a.value().clone();
  const float* pb = b.value().data();
  float* py = y.data();
  if (bc.same) add_inplace(py, pb, y.numel());
  else for_each_pair(bc, [&](int64_t i, int64_t j) { py[i] += pb[j]; });
  return make_result("add", std::move(y), {a, b}, [an = a.node(), bn = b.node(), bc](Node& self) {
    const float* dy = self.grad.data();
    if (an->requires_grad) accumulate_grad(*an, self.grad);
    if (bn->requires_grad) {
      float* db = grad_buffer(*bn).data();
      for_each_pair(bc, [&](int64_t i, int64_t j) { db[j] += dy[i]; });
    }
  });
}

// ---- sub: y = a − b;  da += dy,  db −= Σ_broadcast dy ---------------------------------
Var sub(const Var& a, const Var& b) {
  Broadcast bc = broadcast_of("sub", a.shape(), b.shape());
  Tensor y = a.value().clone();
  const float* pb = b.value().data();
  float* py = y.data();
  for_each_pair(bc, [&](int64_t i, int64_t j) { py[i] -= pb[j]; });
  return make_result("sub", std::move(y), {a, b}, [an = a.node(), bn = b.node(), bc](Node& self) {
    const float* dy = self.grad.data();
    if (an->requires_grad) accumulate_grad(*an, self.grad);
    if (bn->requires_grad) {
      float* db = grad_buffer(*bn).data();
      for_each_pair(bc, [&](int64_t i, int64_t j) { db[j] -= dy[i]; });
    }
  });
}

// ---- mul: y = a·b;  da += dy·b,  db += Σ_broadcast dy·a --------------------------------
Var mul(const Var& a, const Var& b) {
  Broadcast bc = broadcast_of("mul", a.shape(), b.shape());
  Tensor y = a.value().clone();
  const float* pb = b.value().data();
  float* py = y.data();
  for_each_pair(bc, [&](int64_t i, int64_t j) { py[i] *= pb[j]; });
  return make_result("mul", std::move(y), {a, b}, [an = a.node(), bn = b.node(), bc](Node& self) {
    const float* dy = self.grad.data();
    const float* pa = an->value.data();
    const float* pb = bn->value.data();
    if (an->requires_grad) {
      float* da = grad_buffer(*an).data();
      for_each_pair(bc, [&](int64_t i, int64_t j) { da[i] += dy[i] * pb[j]; });
    }
    if (bn->requires_grad) {
      float* db = grad_buffer(*bn).data();
      for_each_pair(bc, [&](int64_t i, int64_t j) { db[j] += dy[i] * pa[i]; });
    }
  });
}

// ---- div: y = a/b;  da += dy/b,  db −= Σ_broadcast dy·a/b² ------------------------------
Var div(const Var& a, const Var& b) {
  Broadcast bc = broadcast_of("div", a.shape(), b.shape());
  Tensor y = a.value().clone();
  const float* pb = b.value().data();
  float* py = y.data();
  for_each_pair(bc, [&](int64_t i, int64_t j) { py[i] /= pb[j]; });
  return make_result("div", std::move(y), {a, b}, [an = a.node(), bn = b.node(), bc](Node& self) {
    const float* dy = self.grad.data();
    const float* pa = an->value.data();
    const float* pb = bn->value.data();
    if (an->requires_grad) {
      float* da = grad_buffer(*an).data();
      for_each_pair(bc, [&](int64_t i, int64_t j) { da[i] += dy[i] / pb[j]; });
    }
    if (bn->requires_grad) {
      float* db = grad_buffer(*bn).data();
      for_each_pair(bc, [&](int64_t i, int64_t j) { db[j] -= dy[i] * pa[i] / (pb[j] * pb[j]); });
    }
  });
}

// ---- scale: y = s·a;  da += s·dy  (neg is scale by −1) --------------------------------
Var scale(const Var& a, float s) {
  Tensor y = a.value().clone();
  float* py = y.data();
  for (int64_t i = 0; i < y.numel(); ++i) py[i] *= s;
  return make_result("scale", std::move(y), {a}, [an = a.node(), s](Node& self) {
    const float* dy = self.grad.data();
    float* da = grad_buffer(*an).data();
    for (int64_t i = 0; i < self.grad.numel(); ++i) da[i] += s * dy[i];
  });
}

Var neg(const Var& a) { return scale(a, -1.0f); }

// ---- add_scalar: y = a + s;  da += dy -------------------------------------------------
Var add_scalar(const Var& a, float s) {
  Tensor y = a.value().clone();
  float* py = y.data();
  for (int64_t i = 0; i < y.numel(); ++i) py[i] += s;
  return make_result("add_scalar", std::move(y), {a},
                     [an = a.node()](Node& self) { accumulate_grad(*an, self.grad); });
}

}  // namespace mgf
