// engine/ops_activation.cpp — elementwise nonlinearities and (log-)softmax.
// Book: book/01-autograd.md. hard_sigmoid / hard_swish are MobileNetV3's (Howard et al.
// 2019, §5.2): piecewise-linear stand-ins for sigmoid and swish built from ReLU6.
//
// Every elementwise activation is written as two plain array loops, `name_fwd` (y = f(x))
// and `name_bwd` (dx += dy · f'(x), given x and y), and one generic `unary_op` that wires
// them into the graph. Those loops are the one place to swap in a vectorised kernel; ReLU,
// ReLU6, hard-swish and the softmaxes already call engine/kernels/ (scalar + AVX2).
// At a kink (ReLU at 0, ReLU6 at 0 and 6, hard-swish at ±3) we use the one-sided
// derivative of the flat piece (0), as PyTorch does.
// Not here: GELU, ELU and friends (no chapter uses them).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/kernels/elementwise.h"
#include "engine/kernels/softmax.h"
#include "engine/ops.h"

namespace mgf {
namespace {

// y = fwd(x) elementwise; backward: bwd(x, y, dy, dx, n) accumulates dx += dy · f'(x).
template <class Fwd, class Bwd>
Var unary_op(const char* op, const Var& x, Fwd fwd, Bwd bwd) {
  Tensor y = Tensor::uninit(x.shape());  // fwd writes every y[i]
  fwd(x.value().data(), y.data(), y.numel());
  return make_result(op, std::move(y), {x}, [xn = x.node(), bwd](Node& self) {
    bwd(xn->value.data(), self.value.data(), self.grad.data(), grad_buffer(*xn).data(), self.value.numel());
  });
}

// ---- the inner loops -------------------------------------------------------------------
// ReLU, ReLU6 and hard-swish are hot in the CNN chapters, so their loops are the scalar/AVX2
// kernels of engine/kernels/elementwise.h (same formulas, same one-sided kink convention).
void relu_fwd(const float* x, float* y, int64_t n) { relu_forward(x, y, n); }
void relu_bwd(const float* x, const float*, const float* dy, float* dx, int64_t n) { relu_backward(x, dy, dx, n); }

void relu6_fwd(const float* x, float* y, int64_t n) { relu6_forward(x, y, n); }
void relu6_bwd(const float* x, const float*, const float* dy, float* dx, int64_t n) { relu6_backward(x, dy, dx, n); }

// σ(x) = 1/(1 + e^(−x)), σ' = σ(1 − σ): the backward needs only y.
void sigmoid_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}
void sigmoid_bwd(const float*, const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

// tanh' = 1 − tanh²
void tanh_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void tanh_bwd(const float*, const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

// h-sigmoid(x) = ReLU6(x + 3)/6: slope 1/6 on (−3, 3), flat outside.
void hard_sigmoid_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i] + 3.0f, 0.0f), 6.0f) / 6.0f;
}
void hard_sigmoid_bwd(const float* x, const float*, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] += (x[i] > -3.0f && x[i] < 3.0f) ? dy[i] / 6.0f : 0.0f;
}

// h-swish(x) = x · ReLU6(x + 3)/6: 0 below −3, x above 3, (2x + 3)/6 slope in between.
void hard_swish_fwd(const float* x, float* y, int64_t n) { hard_swish_forward(x, y, n); }
void hard_swish_bwd(const float* x, const float*, const float* dy, float* dx, int64_t n) {
  hard_swish_backward(x, dy, dx, n);
}

}  // namespace

Var relu(const Var& x) { return unary_op("relu", x, relu_fwd, relu_bwd); }
Var relu6(const Var& x) { return unary_op("relu6", x, relu6_fwd, relu6_bwd); }
Var sigmoid(const Var& x) { return unary_op("sigmoid", x, sigmoid_fwd, sigmoid_bwd); }
Var tanh(const Var& x) { return unary_op("tanh", x, tanh_fwd, tanh_bwd); }
Var hard_sigmoid(const Var& x) { return unary_op("hard_sigmoid", x, hard_sigmoid_fwd, hard_sigmoid_bwd); }
Var hard_swish(const Var& x) { return unary_op("hard_swish", x, hard_swish_fwd, hard_swish_bwd); }

// leaky ReLU: y = x (x > 0) else slope·x — the slope is captured, so its loops are lambdas.
Var leaky_relu(const Var& x, float slope) {
  auto fwd = [slope](const float* in, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = in[i] > 0.0f ? in[i] : slope * in[i];
  };
  auto bwd = [slope](const float* in, const float*, const float* dy, float* dx, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dx[i] += in[i] > 0.0f ? dy[i] : slope * dy[i];
  };
  return unary_op("leaky_relu", x, fwd, bwd);
}

// ---- softmax and log-softmax over the last dim -------------------------------------------
// Rows of length C: every dim but the last is a row index. The row loops are the kernels of
// engine/kernels/softmax.h, in the stable form: the row max m is subtracted before
// exponentiating, log Σ e^(x_j) = m + log Σ e^(x_j − m), so nothing overflows.
namespace {

void rows_of(const char* op, const Tensor& x, int64_t& rows, int64_t& C) {
  if (x.ndim() < 1 || x.dim(-1) == 0) shape_error(op, "a tensor whose last dim (the classes) is non-empty", x.shape());
  C = x.dim(-1);
  rows = x.numel() / C;
}

}  // namespace

// softmax: p = e^(x − lse);  backward (Jacobian diag(p) − p pᵀ):  dx += p ⊙ (dp − ⟨dp, p⟩)
Var softmax(const Var& x) {
  int64_t rows, C;
  rows_of("softmax", x.value(), rows, C);
  Tensor p(x.shape());
  softmax_rows(x.value().data(), p.data(), rows, C);
  return make_result("softmax", std::move(p), {x}, [xn = x.node(), rows, C](Node& self) {
    softmax_rows_backward(self.value.data(), self.grad.data(), grad_buffer(*xn).data(), rows, C);
  });
}

// log-softmax: y = x − lse(x);  backward:  dx += dy − softmax(x) · Σ_c dy_c  (softmax = e^y)
Var log_softmax(const Var& x) {
  int64_t rows, C;
  rows_of("log_softmax", x.value(), rows, C);
  Tensor y(x.shape());
  log_softmax_rows(x.value().data(), y.data(), rows, C);
  return make_result("log_softmax", std::move(y), {x}, [xn = x.node(), rows, C](Node& self) {
    log_softmax_rows_backward(self.value.data(), self.grad.data(), grad_buffer(*xn).data(), rows, C);
  });
}

}  // namespace mgf
