#pragma once
// Kernel signatures and result types of ops/layer_norm.cpp's stubs, shared with the CUDA
// backend (cuda/layer_norm.cu). x, g are [rows, M] contiguous (M = numel(normalized_shape)).
#include "core/tensor.h"

namespace soft {

struct LayerNormForward {
  Tensor y;           // x's shape
  Tensor mean, rstd;  // [rows], saved for backward
};

struct LayerNormBackward {
  Tensor dx, dweight, dbias;  // each undefined unless asked for; dweight, dbias [M]
};

// "layer_norm": weight, bias [M] or undefined.
using LayerNormKernel = LayerNormForward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t M,
                                         double eps);
// "layer_norm_backward": weight [M] or undefined; mean, rstd [rows] from the forward.
using LayerNormBackwardKernel = LayerNormBackward(const Tensor& g, const Tensor& x, const Tensor& weight,
                                                  const Tensor& mean, const Tensor& rstd, int64_t M, bool need_dx,
                                                  bool need_wb);

}  // namespace soft
