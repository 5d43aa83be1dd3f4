// engine/autograd.h — reverse-mode automatic differentiation at tensor granularity.
//
// In the style of micrograd: every result of an op is a Node that remembers its parents and
// a `backward` function. `Var::backward()` orders the graph topologically and calls each
// node's backward in reverse, so every node's gradient is complete before it is passed on.
// Gradients accumulate (`+=`), so a Var used twice receives the sum of both paths.
//
// An op is written as ONE function that computes the forward value and registers its
// backward right beside it (see engine/ops.h for the list and engine/ops_*.cpp for them).
// Second-order quantities (OBD, OBS) are computed by their chapters, not by double-backward.
// Book: book/01-autograd.md.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace mgf {

struct Node {
  Tensor value;
  Tensor grad;                  // empty until a gradient arrives (see grad_buffer)
  bool requires_grad = false;
  const char* op = "leaf";      // the op that made this node, for error messages
  std::vector<std::shared_ptr<Node>> parents;
  std::function<void(Node& self)> backward;  // reads self.grad, adds into the parents' grads
};

class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);

  const Tensor& value() const { return node_->value; }
  Tensor& value() { return node_->value; }
  const Tensor& grad() const { return node_->grad; }   // empty when no gradient reached it
  Tensor& grad() { return node_->grad; }
  const Shape& shape() const { return node_->value.shape(); }
  bool requires_grad() const { return node_ && node_->requires_grad; }
  bool defined() const { return node_ != nullptr; }
  const char* op() const { return node_->op; }

  // Seeds d(this)/d(this) = 1 (any shape: as if the output were summed) and walks the graph.
  void backward();
  void backward(const Tensor& seed);   // seed must have this Var's shape
  void zero_grad();                    // drops this Var's gradient (parameters use this)

  const std::shared_ptr<Node>& node() const { return node_; }
  explicit Var(std::shared_ptr<Node> n) : node_(std::move(n)) {}

 private:
  std::shared_ptr<Node> node_;
};

// ---- for writing ops -------------------------------------------------------------------
// make_result builds the output Var of an op. When recording is off (NoGradGuard) or no
// parent requires a gradient, it returns a constant and the backward function is dropped.
Var make_result(const char* op, Tensor value, std::vector<Var> parents,
                std::function<void(Node& self)> backward);

// The gradient buffer of a node, allocated as zeros on first use, so a backward can `+=`
// straight into it with a kernel (no temporary).
Tensor& grad_buffer(Node& n);
// n.grad += g (shapes must match).
void accumulate_grad(Node& n, const Tensor& g);

// ---- recording on / off ----------------------------------------------------------------
bool grad_enabled();
class NoGradGuard {   // { NoGradGuard ng; ... } — inference without building a graph
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace mgf
