#pragma once
// Performer (Choromanski et al., ICLR 2021): FAVOR+, softmax attention estimated with positive
// orthogonal random features. With x' = x d^-1/4 and W [M, d] random:
//   phi(x) = M^-1/2 (exp(W x' - |x'|^2 / 2 - c) + eps)     c: a max (numerical stability)
//   out = phi(q) (phi(k)^T v) / (phi(q) (phi(k)^T 1))       never N x N: cost N M d
// W's rows: blocks of d orthonormal rows (QR of Gaussian blocks), each row rescaled to the norm of
// a Gaussian d-vector (the official "scaling = 0"). W is redrawn every `redraw_interval` training
// forwards from (seed, layer, draw number), and kept as a buffer so a checkpoint restores it.
#include <cstdint>

#include "nn/layers.h"
#include "nn/token_attention.h"

namespace soft::nn {

// [M, d] positive-orthogonal-feature projection drawn from `seed` (float32, CPU).
Tensor orthogonal_random_features(int64_t features, int64_t d, uint64_t seed);

class PerformerAttention : public TokenAttention {
 public:
  PerformerAttention(int64_t dim, int64_t heads, int64_t features, int64_t redraw_interval, uint64_t seed);
  Tensor forward(const Tensor& x, int64_t H, int64_t W) override;
  void redraw();  // the next draw of the features
  int64_t heads, features, redraw_interval;
  uint64_t seed;
  int64_t draws = 0, forwards_since_draw = 0;
  std::shared_ptr<Linear> q, kv, proj;
  Tensor projection;  // buffer [M, d]
};

}  // namespace soft::nn
