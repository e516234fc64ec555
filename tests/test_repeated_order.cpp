// DeiT's repeated augmentation order (nn/data/repeated_order.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "core/error.h"
#include "nn/data/repeated_order.h"

using namespace soft;
using namespace soft::data;

TEST_CASE("repeated_order holds ceil(n / repeats) distinct images, each repeats times in a row") {
  for (int64_t n : {1, 2, 10, 11, 12, 100}) {
    Generator gen(7);
    const std::vector<int64_t> order = repeated_order(n, 3, gen);
    REQUIRE(static_cast<int64_t>(order.size()) == n);
    std::map<int64_t, int64_t> count;
    for (int64_t i : order) {
      CHECK(i >= 0);
      CHECK(i < n);
      ++count[i];
    }
    CHECK(static_cast<int64_t>(count.size()) == (n + 2) / 3);
    for (size_t p = 0; p < order.size(); ++p) CHECK(order[p] == order[p - p % 3]);  // copies adjacent
    for (auto [index, c] : count) CHECK(c == (order.back() == index ? n - (n - 1) / 3 * 3 : 3));
  }
}

TEST_CASE("repeated_order is a seeded shuffle; repeats 1 is a permutation") {
  Generator a(1), b(1), c(2);
  const auto x = repeated_order(50, 3, a), y = repeated_order(50, 3, b), z = repeated_order(50, 3, c);
  CHECK(x == y);
  CHECK(x != z);
  Generator g(5);
  std::vector<int64_t> perm = repeated_order(20, 1, g);
  std::sort(perm.begin(), perm.end());
  for (int64_t i = 0; i < 20; ++i) CHECK(perm[i] == i);
  Generator e(0);
  CHECK(repeated_order(0, 3, e).empty());
  CHECK_THROWS_WITH_AS(repeated_order(5, 0, e), doctest::Contains("repeats = 0"), Error);
  CHECK_THROWS_WITH_AS(repeated_order(-1, 3, e), doctest::Contains("n = -1"), Error);
}
