#pragma once
// The fused update kernels of the optimisers (used by nn/optim/optimizer.cpp): one call updates every
// parameter of a group in place, so the CUDA backend (cuda/optim.cu) launches one kernel per group
// instead of one per tensor. params[i], grads[i] and the state tensors [i] are contiguous, with
// the same shape, dtype and device.
#include <vector>

#include "core/tensor.h"

namespace soft {

struct AdamWCoeffs {
  double lr, weight_decay, beta1, beta2, eps, bias_correction1, bias_correction2;
};

// Same operation order as PyTorch's single-tensor AdamW, per element:
//   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).
using AdamWStep = void(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                       const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq, const AdamWCoeffs&);

struct SgdCoeffs {
  double lr, weight_decay, momentum;
  bool nesterov;
};

// Per element: d = g + wd p; with momentum, buf = mu buf + d and d = nesterov ? d + mu buf : buf
// (a new buffer starts at zero, so its first value is d, as PyTorch's); p -= lr d.
// momentum_buffers is empty when momentum is 0.
using SgdStep = void(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     const std::vector<Tensor>& momentum_buffers, const SgdCoeffs&);

}  // namespace soft
