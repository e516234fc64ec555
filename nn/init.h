#pragma once
// Parameter initialisers, driven by the framework's seeded generator (core/random.h).
#include "core/random.h"

namespace soft::nn::init {

// Normal(0, std) truncated to [a, b] (absolute bounds, as timm's trunc_normal_).
Tensor trunc_normal(const Shape& shape, double std, double a = -2.0, double b = 2.0,
                    Generator& gen = default_generator());
// PyTorch's default for Linear/Conv weights: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Tensor kaiming_uniform_default(const Shape& shape, int64_t fan_in, Generator& gen = default_generator());
// PyTorch's default bias for Linear/Conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Tensor default_bias(int64_t n, int64_t fan_in, Generator& gen = default_generator());

}  // namespace soft::nn::init
