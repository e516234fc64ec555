#pragma once
// A synthetic labelled image dataset for tests and smoke runs: each class has a fixed random
// pattern and every image is that pattern plus uniform noise, so a model can learn (and overfit) it.
#include <cstdint>

#include "nn/data/dataset.h"

namespace soft::data {

// images float32 [n, channels, height, width] in [0, 1]: 0.7 * pattern[label] + 0.3 * noise, with
// pattern [num_classes, C, H, W] and noise uniform in [0, 1). labels int64 [n], balanced (i % K,
// then shuffled). Everything is drawn from Generator(seed), so the result depends only on the seed.
Dataset synthetic_dataset(int64_t n, int64_t channels, int64_t height, int64_t width, int64_t num_classes,
                          uint64_t seed);

}  // namespace soft::data
