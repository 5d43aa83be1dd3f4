// engine/autograd.cpp — the graph walk. See autograd.h; book/01-autograd.md.
#include "engine/autograd.h"

#include <stdexcept>
#include <unordered_set>

#include "engine/kernels/elementwise.h"

namespace mgf {

static thread_local bool g_grad_enabled = true;

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>()) {
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

Var make_result(const char* op, Tensor value, std::vector<Var> parents,
                std::function<void(Node& self)> backward) {
  auto n = std::make_shared<Node>();
  n->value = std::move(value);
  n->op = op;
  bool any = false;
  for (const Var& p : parents) any = any || p.requires_grad();
  if (g_grad_enabled && any) {
    n->requires_grad = true;
    n->backward = std::move(backward);
    for (const Var& p : parents)
      if (p.requires_grad()) n->parents.push_back(p.node());
  }
  return Var(std::move(n));
}

Tensor& grad_buffer(Node& n) {
  if (n.grad.empty() || n.grad.shape() != n.value.shape()) n.grad = Tensor::zeros_like(n.value);
  return n.grad;
}

void accumulate_grad(Node& n, const Tensor& g) {
  if (g.shape() != n.value.shape())
    throw std::invalid_argument(std::string("backward of ") + n.op + ": gradient shape " + g.str() +
                                " does not match value shape " + n.value.str());
  Tensor& dst = grad_buffer(n);
  add_inplace(dst.data(), g.data(), dst.numel());
}

void Var::backward() { backward(Tensor::ones(shape())); }

void Var::backward(const Tensor& seed) {
  if (!requires_grad())
    throw std::invalid_argument("backward: this Var does not require a gradient (made under NoGradGuard, "
                                "or from constants only)");
  if (seed.shape() != shape())
    throw std::invalid_argument("backward: seed shape " + seed.str() + " does not match value shape " +
                                value().str());
  // Topological order by an iterative depth-first search (no recursion: graphs can be deep).
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{node_.get(), 0}};
  seen.insert(node_.get());
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->parents.size()) {
      Node* p = n->parents[i++].get();
      if (seen.insert(p).second) stack.push_back({p, 0});
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  accumulate_grad(*node_, seed);
  // Children come after their parents in `order`; walk it backwards.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    if (n->backward && !n->grad.empty()) n->backward(*n);
  }
}

void Var::zero_grad() {
  if (node_) node_->grad = Tensor();
}

}  // namespace mgf
