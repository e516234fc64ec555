#pragma once
// The two generic elementwise launchers every pointwise op is built on: an op is a small functor
// plus one call. map_unary(op, x, f) -> f(x) and map_binary(op, a, b, f) -> f(a, b) with
// broadcasting. Results are new contiguous tensors with the inputs' dtype.
#include "core/parallel.h"
#include "ops/dispatch.h"

namespace soft {

constexpr int64_t kElementwiseGrain = 16384;  // elements per thread below which one thread is faster

template <class F>
Tensor map_unary(const char* op, const Tensor& x, F f) {
  SOFT_CHECK(x.device().is_cpu(), op, ": no CUDA kernel for this op in this build (tensor on ",
             x.device().str(), ")");
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* in = xc.data<T>();
    T* out = y.data<T>();
    parallel_for(0, y.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = f(in[i]);
    });
  });
  return y;
}

template <class F>
Tensor map_binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same_device(op, {&a, &b});
  check_same_dtype(op, {&a, &b});
  SOFT_CHECK(a.device().is_cpu(), op, ": no CUDA kernel for this op in this build (tensor on ",
             a.device().str(), ")");
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor y = Tensor::empty(shape, a.dtype(), a.device());
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
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
  });
  return y;
}

}  // namespace soft
