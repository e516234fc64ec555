// CUDA kernels of index_select (ops/join.cpp): a gather of rows along a dim, and its backward,
// a scatter-add with atomicAdd (indices may repeat). Both view the tensors as [outer, n, inner]
// around the dim, as the CPU kernels do.
#include <cstdint>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft::cuda {
namespace {

// A shape seen as [outer, n, inner] around `dim`.
struct AroundDim {
  int64_t outer = 1, n = 1, inner = 1;
  AroundDim(const Shape& shape, int64_t dim) {
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
      if (d < dim) outer *= shape[d];
      else if (d > dim) inner *= shape[d];
    }
    n = shape[dim];
  }
};

// out [outer, K, inner] = x [outer, n, inner] at rows index[K]; E is an unsigned integer of the
// element's size, so any dtype is copied bit for bit.
template <class E>
__global__ void gather_kernel(const E* x, const int64_t* index, int64_t k, int64_t n, int64_t inner, int64_t total,
                              E* out) {
  int64_t i = thread_index();
  if (i >= total) return;
  int64_t c = i % inner, row = i / inner, j = row % k, o = row / k;
  out[i] = x[(o * n + index[j]) * inner + c];
}

// gx [outer, n, inner] (zeros) += g [outer, K, inner] at rows index[K].
template <class T>
__global__ void scatter_add_kernel(const T* g, const int64_t* index, int64_t k, int64_t n, int64_t inner,
                                   int64_t total, T* gx) {
  int64_t i = thread_index();
  if (i >= total) return;
  int64_t c = i % inner, row = i / inner, j = row % k, o = row / k;
  atomicAdd(gx + (o * n + index[j]) * inner + c, g[i]);
}

// Every index in [0, size), checked on the host (one small copy) so a bad one is a clear error,
// not an out-of-bounds read on the device.
void check_indices(const Tensor& index, int64_t size, int64_t dim) {
  Tensor host = to_device(index, Device::cpu()).contiguous();
  const int64_t* idx = host.data<int64_t>();
  for (int64_t i = 0; i < host.numel(); ++i)
    SOFT_CHECK(idx[i] >= 0 && idx[i] < size, "index_select: index[", i, "] = ", idx[i], " is out of range for dim ",
               dim, " of size ", size);
}

void cuda_index_select(const Tensor& x, const Tensor& index, int64_t dim, Tensor& out) {
  AroundDim a(x.shape(), dim);
  check_indices(index, a.n, dim);
  int64_t k = index.numel(), total = out.numel();
  if (total == 0) return;
  Tensor xc = x.contiguous(), ic = index.contiguous();
  int device = out.device().index;
  auto launch = [&](auto tag) {
    using E = decltype(tag);
    launch_threads(gather_kernel<E>, device, total, static_cast<const E*>(xc.raw_data()), ic.data<int64_t>(), k, a.n,
                   a.inner, total, static_cast<E*>(out.raw_data()));
  };
  switch (dtype_size(x.dtype())) {
    case 2: launch(uint16_t{}); break;
    case 4: launch(uint32_t{}); break;
    case 8: launch(uint64_t{}); break;
    default: SOFT_CHECK(false, "index_select: dtype ", dtype_name(x.dtype()), " has no CUDA kernel");
  }
}

void cuda_index_select_backward(const Tensor& g, const Tensor& index, int64_t dim, Tensor& gx) {
  AroundDim a(gx.shape(), dim);
  int64_t k = index.numel(), total = g.numel();
  if (total == 0) return;
  Tensor gc = g.contiguous(), ic = index.contiguous();
  int device = gx.device().index;
  dispatch_float(g.dtype(), "index_select_backward", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(scatter_add_kernel<T>, device, total, gc.data<T>(), ic.data<int64_t>(), k, a.n, a.inner, total,
                   gx.data<T>());
  });
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("index_select", cuda_index_select);
SOFT_REGISTER_CUDA_KERNEL("index_select_backward", cuda_index_select_backward);

}  // namespace soft::cuda
