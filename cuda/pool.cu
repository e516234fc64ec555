// CUDA kernels of ops/pool.cpp: max and average pooling over x [B, C, H, W] (floor output size,
// padding at most half the kernel, so every window holds an input element) and their backward
// passes. One thread per output element, or per input element for the average's backward.
#include <cstdint>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft::cuda {
namespace {

struct PoolGeom {
  int64_t H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
};

PoolGeom geometry(const Tensor& x, const Tensor& y, const Pool2dParams& p) {
  return {x.size(2), x.size(3), y.size(2), y.size(3), p.kernel[0], p.kernel[1],
          p.stride[0], p.stride[1], p.padding[0], p.padding[1]};
}

// The window of output (oh, ow) clipped to the input, as the CPU kernel: rows [h0, h1), columns [w0, w1).
struct Window {
  int64_t h0, h1, w0, w1;
};
__device__ Window window(const PoolGeom& g, int64_t oh, int64_t ow) {
  int64_t h = oh * g.sh - g.ph, w = ow * g.sw - g.pw;
  return {h < 0 ? 0 : h, h + g.kh < g.H ? h + g.kh : g.H, w < 0 ? 0 : w, w + g.kw < g.W ? w + g.kw : g.W};
}

// y = the maximum of each window, index = its position ih * W + iw in the plane: the first
// maximum in row-major order, a NaN wins (as the CPU kernel).
template <class T>
__global__ void max_pool_kernel(const T* x, PoolGeom g, int64_t n, T* y, int64_t* index) {
  int64_t o = thread_index();
  if (o >= n) return;
  int64_t ow = o % g.Wo, oh = o / g.Wo % g.Ho, plane = o / (g.Wo * g.Ho);
  const T* xp = x + plane * g.H * g.W;
  Window win = window(g, oh, ow);
  int64_t best = win.h0 * g.W + win.w0;
  T bv = xp[best];
  for (int64_t ih = win.h0; ih < win.h1; ++ih)
    for (int64_t iw = win.w0; iw < win.w1; ++iw) {
      T v = xp[ih * g.W + iw];
      if (v > bv || (isnan(v) && !isnan(bv))) bv = v, best = ih * g.W + iw;
    }
  y[o] = bv;
  index[o] = best;
}

// gx (zeroed) += gy at the saved argmax of each window; overlapping windows may hit one element.
template <class T>
__global__ void max_pool_backward_kernel(const T* gy, const int64_t* index, int64_t plane_out, int64_t plane_in,
                                         int64_t n, T* gx) {
  int64_t o = thread_index();
  if (o >= n) return;
  atomicAdd(gx + o / plane_out * plane_in + index[o], gy[o]);
}

// y = the window's sum / (kh * kw), summed in the CPU kernel's order.
template <class T>
__global__ void avg_pool_kernel(const T* x, PoolGeom g, int64_t n, T* y) {
  int64_t o = thread_index();
  if (o >= n) return;
  int64_t ow = o % g.Wo, oh = o / g.Wo % g.Ho, plane = o / (g.Wo * g.Ho);
  const T* xp = x + plane * g.H * g.W;
  Window win = window(g, oh, ow);
  T s = 0;
  for (int64_t ih = win.h0; ih < win.h1; ++ih)
    for (int64_t iw = win.w0; iw < win.w1; ++iw) s += xp[ih * g.W + iw];
  y[o] = s * (T(1) / static_cast<T>(g.kh * g.kw));
}

// First output whose window (start o * stride - pad, length k) reaches input i, and one past the
// last whose window starts at or before i, clipped to [0, out).
__device__ int64_t first_out(int64_t i, int64_t k, int64_t stride, int64_t pad) {
  int64_t a = i + pad - k + 1;  // the window must end past i: o * stride >= a
  return a <= 0 ? 0 : (a + stride - 1) / stride;
}
__device__ int64_t end_out(int64_t i, int64_t stride, int64_t pad, int64_t out) {
  int64_t end = (i + pad) / stride + 1;  // o * stride <= i + pad
  return end < out ? end : out;
}

// gx[i] = sum over the windows holding input i of gy / (kh * kw): a gather, so no atomics.
template <class T>
__global__ void avg_pool_backward_kernel(const T* gy, PoolGeom g, int64_t n, T* gx) {
  int64_t i = thread_index();
  if (i >= n) return;
  int64_t iw = i % g.W, ih = i / g.W % g.H, plane = i / (g.W * g.H);
  const T* gp = gy + plane * g.Ho * g.Wo;
  T scale = T(1) / static_cast<T>(g.kh * g.kw), s = 0;
  int64_t oh1 = end_out(ih, g.sh, g.ph, g.Ho), ow1 = end_out(iw, g.sw, g.pw, g.Wo);
  for (int64_t oh = first_out(ih, g.kh, g.sh, g.ph); oh < oh1; ++oh)
    for (int64_t ow = first_out(iw, g.kw, g.sw, g.pw); ow < ow1; ++ow) s += gp[oh * g.Wo + ow] * scale;
  gx[i] = s;
}

void cuda_max_pool2d(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& index) {
  int64_t n = y.numel();
  if (n == 0) return;
  Tensor xc = x.contiguous();
  PoolGeom g = geometry(x, y, p);
  int device = y.device().index;
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(max_pool_kernel<T>, device, n, xc.data<T>(), g, n, y.data<T>(), index.data<int64_t>());
  });
}

void cuda_max_pool2d_backward(const Tensor& gy, const Tensor& index, Tensor& gx) {
  zero_fill(gx);  // then each output's gradient is added at its taps
  int device = gx.device().index;
  int64_t n = gy.numel();
  if (gx.numel() == 0 || n == 0) return;
  Tensor gc = gy.contiguous(), ic = index.contiguous();
  int64_t plane_out = gy.size(2) * gy.size(3), plane_in = gx.size(2) * gx.size(3);
  dispatch_float(gy.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(max_pool_backward_kernel<T>, device, n, gc.data<T>(), ic.data<int64_t>(), plane_out, plane_in, n,
                   gx.data<T>());
  });
}

void cuda_avg_pool2d(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  int64_t n = y.numel();
  if (n == 0) return;
  Tensor xc = x.contiguous();
  PoolGeom g = geometry(x, y, p);
  int device = y.device().index;
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(avg_pool_kernel<T>, device, n, xc.data<T>(), g, n, y.data<T>());
  });
}

void cuda_avg_pool2d_backward(const Tensor& gy, const Pool2dParams& p, Tensor& gx) {
  int64_t n = gx.numel();
  if (n == 0) return;
  Tensor gc = gy.contiguous();
  PoolGeom g = geometry(gx, gy, p);
  int device = gx.device().index;
  dispatch_float(gy.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(avg_pool_backward_kernel<T>, device, n, gc.data<T>(), g, n, gx.data<T>());
  });
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("max_pool2d", cuda_max_pool2d);
SOFT_REGISTER_CUDA_KERNEL("max_pool2d_backward", cuda_max_pool2d_backward);
SOFT_REGISTER_CUDA_KERNEL("avg_pool2d", cuda_avg_pool2d);
SOFT_REGISTER_CUDA_KERNEL("avg_pool2d_backward", cuda_avg_pool2d_backward);

}  // namespace soft::cuda
