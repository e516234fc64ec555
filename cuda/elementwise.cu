// CUDA kernels of the pointwise ops: "map_unary" (ops/unary.cpp), "map_binary" with
// broadcasting (ops/binary.cpp), and the in-place "add_" and "mul_" (ops/copy.cpp). The math of
// each op is ops/pointwise_math.h's, shared with the CPU; kernels are instantiated per op and dtype.
#include <cstdint>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"
#include "ops/pointwise_math.h"

namespace soft::cuda {
namespace {

constexpr int kMaxDims = 8;

// The output's shape (it is contiguous) and the strides that read a and b as if broadcast to it
// (0 on broadcast dims).
struct BroadcastLayout {
  int dims;
  int64_t shape[kMaxDims];
  int64_t a_strides[kMaxDims];
  int64_t b_strides[kMaxDims];
};

// x, y contiguous [n].
template <UnaryOp Op, class T>
__global__ void unary_kernel(const T* x, T* y, int64_t n, double p0, double p1) {
  int64_t i = thread_index();
  if (i < n) y[i] = unary_fn<Op>(x[i], p0, p1);
}

// a, b, y contiguous [n] (same shape, nothing broadcast).
template <BinaryOp Op, class T>
__global__ void binary_contiguous_kernel(const T* a, const T* b, T* y, int64_t n, double p0, double p1) {
  int64_t i = thread_index();
  if (i < n) y[i] = binary_fn<Op>(a[i], b[i], p0, p1);
}

// y contiguous [n] with layout.shape; a and b read through their broadcast strides.
template <BinaryOp Op, class T>
__global__ void binary_broadcast_kernel(const T* a, const T* b, T* y, BroadcastLayout layout, int64_t n,
                                        double p0, double p1) {
  int64_t i = thread_index();
  if (i >= n) return;
  int64_t rem = i, a_offset = 0, b_offset = 0;
  for (int d = layout.dims - 1; d >= 0; --d) {
    int64_t index = rem % layout.shape[d];
    rem /= layout.shape[d];
    a_offset += index * layout.a_strides[d];
    b_offset += index * layout.b_strides[d];
  }
  y[i] = binary_fn<Op>(a[a_offset], b[b_offset], p0, p1);
}

template <class T>
__global__ void add_kernel(T* dst, const T* src, T alpha, int64_t n) {
  int64_t i = thread_index();
  if (i < n) dst[i] += alpha * src[i];
}

template <class T>
__global__ void mul_kernel(T* dst, T s, int64_t n) {
  int64_t i = thread_index();
  if (i < n) dst[i] *= s;
}

// x, y contiguous, same shape (ops/unary.cpp's map_unary makes them so).
void cuda_map_unary(UnaryOp op, const Tensor& x, Tensor& y, double p0, double p1) {
  dispatch_float(x.dtype(), op_name(op), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = y.numel();
    if (n == 0) return;
    int device = y.device().index;
    const T* in = x.data<T>();
    T* out = y.data<T>();
    visit_op(op, [&](auto c) {
      launch_threads(unary_kernel<decltype(c)::value, T>, device, n, in, out, n, p0, p1);
    });
  });
}

// y contiguous with the broadcast shape of a and b, which may have any strides.
void cuda_map_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y, double p0, double p1) {
  dispatch_float(a.dtype(), op_name(op), [&](auto tag) {
    using T = decltype(tag);
    int64_t n = y.numel();
    if (n == 0) return;
    const Shape& shape = y.shape();
    int device = y.device().index;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* out = y.data<T>();
    if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
      visit_op(op, [&](auto c) {
        launch_threads(binary_contiguous_kernel<decltype(c)::value, T>, device, n, pa, pb, out, n, p0, p1);
      });
    } else {
      SOFT_CHECK(y.dim() <= kMaxDims, op_name(op), ": the CUDA kernel takes at most ", kMaxDims, " dims, got ",
                 shape_str(shape));
      Shape sa = broadcast_strides(a.shape(), a.strides(), shape);
      Shape sb = broadcast_strides(b.shape(), b.strides(), shape);
      BroadcastLayout layout{static_cast<int>(y.dim()), {}, {}, {}};
      for (int d = 0; d < layout.dims; ++d) {
        layout.shape[d] = shape[d];
        layout.a_strides[d] = sa[d];
        layout.b_strides[d] = sb[d];
      }
      visit_op(op, [&](auto c) {
        launch_threads(binary_broadcast_kernel<decltype(c)::value, T>, device, n, pa, pb, out, layout, n, p0, p1);
      });
    }
  });
}

// dst += alpha * src; both contiguous, same shape (ops/copy.cpp's add_ makes them so).
void cuda_add_(Tensor& dst, const Tensor& src, double alpha) {
  dispatch_float(dst.dtype(), "add_", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = dst.numel();
    if (n == 0) return;
    int device = dst.device().index;
    launch_threads(add_kernel<T>, device, n, dst.data<T>(), src.data<T>(), static_cast<T>(alpha), n);
  });
}

// dst *= s; dst contiguous.
void cuda_mul_(Tensor& dst, double s) {
  dispatch_float(dst.dtype(), "mul_", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = dst.numel();
    if (n == 0) return;
    int device = dst.device().index;
    launch_threads(mul_kernel<T>, device, n, dst.data<T>(), static_cast<T>(s), n);
  });
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("map_unary", cuda_map_unary);
SOFT_REGISTER_CUDA_KERNEL("map_binary", cuda_map_binary);
SOFT_REGISTER_CUDA_KERNEL("add_", cuda_add_);
SOFT_REGISTER_CUDA_KERNEL("mul_", cuda_mul_);

}  // namespace soft::cuda
