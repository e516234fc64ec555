#include "nn/attention.h"

#include <cmath>

namespace soft::nn {

Attention::Attention(int64_t dim, int64_t heads, double attn_p, double proj_p) : heads(heads) {
  SOFT_CHECK(heads > 0 && dim % heads == 0, "Attention: dim ", dim, " is not divisible by ", heads, " heads");
  scale = 1.0 / std::sqrt(static_cast<double>(dim / heads));
  q = register_module("q", std::make_shared<Linear>(dim, dim));
  kv = register_module("kv", std::make_shared<Linear>(dim, 2 * dim));
  attn_drop = register_module("attn_drop", std::make_shared<Dropout>(attn_p));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim));
  proj_drop = register_module("proj_drop", std::make_shared<Dropout>(proj_p));
}

Tensor Attention::forward(const Tensor& x) {
  SOFT_CHECK(x.dim() == 3, "Attention: input must be [B, N, C], got ", shape_str(x.shape()));
  int64_t B = x.size(0), N = x.size(1), C = x.size(2), d = C / heads;
  Tensor qh = permute(reshape(q->forward(x), {B, N, heads, d}), {0, 2, 1, 3});         // [B, h, N, d]
  Tensor kvh = permute(reshape(kv->forward(x), {B, N, 2, heads, d}), {2, 0, 3, 1, 4});  // [2, B, h, N, d]
  Tensor k = squeeze(slice(kvh, 0, 0, 1), 0), v = squeeze(slice(kvh, 0, 1, 2), 0);
  Tensor attn = softmax(mul_scalar(matmul(qh, transpose(k, -2, -1)), scale), -1);    // [B, h, N, N]
  Tensor out = matmul(attn_drop->forward(attn), v);                                    // [B, h, N, d]
  out = reshape(transpose(out, 1, 2), {B, N, C});
  return proj_drop->forward(proj->forward(out));
}

}  // namespace soft::nn
