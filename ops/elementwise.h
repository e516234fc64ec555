#pragma once
// The elementwise launchers and CPU loops every pointwise op is built on (the math of one element,
// shared with the GPU, is ops/pointwise_math.h). An op names its math by a UnaryOp or
// BinaryOp (ops/pointwise_math.h) and makes one call: map_unary(op, x) -> op(x), map_binary(op, a, b)
// -> op(a, b) with broadcasting. Results are new contiguous tensors with the inputs' dtype, on
// their device: the kernels sit behind the DispatchStubs "map_unary" (ops/unary.cpp) and
// "map_binary" (ops/binary.cpp), with CUDA kernels in cuda/elementwise.cu.
#include <type_traits>

#include "core/parallel.h"
#include "ops/cpu_math.h"
#include "ops/dispatch.h"
#include "ops/pointwise_math.h"

namespace soft {

constexpr int64_t kElementwiseGrain = 16384;  // elements per thread below which one thread is faster

// p0, p1: the op's scalars (exponent, clamp bounds, ...; see ops/pointwise_math.h), unused otherwise.
Tensor map_unary(UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
Tensor map_binary(BinaryOp op, const Tensor& a, const Tensor& b, double p0 = 0, double p1 = 0);

// The CPU's math of one element: ops/pointwise_math.h's, except float GELU (forward and backward)
// and sigmoid, which use ops/cpu_math.h's vectorisable forms instead of the C library's calls.
// Both name unary_fn / binary_fn, the math the GPU runs, for every op: an op whose math is written
// only here fails to build on the CPU too (the static_assert of unary_fn), not only under nvcc.
template <UnaryOp Op, class T>
inline T cpu_unary_fn(T x, double p0, double p1) {
  [[maybe_unused]] constexpr auto gpu_math = &unary_fn<Op, T>;
  if constexpr (std::is_same_v<T, float> && Op == UnaryOp::Gelu) return cpu_math::gelu_erf(x);
  else if constexpr (std::is_same_v<T, float> && Op == UnaryOp::GeluTanh) return cpu_math::gelu_tanh(x);
  else if constexpr (std::is_same_v<T, float> && Op == UnaryOp::Sigmoid) return cpu_math::logistic(x).s;
  else return unary_fn<Op>(x, p0, p1);
}
template <BinaryOp Op, class T>
inline T cpu_binary_fn(T a, T b, double p0, double p1) {
  [[maybe_unused]] constexpr auto gpu_math = &binary_fn<Op, T>;
  if constexpr (std::is_same_v<T, float> && Op == BinaryOp::GeluBackward) return a * cpu_math::gelu_erf_grad(b);
  else if constexpr (std::is_same_v<T, float> && Op == BinaryOp::GeluTanhBackward) return a * cpu_math::gelu_tanh_grad(b);
  else return binary_fn<Op>(a, b, p0, p1);
}

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
