#pragma once
// parallel_for: splits [begin, end) into chunks that the calling thread and a pool of worker
// threads (core/parallel.cpp) claim one at a time. Runs inline when the range is small (below
// `grain` per thread) or when already inside a parallel_for body or an OpenMP region.
//
// Why a pool of our own instead of an OpenMP team: a team splits work statically, one chunk per
// thread, and ends in a barrier. On a shared 2-core machine the other thread is often
// descheduled, and every barrier then waits out its time slice (a soft_fmnist step took 6x its
// single-thread time under load). Here chunks are claimed dynamically: the caller starts at
// once, takes over the chunks a late worker has not claimed, and waits only for chunks already
// running. Results never depend on which thread ran a chunk (chunk bounds depend on the range
// and thread count only).
#include <algorithm>
#include <cstdint>

namespace soft {

// Threads a parallel_for may use: OpenMP's setting (OMP_NUM_THREADS, omp_set_num_threads) of
// the calling thread.
int num_threads();
void set_num_threads(int n);
// True inside a parallel_for body or an OpenMP parallel region: nested parallel_for calls and
// gemm's own threading run on the calling thread.
bool in_parallel();

namespace detail {
constexpr int64_t kChunksPerThread = 4;  // so a late thread's share can be taken over
// Runs task(ctx, i) for every i in [0, tasks) on up to `threads` threads, the caller included,
// and returns when all have finished. An exception thrown by a task is rethrown here (the first
// one, after every started task has finished).
void run_tasks(int64_t tasks, int threads, void (*task)(void* ctx, int64_t i), void* ctx);
}  // namespace detail

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& body) {
  int64_t n = end - begin;
  if (n <= 0) return;
  int64_t pieces = (n + std::max<int64_t>(grain, 1) - 1) / std::max<int64_t>(grain, 1);
  int64_t threads = in_parallel() ? 1 : std::min<int64_t>(num_threads(), pieces);
  if (threads <= 1) {
    body(begin, end);
    return;
  }
  int64_t chunks = std::min(pieces, threads * detail::kChunksPerThread);
  auto chunk = [&](int64_t c) { body(begin + n * c / chunks, begin + n * (c + 1) / chunks); };
  detail::run_tasks(chunks, static_cast<int>(threads),
                    [](void* ctx, int64_t c) { (*static_cast<decltype(chunk)*>(ctx))(c); }, &chunk);
}

}  // namespace soft
