#include "nn/nystrom_attention.h"

#include <algorithm>
#include <cmath>

namespace soft::nn {

NystromAttention::NystromAttention(int64_t dim, int64_t heads, int64_t landmarks, int64_t pinv_iterations,
                                   int64_t conv_kernel)
    : heads(heads), landmarks(landmarks), pinv_iterations(pinv_iterations) {
  SOFT_CHECK(heads > 0 && dim % heads == 0, "NystromAttention: dim ", dim, " is not divisible by ", heads, " heads");
  SOFT_CHECK(conv_kernel % 2 == 1, "NystromAttention: the conv kernel must be odd, got ", conv_kernel);
  q = register_module("q", std::make_shared<Linear>(dim, dim));
  kv = register_module("kv", std::make_shared<Linear>(dim, 2 * dim));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim));
  conv = register_module("conv", std::make_shared<Conv2d>(heads, heads, std::array<int64_t, 2>{conv_kernel, 1},
                                                          std::array<int64_t, 2>{conv_kernel / 2, 0}, heads, false));
}

Tensor NystromAttention::forward(const Tensor& x, int64_t H, int64_t W) {
  SOFT_CHECK(x.dim() == 3 && x.size(1) == H * W, "NystromAttention: input ", shape_str(x.shape()), " is not [B, ", H,
             "*", W, ", C]");
  int64_t B = x.size(0), N = x.size(1), C = x.size(2), d = C / heads;
  double scale = 1.0 / std::sqrt(std::sqrt(static_cast<double>(d)));
  Tensor qh = mul_scalar(permute(reshape(q->forward(x), {B, N, heads, d}), {0, 2, 1, 3}), scale);  // [B, h, N, d]
  Tensor kvh = permute(reshape(kv->forward(x), {B, N, 2, heads, d}), {2, 0, 3, 1, 4});             // [2, B, h, N, d]
  Tensor k = mul_scalar(squeeze(slice(kvh, 0, 0, 1), 0), scale), v = squeeze(slice(kvh, 0, 1, 2), 0);
  Tensor out = add(nystrom_attention(qh, k, v, landmarks, pinv_iterations), conv->forward(v));     // [B, h, N, d]
  return proj->forward(reshape(transpose(out, 1, 2), {B, N, C}));
}

}  // namespace soft::nn
