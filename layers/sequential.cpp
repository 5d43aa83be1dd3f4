// layers/sequential.cpp — see sequential.h.
#include "layers/sequential.h"

#include <stdexcept>


namespace mgf {

Var Sequential::forward(const Var& x) {
  Var h = x;
  for (auto& [name, m] : children()) h = m->forward(h);
  return h;
}

Module& Sequential::at(const std::string& name) const {
  std::string names;
  for (auto& [n, m] : children()) {
    if (n == name) return *m;
    names += (names.empty() ? "" : ", ") + n;
  }
  throw std::out_of_range("Sequential::at: no child named \"" + name + "\"; children are [" + names + "]");
}

void Sequential::check_new_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument("Sequential::add: a child name must be non-empty and without '.', found \"" +
                                name + "\"");
  for (auto& [n, m] : children())
    if (n == name) throw std::invalid_argument("Sequential::add: a child named \"" + name + "\" already exists");
}

void Sequential::wrong_type(const std::string& name, const Module& found) {
  throw std::invalid_argument("Sequential::at: child \"" + name + "\" is a " + found.type_name() +
                              ", not the type asked for");
}

}  // namespace mgf
