#pragma once
// Kernel signatures and result types of ops/batch_norm.cpp's stubs, shared with the CUDA
// backend (cuda/batch_norm.cu). x, g are [B, C, ...] contiguous, seen as [B, C, S].
#include "core/tensor.h"

namespace soft {

struct BatchNormForward {
  Tensor y;             // x's shape
  Tensor mean, invstd;  // [C]: the statistics used (batch or running), saved for backward
  Tensor var;           // [C]: biased batch variance (training only), for the running update
};

struct BatchNormBackward {
  Tensor dx, dweight, dbias;  // dx undefined unless asked for; dweight, dbias [C]
};

// "batch_norm": weight, bias [C] or undefined; running_mean/var [C], read in eval only.
using BatchNormKernel = BatchNormForward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                         const Tensor& running_mean, const Tensor& running_var, bool training,
                                         double eps);
// "batch_norm_backward": weight [C] or undefined; mean, invstd [C] from the forward.
using BatchNormBackwardKernel = BatchNormBackward(const Tensor& g, const Tensor& x, const Tensor& weight,
                                                  const Tensor& mean, const Tensor& invstd, bool training,
                                                  bool need_dx);

}  // namespace soft
