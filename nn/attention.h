#pragma once
// Softmax multi-head attention in the form of SOFT's stage 4 (PVT style): separate q and kv
// projections, scale d^-1/2, softmax over keys, output projection.
#include "nn/layers.h"
#include "nn/token_attention.h"

namespace soft::nn {

class Attention : public TokenAttention {
 public:
  Attention(int64_t dim, int64_t heads, double attn_drop = 0.0, double proj_drop = 0.0);
  Tensor forward(const Tensor& x) override;  // [B, N, C] -> [B, N, C]
  // As a stage 1-3 attention ("softmax"): the grid does not matter.
  Tensor forward(const Tensor& x, int64_t, int64_t) override { return forward(x); }
  int64_t heads;
  double scale;
  std::shared_ptr<Linear> q, kv, proj;
  std::shared_ptr<Dropout> attn_drop, proj_drop;
};

}  // namespace soft::nn
