// The worker pool under parallel_for (core/parallel.h).
//
// A job is a count of tasks and a shared counter from which the caller and the workers claim
// them. Workers wait for the next job by spinning briefly (ops follow each other within
// microseconds) and then sleeping on a futex (std::atomic::wait), so an idle pool costs nothing.
// One job runs at a time: a parallel_for from a second thread while a job is running (a data
// loader worker, say) runs its range inline.
#include "core/parallel.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SOFT_CPU_RELAX() _mm_pause()
#else
#define SOFT_CPU_RELAX() std::this_thread::yield()
#endif

namespace soft {
namespace {

thread_local bool inside_parallel = false;

// How long a waiting thread spins before it sleeps (worker) or yields (caller).
constexpr auto kWorkerSpin = std::chrono::microseconds(100);
constexpr auto kCallerSpin = std::chrono::microseconds(20);

struct Job {
  void (*task)(void*, int64_t);
  void* ctx;
  int64_t tasks;
  int workers;  // workers allowed to join: the job's threads minus the caller
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  // Claims and runs tasks until none is left.
  void work() {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < tasks;) {
      try {
        task(ctx, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

// Spins on `ready` for `budget`, checking the clock every 64 rounds; true once ready() holds.
template <class Ready>
bool spin_until(Ready ready, std::chrono::microseconds budget) {
  auto start = std::chrono::steady_clock::now();
  for (int round = 1;; ++round) {
    if (ready()) return true;
    SOFT_CPU_RELAX();
    if (round % 64 == 0 && std::chrono::steady_clock::now() - start > budget) return ready();
  }
}

class Pool {
 public:
  // Never destroyed: a parallel_for in a static destructor still finds its pool; the sleeping
  // workers end with the process.
  static Pool& instance() {
    static Pool* pool = new Pool;
    return *pool;
  }

  void run(int64_t tasks, int threads, void (*task)(void*, int64_t), void* ctx) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return run_inline(tasks, task, ctx);  // another thread's job is running
    auto job = std::make_shared<Job>();
    job->task = task;
    job->ctx = ctx;
    job->tasks = tasks;
    job->workers = threads - 1;
    start_workers(threads - 1);
    {
      std::lock_guard<std::mutex> lock(job_mutex_);
      job_ = job;
    }
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst) > 0) epoch_.notify_all();

    inside_parallel = true;
    job->work();
    inside_parallel = false;
    // Only tasks a worker has already claimed can be left; wait for them.
    auto finished = [&] { return job->done.load(std::memory_order_acquire) == tasks; };
    if (!spin_until(finished, kCallerSpin))
      while (!finished()) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(job_mutex_);
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  static void run_inline(int64_t tasks, void (*task)(void*, int64_t), void* ctx) {
    inside_parallel = true;
    try {
      for (int64_t i = 0; i < tasks; ++i) task(ctx, i);
    } catch (...) {
      inside_parallel = false;
      throw;
    }
    inside_parallel = false;
  }

  // Grows the pool to `count` workers (called with busy_ held). They are detached: they sleep
  // when idle and end with the process.
  void start_workers(int count) {
    for (; workers_ < count; ++workers_) std::thread([this, index = workers_] { worker_loop(index); }).detach();
  }

  void worker_loop(int index) {
    inside_parallel = true;
    uint32_t seen = epoch_.load(std::memory_order_acquire);
    for (;;) {
      auto changed = [&] { return epoch_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(changed, kWorkerSpin)) {
        sleeping_.fetch_add(1, std::memory_order_seq_cst);
        while (!changed()) epoch_.wait(seen, std::memory_order_seq_cst);
        sleeping_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = epoch_.load(std::memory_order_acquire);
      std::shared_ptr<Job> job;
      {
        std::lock_guard<std::mutex> lock(job_mutex_);
        job = job_;
      }
      if (job && index < job->workers) job->work();
    }
  }

  std::mutex busy_;       // held by the thread whose job is running
  std::mutex job_mutex_;  // guards job_
  std::shared_ptr<Job> job_;
  std::atomic<uint32_t> epoch_{0};  // bumped for every job: the workers wait on it
  std::atomic<int> sleeping_{0};
  int workers_ = 0;
};

}  // namespace

int num_threads() { return omp_get_max_threads(); }
void set_num_threads(int n) { omp_set_num_threads(n); }
bool in_parallel() { return inside_parallel || omp_in_parallel(); }

namespace detail {
void run_tasks(int64_t tasks, int threads, void (*task)(void*, int64_t), void* ctx) {
  Pool::instance().run(tasks, threads, task, ctx);
}
}  // namespace detail

}  // namespace soft
