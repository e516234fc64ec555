#pragma once
// Seeded random tensors. A Generator is (seed, offset): each draw of n numbers uses the next
// ceil(n/4) Philox blocks, so results depend only on the seed and the sequence of draws.
#include <cstdint>

#include "core/tensor.h"

namespace soft {

struct Generator {
  explicit Generator(uint64_t seed = 0) : seed(seed) {}
  uint64_t seed;
  uint64_t offset = 0;  // next unused Philox block

  // Reserves the blocks for `count` numbers (4 per block) and returns the first block.
  uint64_t reserve(uint64_t count) {
    uint64_t first = offset;
    offset += (count + 3) / 4;
    return first;
  }
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // reseeds default_generator()

Tensor uniform(const Shape& shape, double low, double high, Generator& gen = default_generator(),
               DType dtype = DType::Float32);
Tensor normal(const Shape& shape, double mean, double std, Generator& gen = default_generator(),
              DType dtype = DType::Float32);
// Normal(mean, std) restricted to [a, b] by inverting the CDF (as timm's trunc_normal_).
Tensor trunc_normal(const Shape& shape, double mean, double std, double a, double b,
                    Generator& gen = default_generator(), DType dtype = DType::Float32);
// 1 with probability p, else 0.
Tensor bernoulli(const Shape& shape, double p, Generator& gen = default_generator(),
                 DType dtype = DType::Float32);
// A uniformly random permutation of 0..n-1 (int64), by Fisher-Yates.
Tensor randperm(int64_t n, Generator& gen = default_generator());

}  // namespace soft
