// layers/init.cpp — see init.h (the formulas and where they come from are there).
#include "layers/init.h"

#include <cmath>
#include <stdexcept>

namespace mgf {

namespace {
int64_t receptive(const Tensor& w) {  // KH·KW for a conv weight, 1 for a linear one
  if (w.ndim() == 2) return 1;
  if (w.ndim() == 4) return w.dim(2) * w.dim(3);
  shape_error("fan_in/fan_out", "a weight [out, in] or [OC, C/groups, KH, KW]", w.shape());
}
}  // namespace

int64_t fan_in(const Tensor& w) { return w.dim(1) * receptive(w); }
int64_t fan_out(const Tensor& w) { return w.dim(0) * receptive(w); }
float kaiming_gain(float a) { return std::sqrt(2.0f / (1.0f + a * a)); }

void uniform_init(Tensor& t, float lo, float hi, Rng& rng) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(lo, hi);
}

void normal_init(Tensor& t, float mean, float stddev, Rng& rng) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.normal(mean, stddev);
}

static float fan_of(const Tensor& w, FanMode m) {
  return static_cast<float>(m == FanMode::fan_in ? fan_in(w) : fan_out(w));
}

void kaiming_uniform(Tensor& w, float a, FanMode mode, Rng& rng) {
  const float b = kaiming_gain(a) * std::sqrt(3.0f / fan_of(w, mode));
  uniform_init(w, -b, b, rng);
}

void kaiming_normal(Tensor& w, float a, FanMode mode, Rng& rng) {
  normal_init(w, 0.0f, kaiming_gain(a) / std::sqrt(fan_of(w, mode)), rng);
}

void xavier_uniform(Tensor& w, float gain, Rng& rng) {
  const float b = gain * std::sqrt(6.0f / static_cast<float>(fan_in(w) + fan_out(w)));
  uniform_init(w, -b, b, rng);
}

void xavier_normal(Tensor& w, float gain, Rng& rng) {
  normal_init(w, 0.0f, gain * std::sqrt(2.0f / static_cast<float>(fan_in(w) + fan_out(w))), rng);
}

void default_init(Tensor& w, Tensor* bias, Rng& rng) {
  kaiming_uniform(w, std::sqrt(5.0f), FanMode::fan_in, rng);
  if (bias) {
    const float b = 1.0f / std::sqrt(static_cast<float>(fan_in(w)));
    uniform_init(*bias, -b, b, rng);
  }
}

}  // namespace mgf
