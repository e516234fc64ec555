#pragma once
// How the backend launches a kernel, written once. In device code, thread_index() is the calling
// thread's index in a 1-D grid. On the host:
//   launch_threads(kernel, device, n, args...)  one thread per element of n, nothing when n is 0;
//   launch(kernel, device, grid, block, args...)  a grid the caller sizes (a block per row ...);
//   launch_shared(kernel, device, grid, block, shared_bytes, args...)  the same with dynamic shared memory;
// both make `device` current, run on its stream (cuda/context.h) and turn a launch error into a
// soft::Error. zero_fill(t) zeroes t on its device's stream: the first half of each backward
// that scatters with atomicAdd (max pooling, bilinear interpolation, index_select).
#include <cstdint>
#include <utility>

#include "core/tensor.h"
#include "cuda/check.h"
#include "cuda/context.h"

namespace soft::cuda {

__device__ inline int64_t thread_index() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }

template <class... Params, class... Args>
void launch_shared(void (*kernel)(Params...), int device, dim3 grid, dim3 block, size_t shared_bytes,
                   Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  set_device(device);
  kernel<<<grid, block, shared_bytes, stream(device)>>>(std::forward<Args>(args)...);
  SOFT_CUDA_CHECK(cudaGetLastError());
}

template <class... Params, class... Args>
void launch(void (*kernel)(Params...), int device, dim3 grid, dim3 block, Args&&... args) {
  launch_shared(kernel, device, grid, block, 0, std::forward<Args>(args)...);
}

template <class... Params, class... Args>
void launch_threads(void (*kernel)(Params...), int device, int64_t n, Args&&... args) {
  if (n <= 0) return;
  launch(kernel, device, blocks_for(n), kThreads, std::forward<Args>(args)...);
}

inline void zero_fill(Tensor& t) {
  if (t.numel() == 0) return;
  int device = t.device().index;
  set_device(device);
  SOFT_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.numel() * dtype_size(t.dtype()), stream(device)));
}

}  // namespace soft::cuda
