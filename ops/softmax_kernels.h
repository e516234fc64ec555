#pragma once
// Kernel signatures of ops/softmax.cpp's stubs, shared with the CUDA backend (cuda/softmax.cu).
// Tensors are contiguous and seen as [outer, D, inner] around the normalised dim.
#include "core/tensor.h"

namespace soft {

// x seen as [outer, D, inner] around `dim`.
struct SoftmaxLanes {
  int64_t outer = 1, D = 1, inner = 1;
};

inline SoftmaxLanes softmax_lanes(const Shape& shape, int64_t dim) {
  SoftmaxLanes l;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) l.outer *= shape[d];
    else if (d == dim) l.D = shape[d];
    else l.inner *= shape[d];
  }
  return l;
}

// "softmax": x -> softmax(x, dim), or log_softmax when `log`.
using SoftmaxKernel = Tensor(const Tensor& x, int64_t dim, bool log);
// "softmax_backward": g, y (the forward's output) -> dx.
using SoftmaxBackwardKernel = Tensor(const Tensor& g, const Tensor& y, int64_t dim, bool log);

}  // namespace soft
