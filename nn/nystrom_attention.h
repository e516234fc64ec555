#pragma once
// Nystromformer (Xiong et al., AAAI 2021), as its official code (mlpen/Nystromformer):
//   q, k scaled by d^-1/4 each; landmarks q~, k~ = means of m contiguous token segments
//   out = softmax(q k~^T) pinv(softmax(q~ k~^T)) (softmax(q~ k^T) v) + dwconv(v)
// pinv by the iterative Moore-Penrose scheme (Razavi et al.), Z0 = A^T / max column sum of A,
//   Z <- Z (13 I - A Z (15 I - A Z (7 I - A Z))) / 4
// and a depthwise (kernel x 1) conv per head along the token sequence of v (the skip). Segments
// are adaptive-pooling windows, so m need not divide N; m is capped at N.
#include "nn/layers.h"
#include "nn/token_attention.h"

namespace soft::nn {

class NystromAttention : public TokenAttention {
 public:
  NystromAttention(int64_t dim, int64_t heads, int64_t landmarks, int64_t pinv_iterations, int64_t conv_kernel);
  Tensor forward(const Tensor& x, int64_t H, int64_t W) override;
  int64_t heads, landmarks, pinv_iterations;
  std::shared_ptr<Linear> q, kv, proj;
  std::shared_ptr<Conv2d> conv;  // [h, 1, kernel, 1], groups = h
};

}  // namespace soft::nn
