#include "nn/data/repeated_order.h"

#include "core/error.h"

namespace soft::data {

std::vector<int64_t> repeated_order(int64_t n, int64_t repeats, Generator& gen) {
  SOFT_CHECK(n >= 0, "repeated_order: n = ", n, " must be >= 0");
  SOFT_CHECK(repeats >= 1, "repeated_order: repeats = ", repeats, " must be >= 1");
  std::vector<int64_t> order;
  if (n == 0) return order;
  const Tensor perm = randperm(n, gen);  // [n] int64
  const int64_t* p = perm.data<int64_t>();
  order.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; static_cast<int64_t>(order.size()) < n; ++i)
    for (int64_t r = 0; r < repeats && static_cast<int64_t>(order.size()) < n; ++r) order.push_back(p[i]);
  return order;
}

}  // namespace soft::data
