// engine/rng.h — one seeded random generator, the same on every standard library.
//
// std::uniform_real_distribution and std::normal_distribution differ between standard
// libraries, so the engine draws its own numbers: xoshiro256** seeded through splitmix64,
// uniform floats from the top 24 bits, normals by Box-Muller. Same seed, same numbers,
// everywhere. `global_rng()` is the generator initialisers, dropout and data shuffling use
// unless given another; `manual_seed` resets it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mgf {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0x6d7573746f6661ULL) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  float uniform();                          // [0, 1)
  float uniform(float lo, float hi);        // [lo, hi)
  float normal(float mean = 0.0f, float stddev = 1.0f);
  int64_t randint(int64_t n);               // [0, n), unbiased; n >= 1
  bool bernoulli(float p) { return uniform() < p; }
  template <class T>
  void shuffle(std::vector<T>& v) {         // Fisher-Yates
    for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) {
      int64_t j = randint(i + 1);
      std::swap(v[static_cast<size_t>(i)], v[static_cast<size_t>(j)]);
    }
  }

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

Rng& global_rng();
void manual_seed(uint64_t seed);

// n floats uniform in [lo, hi) from a fresh Rng(seed): test and benchmark inputs.
std::vector<float> uniform_floats(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

}  // namespace mgf
