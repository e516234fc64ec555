#include "nn/init.h"

#include <cmath>

namespace soft::nn::init {

Tensor trunc_normal(const Shape& shape, double std, double a, double b, Generator& gen) {
  return soft::trunc_normal(shape, 0.0, std, a, b, gen);
}

Tensor kaiming_uniform_default(const Shape& shape, int64_t fan_in, Generator& gen) {
  // gain = sqrt(2 / (1 + a^2)) with a = sqrt(5); bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return uniform(shape, -bound, bound, gen);
}

Tensor default_bias(int64_t n, int64_t fan_in, Generator& gen) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return uniform({n}, -bound, bound, gen);
}

}  // namespace soft::nn::init
