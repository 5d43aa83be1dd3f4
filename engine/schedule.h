// engine/schedule.h — learning-rate schedules: step, multi-step, cosine, linear warm-up.
//
// A schedule is a function of training progress t, measured in epochs (fractional values are
// allowed, so a loop may update per batch). The caller writes the result into Optimizer::lr:
//   LrSchedule s = cosine_schedule(0.05f, 20);  s.warmup = 1;
//   for (int e = 0; e < 20; ++e) { s.apply(opt, e); train_epoch(...); }
// Formulas (η0 = base, γ = gamma):
//   step:       η0 · γ^⌊t / step_size⌋                       (AlexNet, Caffe "step")
//   multi-step: η0 · γ^(number of milestones ≤ t)            (ResNet: ÷10 at fixed epochs)
//   cosine:     η_min + (η0 − η_min) · (1 + cos(π t / T)) / 2  (Loshchilov & Hutter 2017, no restarts)
//   warm-up:    the above times f(t) = s + (1 − s)·min(1, t / warmup), s = warmup_start (Goyal 2017)
// Book: book/03-training.md. Deliberately not here: restarts, plateau detection, polynomial decay.
#pragma once
#include <cstdint>
#include <vector>

namespace mgf {

class Optimizer;

struct LrSchedule {
  enum class Kind { constant, step, multistep, cosine };
  Kind kind = Kind::constant;
  float base = 0.01f;                 // η0
  float gamma = 0.1f;                 // step / multi-step factor
  int64_t step_size = 1;              // step: epochs between decays
  std::vector<int64_t> milestones;    // multi-step: epochs at which η is multiplied by γ
  double total = 1.0;                 // cosine: T, the epoch at which η reaches η_min
  float min_lr = 0.0f;                // cosine: η_min
  double warmup = 0.0;                // epochs of linear warm-up (0 = none)
  float warmup_start = 0.01f;         // s: the fraction of η the warm-up starts from

  float at(double t) const;           // η at progress t (epochs); t < 0 is treated as 0
  void apply(Optimizer& opt, double t) const;  // opt.lr = at(t)
};

LrSchedule constant_schedule(float base);
LrSchedule step_schedule(float base, int64_t step_size, float gamma);
LrSchedule multistep_schedule(float base, std::vector<int64_t> milestones, float gamma);
LrSchedule cosine_schedule(float base, double total_epochs, float min_lr = 0.0f);

}  // namespace mgf
