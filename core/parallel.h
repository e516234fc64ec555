#pragma once
// parallel_for: splits [begin, end) into one contiguous chunk per OpenMP thread. Runs inline
// when the range is small (below `grain`) or when already inside a parallel region.
#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace soft {

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& body) {
  int64_t n = end - begin;
  if (n <= 0) return;
  int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  int64_t threads = std::min<int64_t>(max_threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
  if (threads <= 1) {
    body(begin, end);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(threads))
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (n + nt - 1) / nt;
    int64_t b = begin + t * chunk, e = std::min(end, b + chunk);
    if (b < e) body(b, e);
  }
}

inline int num_threads() { return omp_get_max_threads(); }
inline void set_num_threads(int n) { omp_set_num_threads(n); }

}  // namespace soft
