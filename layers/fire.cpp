// layers/fire.cpp — see fire.h.
#include "layers/fire.h"

#include <stdexcept>
#include <string>

#include "engine/ops.h"
#include "layers/conv.h"

namespace mgf {

namespace {
void check_sizes(int64_t in, int64_t s, int64_t e1, int64_t e3, bool bypass) {
  if (in < 1 || s < 1 || e1 < 1 || e3 < 1)
    throw std::invalid_argument("Fire: expected in, s, e1, e3 >= 1, found in = " + std::to_string(in) + ", s = " +
                                std::to_string(s) + ", e1 = " + std::to_string(e1) + ", e3 = " + std::to_string(e3));
  if (bypass && in != e1 + e3)
    throw std::invalid_argument("Fire: a simple bypass adds the input to the output, so expected in = e1 + e3, found in = " +
                                std::to_string(in) + ", e1 + e3 = " + std::to_string(e1 + e3));
}
}  // namespace

Fire::Fire(int64_t in, int64_t s, int64_t e1, int64_t e3, bool bp)
    : Fire(in, s, e1, e3, bp, nullptr, nullptr, nullptr) {}

Fire::Fire(int64_t in, int64_t s, int64_t e1, int64_t e3, bool bp, std::shared_ptr<Module> sq,
           std::shared_ptr<Module> x1, std::shared_ptr<Module> x3)
    : in_channels(in), squeeze_channels(s), expand1x1_channels(e1), expand3x3_channels(e3), bypass(bp) {
  check_sizes(in, s, e1, e3, bp);
  // Default stages: the paper's convolutions; 3×3 with pad 1 keeps H×W so the two expand
  // outputs can be concatenated (§3.2).
  if (!sq) sq = std::make_shared<Conv2d>(in, s, 1);
  if (!x1) x1 = std::make_shared<Conv2d>(s, e1, 1);
  if (!x3) x3 = std::make_shared<Conv2d>(s, e3, 3, Conv2dOptions{1, 1, 1, 1});
  squeeze_ = register_module("squeeze", std::move(sq));
  expand1x1_ = register_module("expand1x1", std::move(x1));
  expand3x3_ = register_module("expand3x3", std::move(x3));
}

Var Fire::forward(const Var& x) {
  if (x.value().ndim() != 4 || x.value().dim(1) != in_channels)
    shape_error("Fire", "x [N, " + std::to_string(in_channels) + ", H, W]", x.shape());
  Var s = relu(squeeze_->forward(x));
  Var y = concat_channels({relu(expand1x1_->forward(s)), relu(expand3x3_->forward(s))});
  return bypass ? add(y, x) : y;
}

int64_t Fire::macs_per_image(const Shape& input, const Shape&) const {
  const int64_t hw = input.size() == 4 ? input[2] * input[3] : 0;
  const int64_t s = squeeze_channels;
  return hw * (in_channels * s + s * expand1x1_channels + 9 * s * expand3x3_channels);
}

}  // namespace mgf
