// CUDA kernels of ops/copy.cpp: strided copy between any layouts and dtypes (contiguous(),
// clone(), copy_(), to_dtype()) and fill_.
#include <cstdint>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

constexpr int kMaxDims = 8;

struct Layout {
  int dims;
  int64_t shape[kMaxDims];
  int64_t src_strides[kMaxDims];
  int64_t dst_strides[kMaxDims];
};

// Values pass through double, as on the CPU; bfloat16 is stored as its 16 raw bits.
template <class T> __device__ double load(const T* p) { return static_cast<double>(*p); }
template <> __device__ double load(const bfloat16* p) {
  return __uint_as_float(static_cast<uint32_t>(*reinterpret_cast<const uint16_t*>(p)) << 16);
}
template <class T> __device__ void store(T* p, double v) { *p = static_cast<T>(v); }
template <> __device__ void store(bfloat16* p, double v) {
  float f = static_cast<float>(v);
  uint32_t u = __float_as_uint(f);
  uint16_t bits = (u & 0x7fffffffu) > 0x7f800000u ? static_cast<uint16_t>((u >> 16) | 0x40u)  // quiet NaN
                                                  : static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  *reinterpret_cast<uint16_t*>(p) = bits;
}

template <class S, class D>
__global__ void copy_kernel(const S* src, D* dst, Layout layout, int64_t n) {
  int64_t i = thread_index();
  if (i >= n) return;
  int64_t rem = i, src_offset = 0, dst_offset = 0;
  for (int d = layout.dims - 1; d >= 0; --d) {
    int64_t index = rem % layout.shape[d];
    rem /= layout.shape[d];
    src_offset += index * layout.src_strides[d];
    dst_offset += index * layout.dst_strides[d];
  }
  store(dst + dst_offset, load(src + src_offset));
}

template <class F>
void dispatch_any(DType dtype, F&& body) {
  switch (dtype) {
    case DType::Float32: return body(float{});
    case DType::Float64: return body(double{});
    case DType::Int64: return body(int64_t{});
    case DType::BFloat16: return body(bfloat16{});
  }
}

void cuda_copy(const Tensor& src, Tensor& dst) {
  int64_t n = dst.numel();
  if (n == 0) return;
  SOFT_CHECK(dst.dim() <= kMaxDims, "copy_: the CUDA kernel takes at most ", kMaxDims, " dims, got ",
             shape_str(dst.shape()));
  Layout layout{static_cast<int>(dst.dim()), {}, {}, {}};
  for (int d = 0; d < layout.dims; ++d) {
    layout.shape[d] = dst.shape()[d];
    layout.src_strides[d] = src.strides()[d];
    layout.dst_strides[d] = dst.strides()[d];
  }
  int device = dst.device().index;
  dispatch_any(src.dtype(), [&](auto s) {
    dispatch_any(dst.dtype(), [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      launch_threads(copy_kernel<S, D>, device, n, static_cast<const S*>(src.raw_data()),
                     static_cast<D*>(dst.raw_data()), layout, n);
    });
  });
}

void cuda_fill(Tensor& dst, double value) {
  // A one-element source with stride 0 everywhere, broadcast by the copy kernel.
  Tensor one = Tensor::empty({}, DType::Float64, dst.device());
  copy_between_devices(one.raw_data(), one.device(), &value, Device::cpu(), sizeof(double));
  Tensor source = make_view(one, dst.shape(), Shape(dst.dim(), 0), 0);
  cuda_copy(source, dst);
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("copy_", cuda_copy);
SOFT_REGISTER_CUDA_KERNEL("fill_", cuda_fill);

}  // namespace soft::cuda
