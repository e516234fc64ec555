#pragma once
// SOFT: softmax-free attention with linear cost (Lu et al., NeurIPS 2021; official master form).
//
//   Q = W_q(x) / d^(1/4)            keys are the queries (K = Q): the kernel is symmetric
//   L = GELU(LN(conv_r(Q)))         m landmarks from a stride-r conv over Q's token grid
//   K1 = exp(-|Q - L|^2 / 2)        [B, h, N, m]
//   K2 = exp(-|L - L|^2 / 2)        [B, h, m, m]
//   out = ff((K1 K2^+) (K1^T V) + dwconv_k(V))    never N x N; K2^+ by Newton iterations
//
// Module names follow the official state_dict: mha.{W_q, W_v, attn.{Qlandmark_op, Qnorm_act.0,
// conv}, ff}.
#include "nn/container.h"
#include "nn/layers.h"
#include "nn/token_attention.h"

namespace soft::nn {

struct SoftAttentionOptions {
  int64_t dim = 64;
  int64_t heads = 2;
  int64_t landmark_stride = 8;  // r
  int64_t local_kernel = 9;     // k
  int64_t newton_iterations = 20;
  NewtonForm newton_form = NewtonForm::Journal;
  bool soft_norm = false;       // D^-1/2 K2^+ D^-1/2, D = diag(row sums of K2)
  // Pool: L = adaptive_avg_pool(Q) to a fixed s x s grid, s = sqrt(num_landmarks) (no parameters,
  // no LN/GELU): m stays fixed however many tokens, so cost is linear in N.
  LandmarkKind landmarks = LandmarkKind::Conv;
  int64_t num_landmarks = 64;
};

// The side s of the pooled landmark grid for num_landmarks: floor(sqrt(num_landmarks)).
int64_t landmark_pool_side(int64_t num_landmarks);

// The low-rank attention proper ("attn"), given the projected q and v: landmarks, K1, K2, the
// inverse, the products and the local branch. (Named for what it computes: "kernel" here means
// only the Gaussian kernel of the math, never this Module or device code.)
class SoftLowRankAttention : public Module {
 public:
  explicit SoftLowRankAttention(const SoftAttentionOptions& o);
  // q (already scaled), v: [B, h, N, d] on an H x W grid -> [B, h, N, d]
  Tensor forward(const Tensor& q, const Tensor& v, int64_t H, int64_t W);
  // The landmarks of q: [B, h, m, d] with m = (H / r) * (W / r) (conv) or min(H, s) * min(W, s) (pool)
  Tensor landmarks(const Tensor& q, int64_t H, int64_t W);
  SoftAttentionOptions options;
  std::shared_ptr<Conv2d> Qlandmark_op, conv;
  std::shared_ptr<Sequential> Qnorm_act;
};

// The attention layer ("mha"): projections, heads, the low-rank attention and the output projection.
class SoftAttention : public TokenAttention {
 public:
  explicit SoftAttention(const SoftAttentionOptions& o);
  Tensor forward(const Tensor& x, int64_t H, int64_t W) override;  // [B, N, C] -> [B, N, C], N = H * W
  SoftAttentionOptions options;
  std::shared_ptr<Linear> W_q, W_v, ff;
  std::shared_ptr<SoftLowRankAttention> attn;
};

}  // namespace soft::nn
