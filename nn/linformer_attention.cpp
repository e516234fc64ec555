#include "nn/linformer_attention.h"

#include <cmath>

#include "nn/init.h"

namespace soft::nn {

LinformerAttention::LinformerAttention(int64_t dim, int64_t heads, int64_t tokens, int64_t projected)
    : heads(heads), tokens(tokens), projected(projected) {
  SOFT_CHECK(heads > 0 && dim % heads == 0, "LinformerAttention: dim ", dim, " is not divisible by ", heads, " heads");
  SOFT_CHECK(tokens > 0 && projected > 0, "LinformerAttention: needs tokens and k > 0, got ", tokens, ", ", projected);
  scale = 1.0 / std::sqrt(static_cast<double>(dim / heads));
  q = register_module("q", std::make_shared<Linear>(dim, dim));
  kv = register_module("kv", std::make_shared<Linear>(dim, 2 * dim));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim));
  // As nn.Linear(N, k, bias=False) in the official code: uniform(-1/sqrt(N), 1/sqrt(N)).
  E = register_parameter("E", init::kaiming_uniform_default({projected, tokens}, tokens));
  F = register_parameter("F", init::kaiming_uniform_default({projected, tokens}, tokens));
}

Tensor LinformerAttention::forward(const Tensor& x, int64_t H, int64_t W) {
  SOFT_CHECK(x.dim() == 3 && x.size(1) == H * W && H * W == tokens, "LinformerAttention: input ",
             shape_str(x.shape()), " on a ", H, "x", W, " grid, but the layer was built for ", tokens,
             " tokens (Linformer's projections fix the token count: train and run at one image size)");
  int64_t B = x.size(0), N = x.size(1), C = x.size(2), d = C / heads;
  Tensor qh = permute(reshape(q->forward(x), {B, N, heads, d}), {0, 2, 1, 3});         // [B, h, N, d]
  Tensor kvh = permute(reshape(kv->forward(x), {B, N, 2, heads, d}), {2, 0, 3, 1, 4});  // [2, B, h, N, d]
  Tensor k = squeeze(slice(kvh, 0, 0, 1), 0), v = squeeze(slice(kvh, 0, 1, 2), 0);
  Tensor out = linformer_attention(qh, k, v, E, F, scale);                             // [B, h, N, d]
  return proj->forward(reshape(transpose(out, 1, 2), {B, N, C}));
}

}  // namespace soft::nn
