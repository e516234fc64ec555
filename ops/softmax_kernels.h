#pragma once
// Kernel signatures of ops/softmax.cpp's stubs, shared with the CUDA backend (cuda/softmax.cu).
// Tensors are contiguous and seen as [outer, D, inner] around the normalised dim.
#include "core/tensor.h"

namespace soft {

// "softmax": x -> softmax(x, dim), or log_softmax when `log`.
using SoftmaxKernel = Tensor(const Tensor& x, int64_t dim, bool log);
// "softmax_backward": g, y (the forward's output) -> dx.
using SoftmaxBackwardKernel = Tensor(const Tensor& g, const Tensor& y, int64_t dim, bool log);

}  // namespace soft
