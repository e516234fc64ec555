#pragma once
// Learning-rate schedule of the SOFT recipe: linear warm-up, then cosine decay to a floor (timm's
// CosineLRScheduler with warmup_t, warmup_lr_init and lr_min).
//
// Evaluated per optimiser step: `warmup` and `total` are in steps (epochs x steps per epoch).
// The official runs evaluate it per epoch (t = epoch index, warmup 10, total 310 with timm's
// cooldown); passing the epoch index with warmup/total in epochs gives that schedule.
#include <cstdint>

namespace soft::nn::optim {

struct CosineSchedule {
  double base_lr = 1e-3;
  double warmup_lr = 1e-6;
  double min_lr = 5e-5;
  int64_t warmup = 0;  // steps of linear warm-up
  int64_t total = 1;   // steps until min_lr is reached (warm-up included)
  // false: the cosine runs over [warmup, total], so lr(warmup) = base_lr exactly.
  // true: timm's default (warmup_prefix=False): the cosine phase uses t/total, so it starts
  // slightly below base_lr at the end of the warm-up.
  bool timm_no_prefix = false;

  // t < warmup: warmup_lr + (base_lr - warmup_lr) t / warmup;
  // warmup <= t < total: min_lr + (base_lr - min_lr)/2 (1 + cos(pi (t - warmup)/(total - warmup)));
  // t >= total: min_lr.
  double operator()(int64_t t) const;
};

}  // namespace soft::nn::optim
