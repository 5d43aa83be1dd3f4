// engine/kernels/cpu.h — which side of every kernel runs: scalar or AVX2.
//
// The CPU is asked once (cpuid via the compiler builtin); MGF_KERNELS=scalar|avx2 in the
// environment, or set_kernel_mode(), forces one side, for teaching and for testing. Every
// kernel file follows one pattern (see book/02-kernels.md):
//
//   void name_scalar(...);                         // plain loops: the specification
//   MGF_AVX2 void name_avx2(...);                  // same contract, vector body, scalar tail
//   void name(...) { if (use_avx2()) return name_avx2(...); name_scalar(...); }
//
// On a compiler or CPU without x86 intrinsics, MGF_HAVE_X86 is 0, only scalar is built and
// used. AVX-512 variants (binary popcount, VNNI) are a clearly-labelled third side, used by
// the chapters whose claim depends on them, and are chosen the same way (use_avx512()).
#pragma once
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MGF_HAVE_X86 1
#define MGF_AVX2 __attribute__((target("avx2,fma")))
#else
#define MGF_HAVE_X86 0
#define MGF_AVX2
#endif

namespace mgf {

enum class KernelMode { scalar, avx2, avx512 };

const char* kernel_mode_name(KernelMode m);
bool cpu_has_avx2();      // AVX2 and FMA
bool cpu_has_avx512();    // AVX-512 F, BW, VL, VPOPCNTDQ and VNNI (the set our third variants use)

// The CPU features mode m needs that are missing, comma-separated (e.g. "avx512vnni"), or ""
// when all are there; named in set_kernel_mode()'s error. `has` answers for one feature name
// (default: this CPU, via cpu_has_feature()); tests pass a pretend CPU.
std::string cpu_lacks(KernelMode m, bool (*has)(const char* feature) = nullptr);
bool cpu_has_feature(const char* feature);   // avx2 fma avx512f avx512bw avx512vl avx512vpopcntdq avx512vnni

// The mode in force: MGF_KERNELS at start-up (scalar | avx2 | avx512), else the best the CPU
// has up to avx2 (AVX-512 kernels are opt-in: they are the third, labelled variant).
KernelMode kernel_mode();
// Forces a mode; throws std::invalid_argument when the CPU (or the build) cannot run it.
void set_kernel_mode(KernelMode m);
// Parses "scalar" / "avx2" / "avx512"; throws with the list of valid names otherwise.
KernelMode parse_kernel_mode(const char* s);

inline bool use_avx2() { return kernel_mode() != KernelMode::scalar; }
inline bool use_avx512() { return kernel_mode() == KernelMode::avx512; }

// RAII: force a mode for a scope (tests run a kernel both ways with it).
class KernelModeGuard {
 public:
  explicit KernelModeGuard(KernelMode m) : previous_(kernel_mode()) { set_kernel_mode(m); }
  ~KernelModeGuard() { set_kernel_mode(previous_); }
  KernelModeGuard(const KernelModeGuard&) = delete;
  KernelModeGuard& operator=(const KernelModeGuard&) = delete;

 private:
  KernelMode previous_;
};

}  // namespace mgf
