#pragma once
// Kernel signatures and result types of ops/batch_norm.cpp's stubs, shared with the CUDA
// backend (cuda/batch_norm.cu). x, g are [B, C, ...] contiguous, seen as [B, C, S].
#include "core/tensor.h"

namespace soft {

// x [B, C, ...] seen as [B, C, S], S the product of the spatial dims.
struct BatchNormLayout {
  int64_t B, C, S;
  double n() const { return static_cast<double>(B * S); }  // values per channel
};

inline BatchNormLayout batch_norm_layout(const Tensor& x) {
  int64_t S = 1;
  for (int64_t d = 2; d < x.dim(); ++d) S *= x.shape()[d];
  return {x.shape()[0], x.shape()[1], S};
}

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
