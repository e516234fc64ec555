// CUDA kernel of ops/dropout.cpp (dropout and drop_path). The mask is the CPU's bit for bit: the
// CPU draws it with bernoulli(mask_shape, 1 - p, gen), i.e. it reserves numel(mask_shape) numbers
// of the Generator and keeps element i when philox_uniform(seed, first_block, i) < 1 - p; here
// each thread evaluates the same Philox function (core/philox.h) for its element, after the
// same reservation on the host, so the Generator advances as on the CPU.
#include <cstdint>

#include "core/philox.h"
#include "core/random.h"
#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"
#include "ops/dropout_kernels.h"

namespace soft::cuda {
namespace {

constexpr int kMaxDims = 8;

// x's shape and, per dim, the stride of the mask broadcast against it (0 where it broadcasts).
struct Broadcast {
  int dims;
  int64_t shape[kMaxDims];
  int64_t mask_strides[kMaxDims];
};

Broadcast broadcast_of(const Shape& x, const Shape& mask) {
  Broadcast b{static_cast<int>(x.size()), {}, {}};
  int64_t stride = 1;
  for (int d = b.dims - 1; d >= 0; --d) {
    int md = d - (b.dims - static_cast<int>(mask.size()));  // mask dims align to x's trailing ones
    int64_t size = md >= 0 ? mask[md] : 1;
    b.shape[d] = x[d];
    b.mask_strides[d] = size == 1 ? 0 : stride;
    stride *= size;
  }
  return b;
}

// mask[i] = scale where uniform number i of the stream (seed, first) is below keep, else 0: the
// CPU's bernoulli(keep) followed by mul_(mask, scale), both in T.
template <class T>
__global__ void mask_kernel(uint64_t seed, uint64_t first, double keep, T scale, int64_t n, T* mask) {
  int64_t i = thread_index();
  if (i >= n) return;
  mask[i] = philox_uniform(seed, first, static_cast<uint64_t>(i)) < keep ? scale : T(0);
}

// y = x * mask, x and y contiguous, the mask broadcast.
template <class T>
__global__ void apply_kernel(const T* x, const T* mask, Broadcast b, int64_t n, T* y) {
  int64_t i = thread_index();
  if (i >= n) return;
  int64_t rem = i, m = 0;
  for (int d = b.dims - 1; d >= 0; --d) {
    m += rem % b.shape[d] * b.mask_strides[d];
    rem /= b.shape[d];
  }
  y[i] = x[i] * mask[m];
}

Masked cuda_dropout(const char* op, const Tensor& x, const Shape& mask_shape, double p, Generator& gen) {
  SOFT_CHECK(x.dim() <= kMaxDims && mask_shape.size() <= x.shape().size(), op, ": the CUDA kernel takes at most ",
             kMaxDims, " dims and a mask of at most x's rank, got x ", shape_str(x.shape()), ", mask ",
             shape_str(mask_shape));
  int device = x.device().index;
  Tensor mask = Tensor::empty(mask_shape, x.dtype(), x.device());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  int64_t n_mask = mask.numel(), n = y.numel();
  if (p == 1) {  // nothing kept, and no numbers drawn (as the CPU)
    zero_fill(mask);
  } else {
    uint64_t first = gen.reserve(static_cast<uint64_t>(n_mask));
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      if (n_mask)
        launch_threads(mask_kernel<T>, device, n_mask, gen.seed, first, 1 - p, static_cast<T>(1 / (1 - p)), n_mask,
                       mask.data<T>());
    });
  }
  if (n == 0) return {y, mask};
  Tensor xc = x.contiguous();
  Broadcast b = broadcast_of(x.shape(), mask_shape);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    launch_threads(apply_kernel<T>, device, n, xc.data<T>(), mask.data<T>(), b, n, y.data<T>());
  });
  return {y, mask};
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("dropout", cuda_dropout);

}  // namespace soft::cuda
