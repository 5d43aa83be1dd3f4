// engine/ops_linalg.cpp — matmul, linear, transpose. Forward and backward side by side;
// all the arithmetic is sgemm (engine/kernels/gemm.h). Book: book/01-autograd.md.
// Not here: batched (3-D) matmul — no chapter needs it.
#include <stdexcept>

#include "engine/kernels/elementwise.h"
#include "engine/kernels/gemm.h"
#include "engine/ops.h"

namespace mgf {

namespace {
// The gradient buffer of n for an sgemm that would add into it: when no gradient has reached
// n yet this step, the buffer is created uninitialised and beta = 0 makes the sgemm write it
// (saving grad_buffer()'s zero-fill of a whole weight matrix per step, 6 % of a LeNet-300-100
// epoch); otherwise beta = 1 accumulates, as grad_buffer() + beta = 1 would.
float* grad_for_gemm(Node& n, float& beta) {
  beta = 1.0f;
  if (n.grad.empty() || n.grad.shape() != n.value.shape()) {
    n.grad = Tensor::uninit(n.value.shape());
    beta = 0.0f;
  }
  return n.grad.data();
}
}  // namespace

// ---- matmul: Y = op(A)·op(B) ----------------------------------------------------------
// Backward (for Y = A·B):  dA += dY·Bᵀ,  dB += Aᵀ·dY. With the transposes folded in:
//   ta=0,tb=0: dA += dY·Bᵀ      dB += Aᵀ·dY
//   ta=0,tb=1: dA += dY·B       dB += dYᵀ·A
//   ta=1,tb=0: dA += B·dYᵀ      dB += A·dY
//   ta=1,tb=1: dA += Bᵀ·dYᵀ     dB += dYᵀ·Aᵀ
Var matmul(const Var& a, const Var& b, bool trans_a, bool trans_b) {
  const Tensor &A = a.value(), &B = b.value();
  if (A.ndim() != 2 || B.ndim() != 2)
    throw std::invalid_argument("matmul: expected two 2-D tensors, found " + A.str() + " and " + B.str());
  const int64_t M = trans_a ? A.dim(1) : A.dim(0), K = trans_a ? A.dim(0) : A.dim(1);
  const int64_t Kb = trans_b ? B.dim(1) : B.dim(0), N = trans_b ? B.dim(0) : B.dim(1);
  if (K != Kb)
    throw std::invalid_argument(std::string("matmul: inner dims differ: ") + A.str() + (trans_a ? "ᵀ" : "") +
                                " · " + B.str() + (trans_b ? "ᵀ" : ""));
  const Trans ta = trans_a ? Trans::T : Trans::N, tb = trans_b ? Trans::T : Trans::N;
  Tensor Y = Tensor::uninit({M, N});  // sgemm with beta = 0 writes every element
  sgemm(ta, tb, M, N, K, 1.0f, A.data(), A.dim(1), B.data(), B.dim(1), 0.0f, Y.data(), N);
  return make_result("matmul", std::move(Y), {a, b}, [an = a.node(), bn = b.node(), trans_a, trans_b, M, N, K](Node& self) {
    const float* dY = self.grad.data();  // [M, N]
    const float* pA = an->value.data();
    const float* pB = bn->value.data();
    const int64_t lda = an->value.dim(1), ldb = bn->value.dim(1);
    float beta;
    if (an->requires_grad) {
      float* dA = grad_for_gemm(*an, beta);
      if (!trans_a)  // dA[M×K] += dY · op(B)ᵀ
        sgemm(Trans::N, trans_b ? Trans::N : Trans::T, M, K, N, 1.0f, dY, N, pB, ldb, beta, dA, lda);
      else           // dA[K×M] += op(B) · dYᵀ
        sgemm(trans_b ? Trans::T : Trans::N, Trans::T, K, M, N, 1.0f, pB, ldb, dY, N, beta, dA, lda);
    }
    if (bn->requires_grad) {
      float* dB = grad_for_gemm(*bn, beta);
      if (!trans_b)  // dB[K×N] += op(A)ᵀ · dY
        sgemm(trans_a ? Trans::N : Trans::T, Trans::N, K, N, M, 1.0f, pA, lda, dY, N, beta, dB, ldb);
      else           // dB[N×K] += dYᵀ · op(A)
        sgemm(Trans::T, trans_a ? Trans::T : Trans::N, N, K, M, 1.0f, dY, N, pA, lda, beta, dB, ldb);
    }
  });
}

// ---- linear: Y = X·Wᵀ + b, one op (not matmul + add) so the bias costs one pass ---------
//   dX += dY·W        [N×in]  = [N×out]·[out×in]
//   dW += dYᵀ·X       [out×in] = [out×N]·[N×in]
//   db += Σ_n dY[n]   (column sums)
Var linear(const Var& x, const Var& w, const Var& bias) {
  const Tensor &X = x.value(), &W = w.value();
  if (X.ndim() != 2 || W.ndim() != 2 || X.dim(1) != W.dim(1))
    throw std::invalid_argument("linear: expected x [N, in] and w [out, in], found x " + X.str() + " and w " +
                                W.str());
  const int64_t N = X.dim(0), in = X.dim(1), out = W.dim(0);
  if (bias.defined() && bias.shape() != Shape{out})
    throw std::invalid_argument("linear: expected bias " + shape_str({out}) + ", found " + bias.value().str());
  Tensor Y = Tensor::uninit({N, out});  // sgemm with beta = 0 writes every element
  sgemm(Trans::N, Trans::T, N, out, in, 1.0f, X.data(), in, W.data(), in, 0.0f, Y.data(), out);
  if (bias.defined()) bias_add_rows(Y.data(), bias.value().data(), N, out);
  std::vector<Var> parents{x, w};
  if (bias.defined()) parents.push_back(bias);
  return make_result("linear", std::move(Y), std::move(parents),
                     [xn = x.node(), wn = w.node(), bn = bias.defined() ? bias.node() : nullptr, N, in,
                      out](Node& self) {
                       const float* dY = self.grad.data();
                       float beta;
                       if (xn->requires_grad) {
                         float* dX = grad_for_gemm(*xn, beta);
                         sgemm(Trans::N, Trans::N, N, in, out, 1.0f, dY, out, wn->value.data(), in, beta, dX, in);
                       }
                       if (wn->requires_grad) {
                         float* dW = grad_for_gemm(*wn, beta);
                         sgemm(Trans::T, Trans::N, out, in, N, 1.0f, dY, out, xn->value.data(), in, beta, dW, in);
                       }
                       if (bn && bn->requires_grad) sum_cols(dY, N, out, grad_buffer(*bn).data());
                     });
}

// ---- transpose: Y = Aᵀ (a copy);  dA += dYᵀ ---------------------------------------------
Var transpose(const Var& a) {
  const Tensor& A = a.value();
  check_ndim("transpose", A, 2);
  const int64_t R = A.dim(0), C = A.dim(1);
  Tensor Y({C, R});
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) Y[j * R + i] = A[i * C + j];
  return make_result("transpose", std::move(Y), {a}, [an = a.node(), R, C](Node& self) {
    float* dA = grad_buffer(*an).data();
    const float* dY = self.grad.data();
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < C; ++j) dA[i * C + j] += dY[j * R + i];
  });
}

}  // namespace mgf
