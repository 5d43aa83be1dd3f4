// engine/schedule.h — learning-rate schedules: step, multi-step, cosine, linear warm-up.
//
// A schedule is a function of training progress t, measured in epochs (fractional values are
// allowed). A training loop follows it per batch through a BatchSchedule (below):
//   LrSchedule s = cosine_schedule(0.05f, 20);  s.warmup = 1;
//   BatchSchedule sched(s, loader.num_batches());  TrainHooks hooks;  hooks.schedule = &sched;
//   sched.reset(opt);  for (int e = 0; e < 20; ++e) train_epoch(model, opt, loader, hooks);
// Formulas (η0 = base, γ = gamma):
//   step:       η0 · γ^⌊t / step_size⌋                       (AlexNet, Caffe "step")
//   multi-step: η0 · γ^(number of milestones ≤ t)            (ResNet: ÷10 at fixed epochs)
//   cosine:     η_min + (η0 − η_min) · (1 + cos(π t / T)) / 2  (Loshchilov & Hutter 2017, no restarts)
//   warm-up:    the above times f(t) = s + (1 − s)·min(1, t / warmup), s = warmup_start (Goyal 2017)
// BatchSchedule is how a training loop follows one of these: its clock counts batches (the unit
// is in its type and its field names), train_epoch steps it once per batch through
// TrainHooks::schedule, and it reads the shape at t = batches done / batches per epoch. One
// optional warm restart (a rewind: from batch `restart_batch` on, a second shape with its clock
// at 0) covers the retraining schedules of magnitude pruning and DNS.
// Book: book/03-training.md. Deliberately not here: plateau detection, polynomial decay.
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

// A learning-rate schedule stepped once per batch. `shape` (and `restart_shape`) have their
// lengths in epochs; the clock `batch` counts the batches done since reset().
struct BatchSchedule {
  LrSchedule shape;                  // η(t), t in epochs
  int64_t batches_per_epoch = 1;     // the loader's num_batches(): converts the clock to epochs
  int64_t batch = 0;                 // batches done
  int64_t restart_batch = -1;        // from this batch on, follow restart_shape (-1: never)
  LrSchedule restart_shape;          // its clock starts at 0 at restart_batch

  BatchSchedule() = default;
  BatchSchedule(LrSchedule s, int64_t batches_per_epoch);
  float lr() const;                  // η at the current batch
  void reset(Optimizer& opt);        // batch = 0, opt.lr = lr()
  void step(Optimizer& opt);         // one batch done: ++batch, opt.lr = lr()
};

}  // namespace mgf
