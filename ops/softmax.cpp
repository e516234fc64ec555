// softmax and log_softmax along any dim, numerically stable (the max is subtracted first).
// The kernels see x (contiguous) as [outer, D, inner] and normalise over D: each "lane" is one
// vector of D elements at stride `inner`. Neighbouring lanes are processed together in blocks of
// up to kLanes, so the innermost loops run over contiguous memory whatever the dim; for the last
// dim (inner == 1) a block is one contiguous row.
#include <cmath>
#include <limits>
#include <type_traits>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"
#include "ops/softmax_kernels.h"

namespace soft {
namespace {

constexpr int64_t kLanes = 64;

// Calls block(W, offset, w) for every block of lanes, in parallel. W is a compile-time width:
// 1 for a contiguous row (inner == 1), 0 for a run of w <= kLanes lanes at stride inner.
template <class F>
void for_each_block(const SoftmaxLanes& l, F&& block) {
  if (l.inner == 1) {
    parallel_for(0, l.outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(l.D, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) block(std::integral_constant<int64_t, 1>{}, r * l.D, int64_t{1});
    });
    return;
  }
  int64_t per_outer = (l.inner + kLanes - 1) / kLanes;
  parallel_for(0, l.outer * per_outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(l.D * kLanes, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t t = b; t < e; ++t) {
                   int64_t o = t / per_outer, i0 = (t % per_outer) * kLanes;
                   block(std::integral_constant<int64_t, 0>{}, o * l.D * l.inner + i0, std::min(kLanes, l.inner - i0));
                 }
               });
}

// One block of w lanes (w == W when W > 0): element d of lane i is at p[d * stride + i].
// y = exp(x - max) / sum(exp(x - max)), or log_softmax: y = (x - max) - log(sum(exp(x - max))),
// subtracting the max first so that large inputs lose no precision near the maximum.
template <bool Log, int64_t W, class T>
void forward_block(const T* x, T* y, int64_t D, int64_t inner, int64_t w) {
  constexpr int64_t cap = W ? W : kLanes;
  const int64_t stride = W == 1 ? 1 : inner;
  if constexpr (W > 0) w = W;
  T m[cap];
  double s[cap];
  for (int64_t i = 0; i < w; ++i) m[i] = -std::numeric_limits<T>::infinity(), s[i] = 0;
  for (int64_t d = 0; d < D; ++d)
    for (int64_t i = 0; i < w; ++i) m[i] = std::max(m[i], x[d * stride + i]);
  if constexpr (Log) {
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < w; ++i) s[i] += std::exp(x[d * stride + i] - m[i]);
    T log_s[cap];
    for (int64_t i = 0; i < w; ++i) log_s[i] = static_cast<T>(std::log(s[i]));
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < w; ++i) y[d * stride + i] = (x[d * stride + i] - m[i]) - log_s[i];
  } else {
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < w; ++i) {
        T e = std::exp(x[d * stride + i] - m[i]);
        y[d * stride + i] = e;
        s[i] += e;
      }
    for (int64_t i = 0; i < w; ++i) m[i] = static_cast<T>(1 / s[i]);  // m becomes 1 / sum
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < w; ++i) y[d * stride + i] *= m[i];
  }
}

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g).
template <bool Log, int64_t W, class T>
void backward_block(const T* g, const T* y, T* dx, int64_t D, int64_t inner, int64_t w) {
  constexpr int64_t cap = W ? W : kLanes;
  const int64_t stride = W == 1 ? 1 : inner;
  if constexpr (W > 0) w = W;
  double s[cap];
  T a[cap];
  for (int64_t i = 0; i < w; ++i) s[i] = 0;
  for (int64_t d = 0; d < D; ++d)
    for (int64_t i = 0; i < w; ++i) s[i] += Log ? g[d * stride + i] : g[d * stride + i] * y[d * stride + i];
  for (int64_t i = 0; i < w; ++i) a[i] = static_cast<T>(s[i]);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t i = 0; i < w; ++i) {
      int64_t k = d * stride + i;
      dx[k] = Log ? g[k] - std::exp(y[k]) * a[i] : y[k] * (g[k] - a[i]);
    }
}

// x contiguous; softmax over `dim`.
Tensor forward_cpu(const Tensor& x, int64_t dim, bool log) {
  SoftmaxLanes l = softmax_lanes(x.shape(), dim);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_block(l, [&](auto W, int64_t offset, int64_t w) {
      if (log) forward_block<true, decltype(W)::value>(px + offset, py + offset, l.D, l.inner, w);
      else forward_block<false, decltype(W)::value>(px + offset, py + offset, l.D, l.inner, w);
    });
  });
  return y;
}

// g, y contiguous (y the forward's output).
Tensor backward_cpu(const Tensor& g, const Tensor& y, int64_t dim, bool log) {
  SoftmaxLanes l = softmax_lanes(y.shape(), dim);
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  dispatch_float(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pg = g.data<T>(), *py = y.data<T>();
    T* pdx = dx.data<T>();
    for_each_block(l, [&](auto W, int64_t offset, int64_t w) {
      if (log) backward_block<true, decltype(W)::value>(pg + offset, py + offset, pdx + offset, l.D, l.inner, w);
      else backward_block<false, decltype(W)::value>(pg + offset, py + offset, pdx + offset, l.D, l.inner, w);
    });
  });
  return dx;
}

DispatchStub<SoftmaxKernel> forward_stub("softmax", forward_cpu);
DispatchStub<SoftmaxBackwardKernel> backward_stub("softmax_backward", backward_cpu);

Tensor softmax_op(const char* op, const Tensor& x, int64_t dim, bool log) {
  // A 0-d tensor behaves as one of shape [1] (as PyTorch): dim 0 or -1.
  int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);
  Tensor y = forward_stub(x.device(), x.detach().contiguous(), d, log);
  return record(op, y, {x}, [y = y.detach(), d, log](const Tensor& g, const std::vector<bool>&) {
    return Grads{backward_stub(g.device(), g.contiguous(), y, d, log)};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_op("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_op("log_softmax", x, dim, true); }

}  // namespace soft
