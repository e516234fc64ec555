#pragma once
// DeiT's repeated augmentation (Hoffer et al. 2020; DeiT's RASampler): an epoch keeps its length
// n, but holds ceil(n / repeats) distinct images, each `repeats` times in a row, in a random
// order. Each copy is augmented separately (its own per-position randomness), so a batch sees
// several views of the same image. DeiT hands position p of this order to rank p mod world_size,
// which puts the copies of an image on different ranks.
#include <cstdint>
#include <vector>

#include "core/random.h"

namespace soft::data {

// The epoch's sample order: [n] indices in [0, n). repeats == 1 gives a plain permutation
// (randperm(n, gen)). Throws soft::Error unless n >= 0 and repeats >= 1.
std::vector<int64_t> repeated_order(int64_t n, int64_t repeats, Generator& gen);

}  // namespace soft::data
