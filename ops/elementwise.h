#pragma once
// The elementwise launchers every pointwise op is built on. An op names its math by a UnaryOp or
// BinaryOp (ops/pointwise.h) and makes one call: map_unary(op, x) -> op(x), map_binary(op, a, b)
// -> op(a, b) with broadcasting. Results are new contiguous tensors with the inputs' dtype, on
// their device: the kernels sit behind the DispatchStubs "map_unary" (ops/unary.cpp) and
// "map_binary" (ops/binary.cpp), with CUDA kernels in cuda/elementwise.cu.
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/pointwise.h"

namespace soft {

constexpr int64_t kElementwiseGrain = 16384;  // elements per thread below which one thread is faster

// p0, p1: the op's scalars (exponent, clamp bounds, ...; see ops/pointwise.h), unused otherwise.
Tensor map_unary(UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
Tensor map_binary(BinaryOp op, const Tensor& a, const Tensor& b, double p0 = 0, double p1 = 0);

// CPU loop: out[i] = f(in[i]) for i < n, over contiguous buffers.
template <class T, class F>
void cpu_unary_loop(const T* in, T* out, int64_t n, F f) {
  parallel_for(0, n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = f(in[i]);
  });
}

// CPU loop: y = f(a, b) where y is contiguous with the broadcast shape, and a and b have any
// strides and broadcast to it.
template <class T, class F>
void cpu_binary_loop(const Tensor& a, const Tensor& b, Tensor& y, F f) {
  const Shape& shape = y.shape();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* out = y.data<T>();
  if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
    parallel_for(0, y.numel(), kElementwiseGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) out[i] = f(pa[i], pb[i]);
    });
    return;
  }
  // General case: walk rows of the last dim; broadcast dims have stride 0.
  Shape sa = broadcast_strides(a.shape(), a.strides(), shape);
  Shape sb = broadcast_strides(b.shape(), b.strides(), shape);
  int64_t nd = static_cast<int64_t>(shape.size());
  int64_t inner = nd ? shape.back() : 1;
  int64_t ia = nd ? sa.back() : 0, ib = nd ? sb.back() : 0;
  int64_t rows = inner ? y.numel() / inner : 0;
  parallel_for(0, rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   int64_t oa = 0, ob = 0, rem = r;
                   for (int64_t d = nd - 2; d >= 0; --d) {
                     int64_t idx = rem % shape[d];
                     rem /= shape[d];
                     oa += idx * sa[d];
                     ob += idx * sb[d];
                   }
                   T* row = out + r * inner;
                   for (int64_t j = 0; j < inner; ++j) row[j] = f(pa[oa + j * ia], pb[ob + j * ib]);
                 }
               });
}

}  // namespace soft
