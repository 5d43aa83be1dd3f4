// layers/sequential.h — a chain of named modules, applied in the order they were added.
// Book: book/01-autograd.md.
//
//   auto net = std::make_shared<Sequential>();
//   net->add("fc1", std::make_shared<Linear>(784, 300));   // parameters "fc1.weight", ...
//   net->add(std::make_shared<ReLU>());                     // unnamed: named by position, "1"
//   Linear& fc1 = net->at<Linear>("fc1");
//   for (auto& [name, m] : *net) ...                        // in order
#pragma once
#include <memory>
#include <string>

#include "layers/module.h"

namespace mgf {

class Sequential : public Module {
 public:
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Sequential"; }

  // Appends m under `name` (unique, no '.'); returns m for chaining or keeping a handle.
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    check_new_name(name);
    return register_module(name, std::move(m));
  }
  // Appends m named by its position ("0", "1", ...), as PyTorch's nn.Sequential does.
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    return add(std::to_string(size()), std::move(m));
  }

  // The child called `name`; at<Linear>("fc1") also checks its type. Throws std::out_of_range
  // (unknown name) or std::invalid_argument (wrong type), naming what was asked and found.
  Module& at(const std::string& name) const;
  template <class M>
  M& at(const std::string& name) const {
    Module& m = at(name);
    M* p = dynamic_cast<M*>(&m);
    if (!p) wrong_type(name, m);
    return *p;
  }

  size_t size() const { return children().size(); }
  auto begin() const { return children().begin(); }
  auto end() const { return children().end(); }

 private:
  void check_new_name(const std::string& name) const;
  [[noreturn]] static void wrong_type(const std::string& name, const Module& found);
};

}  // namespace mgf
