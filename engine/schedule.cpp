// engine/schedule.cpp — see schedule.h for the formulas.
#include "engine/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/optim.h"

namespace mgf {

float LrSchedule::at(double t) const {
  t = std::max(t, 0.0);
  double eta = base;
  switch (kind) {
    case Kind::constant:
      break;
    case Kind::step:
      eta = base * std::pow(static_cast<double>(gamma), std::floor(t / static_cast<double>(step_size)));
      break;
    case Kind::multistep: {
      int passed = 0;
      for (int64_t m : milestones)
        if (t >= static_cast<double>(m)) ++passed;
      eta = base * std::pow(static_cast<double>(gamma), passed);
      break;
    }
    case Kind::cosine: {
      double u = std::min(t / total, 1.0);  // past T the rate stays at η_min
      eta = min_lr + (base - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * u));
      break;
    }
  }
  if (warmup > 0.0) eta *= warmup_start + (1.0 - warmup_start) * std::min(1.0, t / warmup);
  return static_cast<float>(eta);
}

void LrSchedule::apply(Optimizer& opt, double t) const { opt.lr = at(t); }

LrSchedule constant_schedule(float base) {
  LrSchedule s;
  s.base = base;
  return s;
}

LrSchedule step_schedule(float base, int64_t step_size, float gamma) {
  if (step_size < 1) throw std::invalid_argument("step_schedule: step_size must be >= 1, found " + std::to_string(step_size));
  LrSchedule s;
  s.kind = LrSchedule::Kind::step;
  s.base = base;
  s.step_size = step_size;
  s.gamma = gamma;
  return s;
}

LrSchedule multistep_schedule(float base, std::vector<int64_t> milestones, float gamma) {
  if (!std::is_sorted(milestones.begin(), milestones.end()))
    throw std::invalid_argument("multistep_schedule: milestones must be increasing");
  LrSchedule s;
  s.kind = LrSchedule::Kind::multistep;
  s.base = base;
  s.milestones = std::move(milestones);
  s.gamma = gamma;
  return s;
}

LrSchedule cosine_schedule(float base, double total_epochs, float min_lr) {
  if (!(total_epochs > 0.0))
    throw std::invalid_argument("cosine_schedule: total epochs must be > 0, found " + std::to_string(total_epochs));
  LrSchedule s;
  s.kind = LrSchedule::Kind::cosine;
  s.base = base;
  s.total = total_epochs;
  s.min_lr = min_lr;
  return s;
}

BatchSchedule::BatchSchedule(LrSchedule s, int64_t per_epoch) : shape(std::move(s)), batches_per_epoch(per_epoch) {
  if (per_epoch < 1)
    throw std::invalid_argument("BatchSchedule: batches per epoch must be >= 1, found " + std::to_string(per_epoch));
}

float BatchSchedule::lr() const {
  const double per_epoch = static_cast<double>(batches_per_epoch);
  if (restart_batch >= 0 && batch >= restart_batch) return restart_shape.at(static_cast<double>(batch - restart_batch) / per_epoch);
  return shape.at(static_cast<double>(batch) / per_epoch);
}

void BatchSchedule::reset(Optimizer& opt) {
  batch = 0;
  opt.lr = lr();
}

void BatchSchedule::step(Optimizer& opt) {
  ++batch;
  opt.lr = lr();
}

}  // namespace mgf
