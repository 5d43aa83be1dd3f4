// engine/kernels/cpu.cpp — CPU feature detection and the MGF_KERNELS switch. See cpu.h.
#include "engine/kernels/cpu.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace mgf {

const char* kernel_mode_name(KernelMode m) {
  switch (m) {
    case KernelMode::scalar: return "scalar";
    case KernelMode::avx2: return "avx2";
    case KernelMode::avx512: return "avx512";
  }
  return "?";
}

bool cpu_has_avx2() {
#if MGF_HAVE_X86
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if MGF_HAVE_X86
  static const bool has = cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

bool cpu_has_feature(const char* feature) {
#if MGF_HAVE_X86
  // __builtin_cpu_supports wants a string literal, hence the table.
  const std::string f = feature ? feature : "";
  if (f == "avx2") return __builtin_cpu_supports("avx2");
  if (f == "fma") return __builtin_cpu_supports("fma");
  if (f == "avx512f") return __builtin_cpu_supports("avx512f");
  if (f == "avx512bw") return __builtin_cpu_supports("avx512bw");
  if (f == "avx512vl") return __builtin_cpu_supports("avx512vl");
  if (f == "avx512vpopcntdq") return __builtin_cpu_supports("avx512vpopcntdq");
  if (f == "avx512vnni") return __builtin_cpu_supports("avx512vnni");
#endif
  (void)feature;
  return false;
}

std::string cpu_lacks(KernelMode m, bool (*has)(const char* feature)) {
  if (!has) has = cpu_has_feature;
  static const char* const kAvx2[] = {"avx2", "fma"};
  static const char* const kAvx512[] = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vpopcntdq",
                                        "avx512vnni"};
  std::string out;
  auto check = [&](const char* f) {
    if (!has(f)) out += (out.empty() ? "" : ", ") + std::string(f);
  };
  if (m == KernelMode::avx2)
    for (const char* f : kAvx2) check(f);
  if (m == KernelMode::avx512)
    for (const char* f : kAvx512) check(f);
  return out;
}

KernelMode parse_kernel_mode(const char* s) {
  std::string v = s ? s : "";
  if (v == "scalar") return KernelMode::scalar;
  if (v == "avx2") return KernelMode::avx2;
  if (v == "avx512") return KernelMode::avx512;
  throw std::invalid_argument("kernel mode: expected scalar, avx2 or avx512, found '" + v + "'");
}

static bool supported(KernelMode m) {
  return m == KernelMode::scalar || (m == KernelMode::avx2 && cpu_has_avx2()) ||
         (m == KernelMode::avx512 && cpu_has_avx512());
}

static KernelMode initial_mode() {
  KernelMode best = cpu_has_avx2() ? KernelMode::avx2 : KernelMode::scalar;
  const char* env = std::getenv("MGF_KERNELS");
  if (!env || !*env) return best;
  KernelMode m;
  try {
    m = parse_kernel_mode(env);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "MGF_KERNELS: %s; using %s\n", e.what(), kernel_mode_name(best));
    return best;
  }
  if (!supported(m)) {
    std::fprintf(stderr, "MGF_KERNELS=%s: this CPU (or build) cannot run it (it lacks %s); using %s\n", env,
                 MGF_HAVE_X86 ? cpu_lacks(m).c_str() : "x86-64", kernel_mode_name(best));
    return best;
  }
  return m;
}

static std::atomic<KernelMode>& mode_slot() {
  static std::atomic<KernelMode> m{initial_mode()};
  return m;
}

KernelMode kernel_mode() { return mode_slot().load(std::memory_order_relaxed); }

void set_kernel_mode(KernelMode m) {
  if (!supported(m))
    throw std::invalid_argument(std::string("set_kernel_mode: this CPU (or build) cannot run '") +
                                kernel_mode_name(m) + "' kernels: it lacks " +
                                (MGF_HAVE_X86 ? cpu_lacks(m) : std::string("x86-64")));
  mode_slot().store(m, std::memory_order_relaxed);
}

}  // namespace mgf
