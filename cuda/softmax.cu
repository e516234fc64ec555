// CUDA kernels of ops/softmax.cpp: softmax and log_softmax over one dim, and their backward.
// x (contiguous) is seen as [outer, D, inner]. Over the last dim (inner == 1) each row of D
// elements gets one block; otherwise each thread owns one lane (D elements at stride inner),
// so neighbouring threads read neighbouring addresses.
#include <cmath>
#include <type_traits>

#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops/dispatch.h"
#include "ops/softmax_kernels.h"

namespace soft::cuda {
namespace {

// As on the CPU: y = exp(x - max) / sum(exp(x - max)); log: y = (x - max) - log(sum(exp(x - max))).
// The max ignores NaNs (a NaN still makes its row NaN through the sum).
template <bool Log, class T>
__global__ void forward_rows_kernel(const T* x, T* y, int64_t D) {
  const T* in = x + blockIdx.x * D;
  T* out = y + blockIdx.x * D;
  T m = -static_cast<T>(INFINITY);
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) m = MaxOp()(m, in[j]);
  m = block_reduce(m, MaxOp());
  double s = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += exp(in[j] - m);
  s = block_reduce(s, SumOp());
  if (Log) {
    T log_s = static_cast<T>(log(s));
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) out[j] = (in[j] - m) - log_s;
  } else {
    T inv = static_cast<T>(1 / s);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) out[j] = exp(in[j] - m) * inv;
  }
}

// One thread per lane t of lanes = outer * inner: element d of the lane is at p[d * inner].
template <bool Log, class T>
__global__ void forward_lanes_kernel(const T* x, T* y, int64_t D, int64_t inner, int64_t lanes) {
  int64_t t = thread_index();
  if (t >= lanes) return;
  int64_t o = t / inner, offset = o * D * inner + (t - o * inner);
  const T* in = x + offset;
  T* out = y + offset;
  T m = -static_cast<T>(INFINITY);
  for (int64_t d = 0; d < D; ++d) m = MaxOp()(m, in[d * inner]);
  double s = 0;
  for (int64_t d = 0; d < D; ++d) s += exp(in[d * inner] - m);
  if (Log) {
    T log_s = static_cast<T>(log(s));
    for (int64_t d = 0; d < D; ++d) out[d * inner] = (in[d * inner] - m) - log_s;
  } else {
    T inv = static_cast<T>(1 / s);
    for (int64_t d = 0; d < D; ++d) out[d * inner] = exp(in[d * inner] - m) * inv;
  }
}

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g).
template <bool Log, class T>
__device__ T backward_term(T g, T y) {
  return Log ? g : g * y;
}

template <bool Log, class T>
__device__ T backward_value(T g, T y, T a) {
  return Log ? g - exp(y) * a : y * (g - a);
}

template <bool Log, class T>
__global__ void backward_rows_kernel(const T* g, const T* y, T* dx, int64_t D) {
  int64_t base = blockIdx.x * D;
  double s = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += backward_term<Log>(g[base + j], y[base + j]);
  T a = static_cast<T>(block_reduce(s, SumOp()));
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x)
    dx[base + j] = backward_value<Log>(g[base + j], y[base + j], a);
}

template <bool Log, class T>
__global__ void backward_lanes_kernel(const T* g, const T* y, T* dx, int64_t D, int64_t inner, int64_t lanes) {
  int64_t t = thread_index();
  if (t >= lanes) return;
  int64_t o = t / inner, offset = o * D * inner + (t - o * inner);
  double s = 0;
  for (int64_t d = 0; d < D; ++d) s += backward_term<Log>(g[offset + d * inner], y[offset + d * inner]);
  T a = static_cast<T>(s);
  for (int64_t d = 0; d < D; ++d) {
    int64_t k = offset + d * inner;
    dx[k] = backward_value<Log>(g[k], y[k], a);
  }
}

template <bool Log, class T>
void launch_forward(const T* x, T* y, const SoftmaxLanes& l, int device) {
  if (l.inner == 1)
    launch(forward_rows_kernel<Log, T>, device, static_cast<unsigned>(l.outer), row_threads(l.D), x, y, l.D);
  else
    launch_threads(forward_lanes_kernel<Log, T>, device, l.outer * l.inner, x, y, l.D, l.inner, l.outer * l.inner);
}

template <bool Log, class T>
void launch_backward(const T* g, const T* y, T* dx, const SoftmaxLanes& l, int device) {
  if (l.inner == 1)
    launch(backward_rows_kernel<Log, T>, device, static_cast<unsigned>(l.outer), row_threads(l.D), g, y, dx, l.D);
  else
    launch_threads(backward_lanes_kernel<Log, T>, device, l.outer * l.inner, g, y, dx, l.D, l.inner, l.outer * l.inner);
}

Tensor cuda_softmax(const Tensor& x, int64_t dim, bool log) {
  SoftmaxLanes l = softmax_lanes(x.shape(), dim);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  int device = x.device().index;
  dispatch_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    if (x.numel() == 0) return;
    if (log) launch_forward<true>(x.data<T>(), y.data<T>(), l, device);
    else launch_forward<false>(x.data<T>(), y.data<T>(), l, device);
  });
  return y;
}

Tensor cuda_softmax_backward(const Tensor& g, const Tensor& y, int64_t dim, bool log) {
  SoftmaxLanes l = softmax_lanes(y.shape(), dim);
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  int device = y.device().index;
  dispatch_float(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    if (y.numel() == 0) return;
    if (log) launch_backward<true>(g.data<T>(), y.data<T>(), dx.data<T>(), l, device);
    else launch_backward<false>(g.data<T>(), y.data<T>(), dx.data<T>(), l, device);
  });
  return dx;
}

static_assert(std::is_same_v<decltype(cuda_softmax), SoftmaxKernel>);
static_assert(std::is_same_v<decltype(cuda_softmax_backward), SoftmaxBackwardKernel>);

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("softmax", cuda_softmax);
SOFT_REGISTER_CUDA_KERNEL("softmax_backward", cuda_softmax_backward);

}  // namespace soft::cuda
