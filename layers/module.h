// layers/module.h — the small base every layer and model derives from.
//
// A Module has a forward, named parameters, named children, and a train/eval mode.
// Composition, not deep inheritance: a model is a Module that owns children.
// A Parameter carries an optional mask of the same shape (1 = kept, 0 = pruned): layers
// use `p.effective()` in forward, which multiplies by the mask, so a pruned weight is zero
// in forward and receives zero gradient — pruning chapters only set the mask.
// Book: book/01-autograd.md.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"

namespace mgf {

struct Parameter {
  std::string name;  // local name ("weight", "bias")
  Var var;           // the value and its gradient; requires_grad = true
  Tensor mask;       // empty = no mask; else same shape, entries 0 or 1

  bool has_mask() const { return !mask.empty(); }
  // The weight as the layer uses it: var ⊙ mask when a mask is set, else var.
  Var effective() const;
  // Sets (or replaces) the mask and zeroes the masked entries of the value.
  void set_mask(Tensor m);
  void clear_mask() { mask = Tensor(); }
};

struct NamedParameter {
  std::string name;  // full dotted name, e.g. "features.0.weight"
  Parameter* param;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Var forward(const Var& x) = 0;
  Var operator()(const Var& x) { return forward(x); }
  virtual std::string type_name() const = 0;  // "Linear", "Conv2d", ...

  // Every parameter of this module and its children, depth first, with dotted names.
  std::vector<NamedParameter> named_parameters();
  std::vector<Parameter*> parameters();
  // Buffers: tensors that are state but not trained (batch-norm running statistics).
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  void train(bool on = true);   // sets the mode of this module and every child
  void eval() { train(false); }
  bool training() const { return training_; }
  void zero_grad();
  int64_t num_parameters();     // total elements of every parameter

 protected:
  Parameter& register_parameter(const std::string& name, Tensor value);
  void register_buffer(const std::string& name, Tensor* t) { buffers_.push_back({name, t}); }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.push_back({name, m});
    return m;
  }

 private:
  // unique_ptr keeps each Parameter's address stable as more are registered.
  std::vector<std::unique_ptr<Parameter>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace mgf
