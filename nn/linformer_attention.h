#pragma once
// Linformer (Wang et al., 2020): softmax attention over keys and values first projected along the
// token axis to k rows by learned matrices E and F ([k, N], shared by the heads, as the official
// fairseq code's compress_k / compress_v "headwise sharing"). Cost N k d instead of N^2 d; N is fixed
// at construction (the stage's token count), so the layer only runs at the size it was built for.
#include "nn/layers.h"
#include "nn/token_attention.h"

namespace soft::nn {

class LinformerAttention : public TokenAttention {
 public:
  LinformerAttention(int64_t dim, int64_t heads, int64_t tokens, int64_t projected);
  Tensor forward(const Tensor& x, int64_t H, int64_t W) override;
  int64_t heads, tokens, projected;
  double scale;
  std::shared_ptr<Linear> q, kv, proj;
  Tensor E, F;  // [k, N]
};

}  // namespace soft::nn
