// engine/threads.cpp — see threads.h. A fixed pool of workers waits on a condition
// variable; each parallel_for hands out one chunk per worker and waits for all of them.
#include "engine/threads.h"

#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mgf {
namespace {

int default_threads() {
  if (const char* env = std::getenv("MGF_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 256) return static_cast<int>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return size_; }

  void resize(int n) {
    stop();
    size_ = n;
    quit_ = false;
    // A new worker has seen every generation so far: it waits for the next job.
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, g = generation_] { work(i, g); });  // slot 0 = caller
  }

  // Runs job(slot) for slot in [0, n) — slot 0 in the calling thread — and waits for all.
  void run(int n, const std::function<void(int)>& job) {
    std::unique_lock<std::mutex> lk(m_);
    job_ = &job;
    pending_ = n - 1;
    active_ = n;
    error_ = nullptr;
    ++generation_;
    lk.unlock();
    cv_.notify_all();
    try {
      job(0);
    } catch (...) {
      std::lock_guard<std::mutex> g(m_);
      if (!error_) error_ = std::current_exception();
    }
    lk.lock();
    done_.wait(lk, [&] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int slot, uint64_t seen) {
    for (;;) {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
      if (slot >= active_) continue;
      const std::function<void(int)>* job = job_;
      lk.unlock();
      try {
        (*job)(slot);
      } catch (...) {
        std::lock_guard<std::mutex> g(m_);
        if (!error_) error_ = std::current_exception();
      }
      lk.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(m_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex m_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::exception_ptr error_;
  uint64_t generation_ = 0;
  int pending_ = 0, active_ = 0, size_ = 1;
  bool quit_ = false;
};

Pool& pool() {
  static Pool p(default_threads());
  return p;
}
std::mutex g_pool_use;            // one parallel_for at a time uses the pool
thread_local bool t_inside = false;  // nested calls run serially

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (n < 1 || n > 256)
    throw std::invalid_argument("set_num_threads: expected 1..256, found " + std::to_string(n));
  std::lock_guard<std::mutex> g(g_pool_use);
  if (n != pool().size()) pool().resize(n);
}

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
  int64_t total = end - begin;
  int64_t chunks = std::min<int64_t>(num_threads(), (total + grain - 1) / grain);
  if (chunks <= 1 || t_inside) {
    fn(begin, end);
    return;
  }
  std::unique_lock<std::mutex> use(g_pool_use, std::try_to_lock);
  if (!use.owns_lock()) {  // another thread is using the pool: do the work here, serially
    fn(begin, end);
    return;
  }
  int n = static_cast<int>(chunks);
  std::function<void(int)> job = [&](int slot) {
    int64_t lo = begin + total * slot / n, hi = begin + total * (slot + 1) / n;
    t_inside = true;
    fn(lo, hi);
    t_inside = false;
  };
  pool().run(n, job);
}

}  // namespace mgf
