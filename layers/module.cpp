// layers/module.cpp — see module.h.
#include "layers/module.h"

#include <stdexcept>

#include "engine/ops.h"

namespace mgf {

Var Parameter::effective() const {
  if (!has_mask()) return var;
  return mul(var, Var(mask));  // the mask is a constant: d(w⊙m)/dw = m zeroes pruned gradients
}

void Parameter::set_mask(Tensor m) {
  if (m.shape() != var.shape())
    throw std::invalid_argument("Parameter::set_mask(" + name + "): expected mask " + var.value().str() +
                                ", found " + m.str());
  float* w = var.value().data();
  for (int64_t i = 0; i < m.numel(); ++i) {
    if (m[i] != 0.0f && m[i] != 1.0f)
      throw std::invalid_argument("Parameter::set_mask(" + name + "): mask entries must be 0 or 1, found " +
                                  std::to_string(m[i]) + " at " + std::to_string(i));
    w[i] *= m[i];
  }
  mask = std::move(m);
}

Parameter& Module::register_parameter(const std::string& name, Tensor value) {
  auto p = std::make_unique<Parameter>();
  p->name = name;
  p->var = Var(std::move(value), true);
  params_.push_back(std::move(p));
  return *params_.back();
}

std::vector<NamedParameter> Module::named_parameters() {
  std::vector<NamedParameter> out;
  for (auto& p : params_) out.push_back({p->name, p.get()});
  for (auto& [cname, child] : children_)
    for (auto& np : child->named_parameters()) out.push_back({cname + "." + np.name, np.param});
  return out;
}

std::vector<Parameter*> Module::parameters() {
  std::vector<Parameter*> out;
  for (auto& np : named_parameters()) out.push_back(np.param);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  auto out = buffers_;
  for (auto& [cname, child] : children_)
    for (auto& [bname, t] : child->named_buffers()) out.push_back({cname + "." + bname, t});
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::zero_grad() {
  for (Parameter* p : parameters()) p->var.zero_grad();
}

int64_t Module::num_parameters() {
  int64_t n = 0;
  for (Parameter* p : parameters()) n += p->var.value().numel();
  return n;
}

}  // namespace mgf
