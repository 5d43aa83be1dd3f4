// distill/kd.cpp — see kd.h for the loss (Hinton et al. 2015 §2) and the cache file format.
#include "distill/kd.h"

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "engine/io/bytes.h"
#include "engine/io/checked.h"
#include "engine/io/crc32.h"
#include "engine/io/file.h"
#include "engine/ops.h"

namespace mgf {

namespace {
constexpr char kMagic[8] = {'M', 'G', 'F', 'T', 'L', '1', '\0', '\0'};
constexpr uint32_t kVersion = 1;
}  // namespace

Var kd_loss(const Var& student_logits, const Tensor& teacher_logits, const std::vector<int32_t>& labels, float T,
            float w_soft) {
  if (!(w_soft >= 0.0f && w_soft <= 1.0f))
    throw std::invalid_argument("kd_loss: expected a soft-target weight in [0, 1], found " + std::to_string(w_soft));
  if (!(T > 0.0f)) throw std::invalid_argument("kd_loss: expected temperature T > 0, found " + std::to_string(T));
  // §2: "multiply them by T²" keeps the soft term's gradient the same size at every T.
  Var soft = scale(soft_target_cross_entropy(student_logits, teacher_logits, T), w_soft * T * T);
  if (w_soft == 1.0f) return soft;
  return add(soft, scale(cross_entropy(student_logits, labels), 1.0f - w_soft));
}

Var logit_matching_loss(const Var& student_logits, const Tensor& teacher_logits) {
  const Tensor& z = student_logits.value();
  if (z.ndim() != 2 || z.dim(0) == 0)
    throw std::invalid_argument("logit_matching_loss: expected non-empty logits [N, C], found " + z.str());
  // mse_loss is the mean over all N·C entries; ½ Σ_c per example, averaged over N, is C/2 times it.
  return scale(mse_loss(student_logits, Var(teacher_logits)), 0.5f * static_cast<float>(z.dim(1)));
}

// ---- the teacher cache ----------------------------------------------------------------------
uint32_t dataset_fingerprint(const Dataset& d) {
  uint32_t crc = crc32(d.labels.data(), d.labels.size() * sizeof(int32_t));
  return crc32(d.images.data(), static_cast<size_t>(d.images.numel()) * sizeof(float), crc);
}

std::vector<uint8_t> encode_teacher_cache(const TeacherCache& c) {
  if (c.logits.ndim() != 2) throw std::invalid_argument("encode_teacher_cache: expected logits [N, C], found " + c.logits.str());
  ByteWriter w;
  w.bytes(kMagic, sizeof kMagic);
  w.u32(kVersion);
  w.u64(static_cast<uint64_t>(c.logits.dim(0)));
  w.u64(static_cast<uint64_t>(c.logits.dim(1)));
  w.u32(c.fingerprint);
  w.f32s(c.logits.data(), static_cast<size_t>(c.logits.numel()));
  const uint32_t crc = crc32(w.data().data(), w.size());
  w.u32(crc);
  return w.take();
}

TeacherCache decode_teacher_cache(const std::vector<uint8_t>& bytes, const std::string& name) {
  ByteReader r(bytes, "teacher cache " + name);
  const uint8_t* magic = r.bytes(sizeof kMagic, "magic");
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    throw std::runtime_error("teacher cache " + name + ": field 'magic' at byte offset 0: expected \"MGFTL1\", "
                             "found other bytes (not a teacher-logits file)");
  const uint32_t version = r.u32("version");
  if (version != kVersion)
    throw std::runtime_error("teacher cache " + name + ": field 'version' at byte offset 8: expected " +
                             std::to_string(kVersion) + ", found " + std::to_string(version));
  const uint64_t n = r.u64("N"), c = r.u64("C");
  if (n == 0 || c == 0)
    throw std::runtime_error("teacher cache " + name + ": fields 'N', 'C' at byte offset 12: expected N >= 1 and C >= 1, found N = " +
                             std::to_string(n) + ", C = " + std::to_string(c));
  const uint32_t fingerprint = r.u32("fingerprint");
  const uint64_t count = checked_mul(n, c, "teacher cache N*C");
  // The logits and the CRC must be exactly what is left: checked before anything is allocated.
  const uint64_t want = checked_add(checked_mul(count, 4, "teacher cache logits bytes"), 4, "teacher cache size");
  if (r.remaining() != want)
    throw std::runtime_error("teacher cache " + name + ": field 'logits' at byte offset " + std::to_string(r.pos()) +
                             ": N*C = " + std::to_string(count) + " floats and a CRC need " + std::to_string(want) +
                             " bytes, found " + std::to_string(r.remaining()));
  const uint32_t want_crc = crc32(bytes.data(), bytes.size() - 4);
  TeacherCache out;
  out.fingerprint = fingerprint;
  out.logits = Tensor::uninit({static_cast<int64_t>(n), static_cast<int64_t>(c)});
  r.f32s(out.logits.data(), static_cast<size_t>(count), "logits");
  const size_t crc_at = r.pos();
  const uint32_t crc = r.u32("crc32");
  if (crc != want_crc)
    throw std::runtime_error("teacher cache " + name + ": field 'crc32' at byte offset " + std::to_string(crc_at) +
                             ": expected " + std::to_string(want_crc) + ", found " + std::to_string(crc) +
                             " (the file is damaged)");
  return out;
}

void write_teacher_cache(const std::string& path, const TeacherCache& c) {
  write_bytes_atomic(path, encode_teacher_cache(c));
}

TeacherCache read_teacher_cache(const std::string& path) { return decode_teacher_cache(read_file(path), path); }

Tensor compute_logits(Module& teacher, const Dataset& d, int64_t batch) {
  if (batch < 1) throw std::invalid_argument("compute_logits: batch must be >= 1, found " + std::to_string(batch));
  const bool was_training = teacher.training();
  teacher.eval();   // dropout off: the soft targets are the trained net's, not a thinned one's
  NoGradGuard ng;
  Tensor out;
  for (int64_t begin = 0; begin < d.size(); begin += batch) {
    const int64_t b = std::min(batch, d.size() - begin);
    Tensor z = teacher(Var(d.slice(begin, b).images)).value();
    if (out.empty()) out = Tensor::uninit({d.size(), z.dim(1)});
    std::memcpy(out.data() + begin * z.dim(1), z.data(), static_cast<size_t>(z.numel()) * sizeof(float));
  }
  teacher.train(was_training);
  return out;
}

TeacherCache cached_teacher_logits(const std::string& path, Module& teacher, const Dataset& transfer, bool* computed) {
  const uint32_t fp = dataset_fingerprint(transfer);
  if (computed) *computed = false;
  if (std::filesystem::exists(path)) {
    TeacherCache c = read_teacher_cache(path);   // a damaged file is an error, not a silent recompute
    if (c.fingerprint == fp && c.logits.dim(0) == transfer.size()) return c;
  }
  TeacherCache c{compute_logits(teacher, transfer), fp};
  write_teacher_cache(path, c);
  if (computed) *computed = true;
  return c;
}

Tensor gather_cached_rows(const Tensor& cache, const DataLoader& loader, int64_t first, int64_t b) {
  const int64_t C = cache.dim(1);
  Tensor v = Tensor::uninit({b, C});
  for (int64_t i = 0; i < b; ++i) {
    const int64_t ex = loader.order()[static_cast<size_t>(first + i)];
    std::memcpy(v.data() + i * C, cache.data() + ex * C, static_cast<size_t>(C) * sizeof(float));
  }
  return v;
}

EpochStats train_epoch_cached(Module& student, Optimizer& opt, DataLoader& loader, const Tensor& teacher_logits,
                              const CachedLoss& loss, const TrainHooks& hooks, const std::string& label) {
  if (teacher_logits.ndim() != 2 || teacher_logits.dim(0) != loader.size())
    throw std::invalid_argument("train_epoch_cached: expected teacher logits [" + std::to_string(loader.size()) +
                                ", C] for the loader's examples, found " + teacher_logits.str());
  TrainHooks h = hooks;
  h.loss = [&](const Var& z, const std::vector<int32_t>& y, int64_t first) {
    return loss(z, gather_cached_rows(teacher_logits, loader, first, static_cast<int64_t>(y.size())), y);
  };
  return train_epoch(student, opt, loader, h, label);
}

EpochStats train_epoch_kd(Module& student, Optimizer& opt, DataLoader& loader, const Tensor& teacher_logits,
                          float T, float w_soft, const TrainHooks& hooks, const std::string& label) {
  return train_epoch_cached(
      student, opt, loader, teacher_logits,
      [T, w_soft](const Var& z, const Tensor& v, const std::vector<int32_t>& y) { return kd_loss(z, v, y, T, w_soft); },
      hooks, label);
}

}  // namespace mgf
