#pragma once
// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
// A counter-based generator: block `counter` under `key` is a pure function, so the CPU and
// a CUDA kernel produce the same numbers for the same (seed, offset) without sharing state.
#include <cstdint>

#include "core/host_device.h"

namespace soft {

struct PhiloxBlock {
  uint32_t w[4];
};

// The full generator: a 128-bit counter and a 64-bit key (k0, k1).
SOFT_HOST_DEVICE inline PhiloxBlock philox4x32_10(PhiloxBlock counter, uint32_t k0, uint32_t k1) {
  uint32_t c0 = counter.w[0], c1 = counter.w[1], c2 = counter.w[2], c3 = counter.w[3];
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// The framework's use: block number `counter` (the upper 64 counter bits zero) under key = seed.
SOFT_HOST_DEVICE inline PhiloxBlock philox4x32_10(uint64_t counter, uint64_t key) {
  PhiloxBlock c{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}};
  return philox4x32_10(c, static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
}

// Word i of a stream that starts at block `first_block`: four words per block.
SOFT_HOST_DEVICE inline uint32_t philox_word(uint64_t key, uint64_t first_block, uint64_t i) {
  return philox4x32_10(first_block + i / 4, key).w[i % 4];
}

// Uniform in [0, 1) with 24 random bits: exactly representable in float32 and float64.
SOFT_HOST_DEVICE inline double philox_uniform(uint64_t key, uint64_t first_block, uint64_t i) {
  return static_cast<double>(philox_word(key, first_block, i) >> 8) * (1.0 / 16777216.0);
}

}  // namespace soft
