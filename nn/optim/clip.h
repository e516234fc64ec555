#pragma once
// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_ with the 2-norm).
#include <vector>

#include "nn/module.h"

namespace soft::nn::optim {

// total = sqrt(sum over parameters of sum(g^2)) (accumulated in float64; parameters without a
// gradient are skipped). When max_norm / (total + 1e-6) < 1 every gradient is scaled by that
// factor in place. Returns total, the norm before clipping.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
double clip_grad_norm(const Module& module, double max_norm);

}  // namespace soft::nn::optim
