#include "nn/soft_attention.h"

#include <cmath>

namespace soft::nn {

SoftLowRankAttention::SoftLowRankAttention(const SoftAttentionOptions& o) : options(o) {
  int64_t d = o.dim / o.heads, r = o.landmark_stride, k = o.local_kernel;
  if (o.landmarks == LandmarkKind::Conv) {
    Qlandmark_op = register_module("Qlandmark_op", std::make_shared<Conv2d>(d, d, r, r, 0, 1, false));
    Qnorm_act = register_module("Qnorm_act", std::make_shared<Sequential>());
    Qnorm_act->push_back(std::make_shared<LayerNorm>(d, 1e-5));
    Qnorm_act->push_back(std::make_shared<GELU>(GeluApprox::None));
  }
  conv = register_module("conv", std::make_shared<Conv2d>(o.heads, o.heads, k, 1, k / 2, o.heads, false));
}

int64_t landmark_pool_side(int64_t num_landmarks) {
  int64_t s = 1;
  while ((s + 1) * (s + 1) <= num_landmarks) ++s;
  return s;
}

Tensor SoftLowRankAttention::landmarks(const Tensor& q, int64_t H, int64_t W) {
  int64_t B = q.size(0), h = q.size(1), d = q.size(3), r = options.landmark_stride;
  if (options.landmarks == LandmarkKind::Pool) {
    int64_t s = landmark_pool_side(options.num_landmarks);
    return adaptive_avg_pool_tokens(q, H, W, std::min(H, s), std::min(W, s));  // [B, h, m, d]
  }
  SOFT_CHECK(H >= r && W >= r, "SoftAttention: a ", H, "x", W, " token grid is smaller than the landmark stride ", r);
  // One conv shared by all heads: the heads become batch items.
  Tensor grid = permute(reshape(q, {B * h, H, W, d}), {0, 3, 1, 2});        // [B*h, d, H, W]
  Tensor lm = Qlandmark_op->forward(grid);                                   // [B*h, d, H/r, W/r]
  int64_t m = lm.size(2) * lm.size(3);
  lm = reshape(transpose(flatten(lm, 2), 1, 2), {B, h, m, d});              // [B, h, m, d]
  return Qnorm_act->forward(lm);
}

Tensor SoftLowRankAttention::forward(const Tensor& q, const Tensor& v, int64_t H, int64_t W) {
  int64_t B = q.size(0), h = q.size(1), N = q.size(2), d = q.size(3);
  Tensor lm = landmarks(q, H, W);                                       // [B, h, m, d]
  Tensor k2 = gaussian_kernel(lm, lm);                                  // [B, h, m, m]
  Tensor k2_inv = newton_inverse(k2, options.newton_iterations, options.newton_form);
  if (options.soft_norm) {
    Tensor inv_sqrt_rows = rsqrt(sum(k2, {-1}, true));                  // [B, h, m, 1]
    k2_inv = mul(mul(inv_sqrt_rows, k2_inv), transpose(inv_sqrt_rows, -1, -2));
  }
  // K1 (K2^+ (K1^T V)) with K1 = gaussian_kernel(q, lm) [B, h, N, m]: the same product as
  // (K1 K2^+)(K1^T V), associated so that no [N, m] x [m, m] product (N m^2 multiply-adds) is
  // formed: 2 N m d + m^2 d instead. One op, which makes a large K1 in row blocks, never whole.
  Tensor out = gaussian_lowrank_attention(q, lm, k2_inv, v);            // [B, h, N, d]
  // Local branch: a depthwise k x k conv per head over the value map, shared over the d channels.
  Tensor vmap = reshape(permute(reshape(v, {B, h, H, W, d}), {0, 4, 1, 2, 3}), {B * d, h, H, W});
  Tensor local = conv->forward(vmap);                                   // [B*d, h, H, W]
  local = permute(reshape(local, {B, d, h, N}), {0, 2, 3, 1});          // [B, h, N, d]
  return add(out, local);
}

SoftAttention::SoftAttention(const SoftAttentionOptions& o) : options(o) {
  SOFT_CHECK(o.heads > 0 && o.dim % o.heads == 0, "SoftAttention: dim ", o.dim, " is not divisible by ", o.heads,
             " heads");
  W_q = register_module("W_q", std::make_shared<Linear>(o.dim, o.dim));
  W_v = register_module("W_v", std::make_shared<Linear>(o.dim, o.dim));
  attn = register_module("attn", std::make_shared<SoftLowRankAttention>(o));
  ff = register_module("ff", std::make_shared<Linear>(o.dim, o.dim));
}

Tensor SoftAttention::forward(const Tensor& x, int64_t H, int64_t W) {
  SOFT_CHECK(x.dim() == 3 && x.size(1) == H * W && x.size(2) == options.dim, "SoftAttention: input ",
             shape_str(x.shape()), " is not [B, ", H, "*", W, ", ", options.dim, "]");
  int64_t B = x.size(0), N = x.size(1), h = options.heads, d = options.dim / h;
  auto split_heads = [&](const Tensor& t) { return transpose(reshape(t, {B, N, h, d}), 1, 2); };  // [B, h, N, d]
  Tensor q = mul_scalar(split_heads(W_q->forward(x)), 1.0 / std::sqrt(std::sqrt(static_cast<double>(d))));
  Tensor v = split_heads(W_v->forward(x));
  Tensor out = attn->forward(q, v, H, W);                                 // [B, h, N, d]
  return ff->forward(reshape(transpose(out, 1, 2), {B, N, h * d}));
}

}  // namespace soft::nn
