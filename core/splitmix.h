#pragma once
// splitmix64's step: a bijective mixer of 64-bit words, so that seeds derived from distinct inputs
// (a run's seed with an epoch, a sample position or a rank) are unrelated.
#include <cstdint>

namespace soft {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace soft
