// engine/io/checked.cpp — see checked.h.
#include "engine/io/checked.h"

#include <limits>
#include <stdexcept>
#include <string>

namespace mgf {

uint64_t checked_mul(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw std::overflow_error(std::string(what) + ": " + std::to_string(a) + " × " + std::to_string(b) +
                              " overflows 64 bits");
  return r;
}

uint64_t checked_add(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw std::overflow_error(std::string(what) + ": " + std::to_string(a) + " + " + std::to_string(b) +
                              " overflows 64 bits");
  return r;
}

int64_t checked_numel(const std::vector<int64_t>& shape, std::string_view what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument(std::string(what) + ": negative dimension " + std::to_string(d));
    if (__builtin_mul_overflow(n, d, &n)) {
      std::string s = "[";
      for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
      throw std::overflow_error(std::string(what) + ": shape " + s + "] has more than 2^63 elements (size overflow)");
    }
  }
  return n;
}

}  // namespace mgf
