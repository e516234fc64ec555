#include "core/random.h"

#include <cmath>

#include "core/parallel.h"
#include "core/philox.h"

namespace soft {
namespace {

// Fills a new contiguous tensor with value_of(i) for element i, in parallel.
template <class F>
Tensor fill_indexed(const Shape& shape, DType dtype, const char* op, F value_of) {
  SOFT_CHECK(dtype == DType::Float32 || dtype == DType::Float64, op, ": dtype ", dtype_name(dtype),
             " is not supported (float32 or float64)");
  Tensor t = Tensor::empty(shape, dtype);
  int64_t n = t.numel();
  if (dtype == DType::Float32) {
    float* p = t.data<float>();
    parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = static_cast<float>(value_of(i));
    });
  } else {
    double* p = t.data<double>();
    parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = value_of(i);
    });
  }
  return t;
}

// Standard normal number i of a stream: Box-Muller on the word pairs (0,1) and (2,3) of a block.
double standard_normal(uint64_t key, uint64_t first_block, uint64_t i) {
  PhiloxBlock b = philox4x32_10(first_block + i / 4, key);
  int pair = static_cast<int>(i % 4) / 2;
  double u1 = (b.w[2 * pair] + 0.5) * (1.0 / 4294967296.0);  // (0, 1): log is finite
  double u2 = b.w[2 * pair + 1] * (1.0 / 4294967296.0);
  double r = std::sqrt(-2.0 * std::log(u1));
  double angle = 2.0 * M_PI * u2;
  return (i % 2 == 0) ? r * std::cos(angle) : r * std::sin(angle);
}

// Inverse error function: Giles' polynomial first guess ("Approximating the erfinv function",
// GPU Computing Gems, 2011), then Newton steps on erf for double precision.
double erfinv(double y) {
  if (y <= -1.0) return -INFINITY;
  if (y >= 1.0) return INFINITY;
  double w = -std::log((1.0 - y) * (1.0 + y)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                     -0.00417768164, 0.246640727, 1.50140941})
      p = c + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                     0.00943887047, 1.00167406, 2.83297682})
      p = c + p * w;
  }
  double x = p * y;
  for (int it = 0; it < 2; ++it) x -= (std::erf(x) - y) / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
  return x;
}

double normal_cdf(double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator() = Generator(seed); }

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  uint64_t first = gen.reserve(numel_of(shape));
  return fill_indexed(shape, dtype, "uniform",
                      [&](int64_t i) { return low + (high - low) * philox_uniform(gen.seed, first, i); });
}

Tensor normal(const Shape& shape, double mean, double std, Generator& gen, DType dtype) {
  uint64_t first = gen.reserve(numel_of(shape));
  return fill_indexed(shape, dtype, "normal",
                      [&](int64_t i) { return mean + std * standard_normal(gen.seed, first, i); });
}

Tensor trunc_normal(const Shape& shape, double mean, double std, double a, double b, Generator& gen,
                    DType dtype) {
  SOFT_CHECK(std > 0 && a < b, "trunc_normal: needs std > 0 and a < b (got std ", std, ", a ", a, ", b ", b, ")");
  double lo = 2.0 * normal_cdf((a - mean) / std) - 1.0;
  double hi = 2.0 * normal_cdf((b - mean) / std) - 1.0;
  uint64_t first = gen.reserve(numel_of(shape));
  return fill_indexed(shape, dtype, "trunc_normal", [&](int64_t i) {
    double u = lo + (hi - lo) * philox_uniform(gen.seed, first, i);
    double x = mean + std * std::sqrt(2.0) * erfinv(u);
    return std::min(std::max(x, a), b);
  });
}

Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype) {
  SOFT_CHECK(p >= 0 && p <= 1, "bernoulli: probability ", p, " is outside [0, 1]");
  uint64_t first = gen.reserve(numel_of(shape));
  return fill_indexed(shape, dtype, "bernoulli",
                      [&](int64_t i) { return philox_uniform(gen.seed, first, i) < p ? 1.0 : 0.0; });
}

Tensor randperm(int64_t n, Generator& gen) {
  SOFT_CHECK(n >= 0, "randperm: n = ", n, " is negative");
  Tensor t = Tensor::empty({n}, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  uint64_t first = gen.reserve(2 * static_cast<uint64_t>(n));
  for (int64_t i = n - 1; i > 0; --i) {
    uint64_t r = (static_cast<uint64_t>(philox_word(gen.seed, first, 2 * i)) << 32) |
                 philox_word(gen.seed, first, 2 * i + 1);
    std::swap(p[i], p[r % static_cast<uint64_t>(i + 1)]);
  }
  return t;
}

}  // namespace soft
