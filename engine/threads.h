// engine/threads.h — one small pool of std::thread behind parallel_for.
//
// MGF_THREADS sets the number of threads (default: the hardware's); set_num_threads()
// changes it at run time. parallel_for splits [begin, end) into at most num_threads()
// contiguous chunks of at least `grain` items; chunk boundaries depend only on the range,
// the grain and the thread count, so results are bit-for-bit reproducible for a given
// thread count. Nested calls run serially in the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace mgf {

int num_threads();
void set_num_threads(int n);   // n >= 1; throws std::invalid_argument otherwise

// fn(lo, hi) is called on disjoint sub-ranges that cover [begin, end) exactly once.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t lo, int64_t hi)>& fn);

}  // namespace mgf
