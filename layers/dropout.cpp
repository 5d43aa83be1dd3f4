// layers/dropout.cpp — see dropout.h.
#include "layers/dropout.h"

#include <stdexcept>
#include <string>

namespace mgf {

Dropout::Dropout(float p, Rng* rng) : p(p), rng_(rng) {
  if (!(p >= 0.0f && p < 1.0f)) throw std::invalid_argument("Dropout: expected 0 <= p < 1, found " + std::to_string(p));
}

}  // namespace mgf
