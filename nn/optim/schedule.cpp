#include "nn/optim/schedule.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace soft::nn::optim {

double CosineSchedule::operator()(int64_t t) const {
  SOFT_CHECK(warmup >= 0 && total > warmup, "CosineSchedule: needs 0 <= warmup < total (got warmup ", warmup,
             ", total ", total, ")");
  SOFT_CHECK(t >= 0, "CosineSchedule: step ", t, " is negative");
  if (t < warmup) return warmup_lr + (base_lr - warmup_lr) * static_cast<double>(t) / static_cast<double>(warmup);
  if (t >= total) return min_lr;
  double frac = timm_no_prefix ? static_cast<double>(t) / static_cast<double>(total)
                               : static_cast<double>(t - warmup) / static_cast<double>(total - warmup);
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(std::numbers::pi * frac));
}

}  // namespace soft::nn::optim
