#pragma once
// Mixup / CutMix with label smoothing, as timm's Mixup in mode "batch" (one lambda and one
// choice per batch; sample i is mixed with sample B-1-i, i.e. x.flip(0)).
//
// With probability `prob` a batch is mixed: when both alphas are > 0, CutMix is chosen with
// probability switch_prob, else Mixup; lambda ~ Beta(alpha, alpha) of the chosen method.
//   Mixup:  x = lam x + (1 - lam) x.flip(0).
//   CutMix: a box of area ~(1 - lam) (timm rand_bbox: sides sqrt(1 - lam) * H, W truncated,
//           centre uniform over the image, clipped to it) is pasted from x.flip(0); lam is then
//           corrected to 1 - box area / (H W).
// Targets: smoothed one-hot rows (off = smoothing/K, on = 1 - smoothing + off), mixed as
// lam t + (1 - lam) t.flip(0). Every draw comes from the Generator: same seed, same result.
#include <array>
#include <cstdint>

#include "core/random.h"
#include "core/tensor.h"

namespace soft::nn::optim {

struct MixupConfig {
  double mixup_alpha = 0.8;
  double cutmix_alpha = 1.0;
  double prob = 1.0;         // probability of mixing a batch
  double switch_prob = 0.5;  // probability of CutMix when both are enabled
  double label_smoothing = 0.1;
  int64_t num_classes = 1000;
};

// x and target are in pinned memory when the input x is (so the trainer's copy to the GPU stays
// asynchronous).
struct MixupResult {
  Tensor x;       // [B, C, H, W], a new tensor (the input is left unchanged)
  Tensor target;  // [B, K] in x's dtype, rows sum to 1
  double lam = 1.0;
  bool cutmix = false;
  std::array<int64_t, 4> box{0, 0, 0, 0};  // CutMix box rows [y0, y1), cols [x0, x1)
};

// x [B, C, H, W] float32/float64 on the CPU, labels int64 [B]; B must be even (as timm).
MixupResult mixup_cutmix(const Tensor& x, const Tensor& labels, const MixupConfig& cfg, Generator& gen);

// Smoothed one-hot targets [B, K] of int64 labels [B].
Tensor smooth_one_hot(const Tensor& labels, int64_t num_classes, double smoothing, DType dtype = DType::Float32);

// Random variates from the Generator: Gamma(shape, 1) by Marsaglia-Tsang (boosted for
// shape < 1), Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
double sample_gamma(double shape, Generator& gen);
double sample_beta(double a, double b, Generator& gen);

}  // namespace soft::nn::optim
