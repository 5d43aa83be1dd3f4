// distill/kd.h — knowledge distillation (Hinton, Vinyals, Dean 2015, "Distilling the Knowledge
// in a Neural Network"): the loss, the teacher cache, and a student's epoch on cached logits.
// Book: book/25-distillation.md. Tests: TEST_SUITE("distillation").
//
// §2: soft targets p_i = exp(v_i/T)/Σ_j exp(v_j/T) from the teacher's logits v; the student's
// q_i at the same T. The loss is a weighted average of two cross-entropies,
//   L = w_soft · T² · H(p^T, q^T) + (1 − w_soft) · H(y, q^{T=1}),
// the soft term multiplied by T² "since the magnitudes of the gradients produced by the soft
// targets scale as 1/T²" (∂H/∂z_i = (1/T)(q_i − p_i), and q − p itself shrinks as 1/T), so the
// two terms keep their relative weight when T changes. The paper puts "considerably lower
// weight" on the hard term; examples/distillation.cpp chooses w_soft on the validation split.
// The teacher cache: the teacher's logits for the transfer set are computed once, in eval
// mode (no dropout, no jitter) and written to a `.mgftl` file, so each student trains at the
// cost of a student. The file (little-endian, engine/io/bytes.h):
//   magic "MGFTL1\0\0" | u32 version (1) | u64 N | u64 C | u32 data fingerprint |
//   f32 logits[N·C] | u32 CRC-32 of everything before it
// The fingerprint is the CRC-32 of the transfer set's labels and pixels, so a cache written for
// another data slice (another --val, a --quick slice) is refused instead of silently misaligned.
// Deliberately not here: the ensemble teacher and specialists of §5 (JFT), data on the fly.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/data.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/train.h"
#include "layers/module.h"

namespace mgf {

// L = w_soft·T²·soft_target_cross_entropy(z, v, T) + (1 − w_soft)·cross_entropy(z, y).
// Throws std::invalid_argument unless 0 <= w_soft <= 1 and T > 0 (shape checks are the ops').
Var kd_loss(const Var& student_logits, const Tensor& teacher_logits, const std::vector<int32_t>& labels, float T,
            float w_soft);

// Ba & Caruana's logit matching, the high-T limit of §2.1: mean over the batch of
// ½ Σ_c (z_c − v_c)² (tests compare its gradient, divided by N·T², to the KD gradient).
Var logit_matching_loss(const Var& student_logits, const Tensor& teacher_logits);

// ---- the teacher cache ----------------------------------------------------------------------
struct TeacherCache {
  Tensor logits;            // [N, C]: the teacher's logits for the transfer set, in dataset order
  uint32_t fingerprint = 0; // dataset_fingerprint() of the transfer set they were computed on
};

uint32_t dataset_fingerprint(const Dataset& d);     // CRC-32 of labels, then pixels
std::vector<uint8_t> encode_teacher_cache(const TeacherCache& c);
// Throws std::runtime_error naming `name`, the field and the byte offset on a bad magic or
// version, a size that does not fit the bytes, a CRC mismatch or trailing bytes.
TeacherCache decode_teacher_cache(const std::vector<uint8_t>& bytes, const std::string& name);
void write_teacher_cache(const std::string& path, const TeacherCache& c);   // crash-safe (io/file.h)
TeacherCache read_teacher_cache(const std::string& path);

// The teacher's logits for every example of `d`, in eval mode, batch by batch.
Tensor compute_logits(Module& teacher, const Dataset& d, int64_t batch = 500);

// Loads `path` when it holds logits for exactly this transfer set (same fingerprint and N);
// else computes them with `teacher` and writes them there. Sets *computed when it did.
TeacherCache cached_teacher_logits(const std::string& path, Module& teacher, const Dataset& transfer,
                                   bool* computed = nullptr);

// The cached rows of the batch whose first example is at `first` in the loader's order():
// [b, C], in the batch's (shuffled) order. Used by every loss that reads cached teacher outputs.
Tensor gather_cached_rows(const Tensor& cache, const DataLoader& loader, int64_t first, int64_t b);

// One epoch of the student on loss(z, v, y), v the cached rows of the batch (gather_cached_rows):
// train_epoch with TrainHooks::loss set. The loader must serve the cache's dataset, unjittered.
using CachedLoss = std::function<Var(const Var& z, const Tensor& v, const std::vector<int32_t>& y)>;
EpochStats train_epoch_cached(Module& student, Optimizer& opt, DataLoader& loader, const Tensor& teacher_logits,
                              const CachedLoss& loss, const TrainHooks& hooks = {}, const std::string& label = "");

// One epoch of the student on kd_loss against the cached logits: the loader must serve
// `cache`'s dataset (so its order() indexes the cache) without jitter — the teacher's logits
// are for the images as they are. `hooks` as in train_epoch (after_step, schedule).
EpochStats train_epoch_kd(Module& student, Optimizer& opt, DataLoader& loader, const Tensor& teacher_logits,
                          float T, float w_soft, const TrainHooks& hooks = {}, const std::string& label = "");

}  // namespace mgf
