// The Philox 4x32-10 generator against the Random123 known answers, and the seeded random
// tensors: determinism, independence of seeds and draws, and their distributions' moments.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "core/philox.h"
#include "core/random.h"

using namespace soft;

namespace {

void check_block(const PhiloxBlock& got, const PhiloxBlock& want) {
  for (int i = 0; i < 4; ++i) {
    INFO("word ", i);
    CHECK(got.w[i] == want.w[i]);
  }
}

struct Moments {
  double mean = 0, var = 0, min = INFINITY, max = -INFINITY;
};

Moments moments_of(const Tensor& t) {
  std::vector<double> v = t.to_vector();
  Moments m;
  for (double e : v) {
    m.mean += e;
    m.min = std::min(m.min, e);
    m.max = std::max(m.max, e);
  }
  m.mean /= static_cast<double>(v.size());
  for (double e : v) m.var += (e - m.mean) * (e - m.mean);
  m.var /= static_cast<double>(v.size() - 1);
  return m;
}

double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }
double Phi(double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); }

constexpr int64_t kDraws = 100000;

}  // namespace

TEST_CASE("Philox 4x32-10 matches the Random123 known-answer vectors") {
  // Counter 0, key 0: also through the framework's (64-bit counter, 64-bit key) form.
  PhiloxBlock zero{{0, 0, 0, 0}};
  PhiloxBlock want0{{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}};
  check_block(philox4x32_10(zero, 0, 0), want0);
  check_block(philox4x32_10(uint64_t{0}, uint64_t{0}), want0);
  // All ones.
  PhiloxBlock ones{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}};
  check_block(philox4x32_10(ones, 0xffffffff, 0xffffffff),
              PhiloxBlock{{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}});
  // The digits of pi.
  PhiloxBlock pi{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  check_block(philox4x32_10(pi, 0xa4093822, 0x299f31d0),
              PhiloxBlock{{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}});
  // The 64-bit form puts counter and key low word first.
  uint64_t counter = 0x0123456789abcdefull, key = 0xfedcba9876543210ull;
  check_block(philox4x32_10(counter, key),
              philox4x32_10(PhiloxBlock{{0x89abcdef, 0x01234567, 0, 0}}, 0x76543210, 0xfedcba98));
}

TEST_CASE("random tensors read the Philox stream: element i is word i % 4 of block first + i / 4") {
  Generator gen(42);
  gen.offset = 5;
  Tensor u = uniform({7}, 0.0, 1.0, gen, DType::Float64);
  CHECK(gen.offset == 7);  // 7 numbers take two blocks
  std::vector<double> v = u.to_vector();
  for (int64_t i = 0; i < 7; ++i) {
    uint32_t word = philox4x32_10(static_cast<uint64_t>(5 + i / 4), uint64_t{42}).w[i % 4];
    CHECK(v[i] == static_cast<double>(word >> 8) / 16777216.0);
  }
}

TEST_CASE("same seed gives the same numbers; other seeds and later draws differ") {
  Generator a(7), b(7), c(8);
  std::vector<double> a1 = normal({64}, 0, 1, a).to_vector();
  std::vector<double> b1 = normal({64}, 0, 1, b).to_vector();
  std::vector<double> c1 = normal({64}, 0, 1, c).to_vector();
  CHECK(a1 == b1);
  CHECK(a1 != c1);
  std::vector<double> a2 = normal({64}, 0, 1, a).to_vector();  // the next draw: new blocks
  CHECK(a1 != a2);
  CHECK(a.offset == 32);
  // Restoring the offset replays a draw.
  Generator d(7);
  d.offset = 16;
  CHECK(normal({64}, 0, 1, d).to_vector() == a2);
  // No two values of one draw repeat (distinct counters), and manual_seed resets the default.
  std::vector<double> sorted = a1;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  manual_seed(7);
  CHECK(normal({64}, 0, 1).to_vector() == a1);
  manual_seed(7);
  Generator e(7);
  CHECK(uniform({3}, 0, 1).to_vector() == uniform({3}, 0, 1, e).to_vector());
}

TEST_CASE("uniform: values in [low, high) with the mean and variance of U(low, high)") {
  Generator gen(1);
  Moments m = moments_of(uniform({kDraws}, -2.0, 3.0, gen, DType::Float64));
  CHECK(m.min >= -2.0);
  CHECK(m.max < 3.0);
  CHECK(std::fabs(m.mean - 0.5) < 0.025);  // 5 sigma of the mean is 0.023
  CHECK(std::fabs(m.var - 25.0 / 12.0) < 0.04);  // 2%
  Moments f = moments_of(uniform({kDraws}, 0.0, 1.0, gen));
  CHECK(f.min >= 0.0);
  CHECK(f.max < 1.0);
}

TEST_CASE("normal: mean and standard deviation") {
  Generator gen(2);
  Moments m = moments_of(normal({kDraws}, 1.5, 2.0, gen, DType::Float64));
  CHECK(std::fabs(m.mean - 1.5) < 5 * 2.0 / std::sqrt(double(kDraws)));
  CHECK(std::fabs(std::sqrt(m.var) - 2.0) < 0.02);
  // Odd draw sizes use half a Box-Muller pair: still finite and deterministic.
  Tensor odd = normal({5}, 0, 1, gen);
  for (double e : odd.to_vector()) CHECK(std::isfinite(e));
}

TEST_CASE("trunc_normal: within [a, b], untruncated moments for a wide window, analytic ones for a tight one") {
  Generator gen(3);
  // std 0.02 in [-2, 2]: 100 standard deviations, so essentially N(0, 0.02^2).
  Moments wide = moments_of(trunc_normal({kDraws}, 0.0, 0.02, -2.0, 2.0, gen, DType::Float64));
  CHECK(wide.min >= -2.0);
  CHECK(wide.max <= 2.0);
  CHECK(std::fabs(wide.mean) < 5 * 0.02 / std::sqrt(double(kDraws)));
  CHECK(std::fabs(std::sqrt(wide.var) - 0.02) < 0.0002);
  // N(0, 1) truncated to [0.5, 2]: mean and variance of the truncated normal.
  double mu = 0, sigma = 1, a = 0.5, b = 2;
  double alpha = (a - mu) / sigma, beta = (b - mu) / sigma, z = Phi(beta) - Phi(alpha);
  double mean = mu + sigma * (phi(alpha) - phi(beta)) / z;
  double var = sigma * sigma *
               (1 + (alpha * phi(alpha) - beta * phi(beta)) / z - std::pow((phi(alpha) - phi(beta)) / z, 2));
  Moments tight = moments_of(trunc_normal({kDraws}, mu, sigma, a, b, gen, DType::Float64));
  CHECK(tight.min >= a);
  CHECK(tight.max <= b);
  CHECK(std::fabs(tight.mean - mean) < 5 * std::sqrt(var / double(kDraws)));
  CHECK(std::fabs(tight.var - var) < 0.02 * var);
  // Shifted and scaled: N(3, 2) truncated to [2, 5] in float32.
  alpha = (2 - 3) / 2.0, beta = (5 - 3) / 2.0, z = Phi(beta) - Phi(alpha);
  double mean2 = 3 + 2 * (phi(alpha) - phi(beta)) / z;
  Moments shifted = moments_of(trunc_normal({kDraws}, 3, 2, 2, 5, gen));
  CHECK(shifted.min >= 2);
  CHECK(shifted.max <= 5);
  CHECK(std::fabs(shifted.mean - mean2) < 0.01);
  CHECK_THROWS_AS(trunc_normal({2}, 0, 1, 1, 1, gen), Error);
  CHECK_THROWS_AS(trunc_normal({2}, 0, 0, -1, 1, gen), Error);
}

TEST_CASE("bernoulli: zeros and ones with frequency p") {
  Generator gen(4);
  std::vector<double> v = bernoulli({kDraws}, 0.3, gen).to_vector();
  double ones = 0;
  int64_t other = 0;
  for (double e : v) {
    other += e != 0.0 && e != 1.0;
    ones += e;
  }
  CHECK(other == 0);
  double p = ones / double(kDraws);
  CHECK(std::fabs(p - 0.3) < 5 * std::sqrt(0.3 * 0.7 / double(kDraws)));
  CHECK(moments_of(bernoulli({100}, 0.0, gen)).max == 0.0);
  CHECK(moments_of(bernoulli({100}, 1.0, gen)).min == 1.0);
  CHECK_THROWS_AS(bernoulli({2}, 1.5, gen), Error);
}

TEST_CASE("randperm: a permutation of 0..n-1, deterministic per seed") {
  Generator a(5), b(5), c(6);
  Tensor p = randperm(50, a);
  CHECK(p.dtype() == DType::Int64);
  std::vector<double> v = p.to_vector(), sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(sorted[i] == static_cast<double>(i));
  CHECK(v != sorted);  // shuffled (identity has probability 1/50!)
  CHECK(randperm(50, b).to_vector() == v);
  CHECK(randperm(50, c).to_vector() != v);
  CHECK(randperm(50, a).to_vector() != v);  // the next draw differs
  CHECK(randperm(0, a).numel() == 0);
  CHECK(randperm(1, a).to_vector() == std::vector<double>{0});
  // Every position sees every value over many draws (no fixed points of the shuffle).
  std::vector<int> first_seen(4, 0);
  for (int t = 0; t < 200; ++t) first_seen[static_cast<int>(randperm(4, a).to_vector()[0])]++;
  for (int count : first_seen) CHECK(count > 20);
  CHECK_THROWS_AS(randperm(-1, a), Error);
}

TEST_CASE("float32 and float64 draws from the same generator state give the same numbers") {
  auto same = [](const Tensor& f32, const Tensor& f64) {
    std::vector<double> a = f32.to_vector(), b = f64.to_vector();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == static_cast<double>(static_cast<float>(b[i])));
  };
  Generator g32(9), g64(9);
  same(uniform({101}, -1, 1, g32, DType::Float32), uniform({101}, -1, 1, g64, DType::Float64));
  same(normal({101}, 0, 1, g32, DType::Float32), normal({101}, 0, 1, g64, DType::Float64));
  same(trunc_normal({101}, 0, 1, -1, 1, g32, DType::Float32), trunc_normal({101}, 0, 1, -1, 1, g64, DType::Float64));
  same(bernoulli({101}, 0.5, g32, DType::Float32), bernoulli({101}, 0.5, g64, DType::Float64));
  CHECK(g32.offset == g64.offset);
  CHECK_THROWS_AS(uniform({2}, 0, 1, g32, DType::Int64), Error);
}
