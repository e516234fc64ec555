// CUDA kernels of ops/interpolate.cpp: bilinear resize of x [B, C, H, W] to [B, C, Ho, Wo] with
// align_corners = false. Each thread computes its taps with the CPU kernel's formula, in the
// tensor's dtype. The forward gathers 4 taps per output; the backward scatters with atomicAdd.
#include <cstdint>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

// The two source indices and weights of output index o along an axis of `in` -> `out`:
// s = max(0, (o + 0.5) * in / out - 0.5), i0 = floor(s), i1 = min(i0 + 1, in - 1).
template <class T>
struct Tap {
  int64_t i0, i1;
  T l0, l1;
};

template <class T>
__device__ Tap<T> tap(int64_t o, int64_t in, int64_t out) {
  T scale = static_cast<T>(in) / static_cast<T>(out);
  T s = max(T(0), scale * (static_cast<T>(o) + T(0.5)) - T(0.5));
  Tap<T> t;
  t.i0 = min(static_cast<int64_t>(floor(s)), in - 1);
  t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
  t.l1 = min(max(s - static_cast<T>(t.i0), T(0)), T(1));
  t.l0 = T(1) - t.l1;
  return t;
}

struct Sizes {
  int64_t H, W, Ho, Wo;
};

template <class T>
__global__ void bilinear_kernel(const T* x, Sizes z, int64_t n, T* y) {
  int64_t o = thread_index();
  if (o >= n) return;
  int64_t ow = o % z.Wo, oh = o / z.Wo % z.Ho, plane = o / (z.Wo * z.Ho);
  Tap<T> th = tap<T>(oh, z.H, z.Ho), tw = tap<T>(ow, z.W, z.Wo);
  const T* r0 = x + (plane * z.H + th.i0) * z.W;
  const T* r1 = x + (plane * z.H + th.i1) * z.W;
  y[o] = th.l0 * (tw.l0 * r0[tw.i0] + tw.l1 * r0[tw.i1]) + th.l1 * (tw.l0 * r1[tw.i0] + tw.l1 * r1[tw.i1]);
}

// gx (zeroed) += gy times each tap's weight, at the 4 taps of every output.
template <class T>
__global__ void bilinear_backward_kernel(const T* gy, Sizes z, int64_t n, T* gx) {
  int64_t o = thread_index();
  if (o >= n) return;
  int64_t ow = o % z.Wo, oh = o / z.Wo % z.Ho, plane = o / (z.Wo * z.Ho);
  Tap<T> th = tap<T>(oh, z.H, z.Ho), tw = tap<T>(ow, z.W, z.Wo);
  T* r0 = gx + (plane * z.H + th.i0) * z.W;
  T* r1 = gx + (plane * z.H + th.i1) * z.W;
  T v0 = th.l0 * gy[o], v1 = th.l1 * gy[o];
  atomicAdd(r0 + tw.i0, v0 * tw.l0);
  atomicAdd(r0 + tw.i1, v0 * tw.l1);
  atomicAdd(r1 + tw.i0, v1 * tw.l0);
  atomicAdd(r1 + tw.i1, v1 * tw.l1);
}

void cuda_interpolate_bilinear(const Tensor& x, Tensor& y) {
  int64_t n = y.numel();
  if (n == 0) return;
  Tensor xc = x.contiguous();
  Sizes z{x.size(2), x.size(3), y.size(2), y.size(3)};
  int device = y.device().index;
  dispatch_float(x.dtype(), "interpolate_bilinear", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(bilinear_kernel<T>, device, n, xc.data<T>(), z, n, y.data<T>());
  });
}

void cuda_interpolate_bilinear_backward(const Tensor& gy, Tensor& gx) {
  zero_fill(gx);  // then each output's gradient is added at its taps
  int device = gx.device().index;
  int64_t n = gy.numel();
  if (gx.numel() == 0 || n == 0) return;
  Tensor gc = gy.contiguous();
  Sizes z{gx.size(2), gx.size(3), gy.size(2), gy.size(3)};
  dispatch_float(gy.dtype(), "interpolate_bilinear_backward", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(bilinear_backward_kernel<T>, device, n, gc.data<T>(), z, n, gx.data<T>());
  });
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("interpolate_bilinear", cuda_interpolate_bilinear);
SOFT_REGISTER_CUDA_KERNEL("interpolate_bilinear_backward", cuda_interpolate_bilinear_backward);

}  // namespace soft::cuda
