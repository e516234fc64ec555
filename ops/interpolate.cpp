// Bilinear resize of x [B, C, H, W] to [B, C, Ho, Wo] with align_corners = false, exactly as
// PyTorch's upsample_bilinear2d: output index o reads source position
//   s = max(0, (o + 0.5) * in / out - 0.5)   (computed in the tensor's dtype, as PyTorch does)
// between i0 = floor(s) and i1 = min(i0 + 1, in - 1), with weights 1 - (s - i0) and s - i0.
// The forward gathers 4 taps per output; the backward scatters the gradient back with the same
// weights. Both run one [H, W] plane per task, in parallel over B * C.
#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

// The two taps and weights of every output index along one axis.
template <class T>
struct Taps {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;

  Taps(int64_t in, int64_t out) : i0(out), i1(out), l0(out), l1(out) {
    T scale = static_cast<T>(in) / static_cast<T>(out);
    for (int64_t o = 0; o < out; ++o) {
      T s = std::max(T(0), scale * (static_cast<T>(o) + T(0.5)) - T(0.5));
      i0[o] = std::min(static_cast<int64_t>(std::floor(s)), in - 1);
      i1[o] = i0[o] + (i0[o] < in - 1 ? 1 : 0);
      l1[o] = std::clamp(s - static_cast<T>(i0[o]), T(0), T(1));
      l0[o] = T(1) - l1[o];
    }
  }
};

int64_t plane_grain(int64_t plane) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane)); }

// y[oh, ow] = l0h * (l0w * x[i0h, i0w] + l1w * x[i0h, i1w]) + l1h * (l0w * x[i1h, i0w] + l1w * x[i1h, i1w]).
void cpu_interpolate_bilinear(const Tensor& x, Tensor& y) {
  Tensor xc = x.contiguous();
  int64_t H = x.size(2), W = x.size(3), Ho = y.size(2), Wo = y.size(3), planes = x.size(0) * x.size(1);
  dispatch_float(x.dtype(), "interpolate_bilinear", [&](auto tag) {
    using T = decltype(tag);
    Taps<T> th(H, Ho), tw(W, Wo);
    const T* in = xc.data<T>();
    T* out = y.data<T>();
    parallel_for(0, planes, plane_grain(Ho * Wo), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = in + p * H * W;
        T* yp = out + p * Ho * Wo;
        for (int64_t oh = 0; oh < Ho; ++oh) {
          const T* r0 = xp + th.i0[oh] * W;
          const T* r1 = xp + th.i1[oh] * W;
          for (int64_t ow = 0; ow < Wo; ++ow) {
            int64_t a = tw.i0[ow], b = tw.i1[ow];
            yp[oh * Wo + ow] = th.l0[oh] * (tw.l0[ow] * r0[a] + tw.l1[ow] * r0[b]) +
                               th.l1[oh] * (tw.l0[ow] * r1[a] + tw.l1[ow] * r1[b]);
          }
        }
      }
    });
  });
}

// gx[i, j] = sum over the outputs that read (i, j) of gy times that tap's weight.
void cpu_interpolate_bilinear_backward(const Tensor& gy, Tensor& gx) {
  Tensor gc = gy.contiguous();
  int64_t H = gx.size(2), W = gx.size(3), Ho = gy.size(2), Wo = gy.size(3), planes = gx.size(0) * gx.size(1);
  dispatch_float(gy.dtype(), "interpolate_bilinear_backward", [&](auto tag) {
    using T = decltype(tag);
    Taps<T> th(H, Ho), tw(W, Wo);
    const T* g = gc.data<T>();
    T* dx = gx.data<T>();
    parallel_for(0, planes, plane_grain(Ho * Wo), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* gp = g + p * Ho * Wo;
        T* dp = dx + p * H * W;
        std::fill(dp, dp + H * W, T(0));
        for (int64_t oh = 0; oh < Ho; ++oh) {
          T* r0 = dp + th.i0[oh] * W;
          T* r1 = dp + th.i1[oh] * W;
          for (int64_t ow = 0; ow < Wo; ++ow) {
            int64_t a = tw.i0[ow], b = tw.i1[ow];
            T v0 = th.l0[oh] * gp[oh * Wo + ow], v1 = th.l1[oh] * gp[oh * Wo + ow];
            r0[a] += v0 * tw.l0[ow];
            r0[b] += v0 * tw.l1[ow];
            r1[a] += v1 * tw.l0[ow];
            r1[b] += v1 * tw.l1[ow];
          }
        }
      }
    });
  });
}

DispatchStub<void(const Tensor&, Tensor&)> forward_stub("interpolate_bilinear", cpu_interpolate_bilinear);
DispatchStub<void(const Tensor&, Tensor&)> backward_stub("interpolate_bilinear_backward",
                                                         cpu_interpolate_bilinear_backward);

}  // namespace

Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_dim("interpolate_bilinear", "input [B, C, H, W]", x, 4);
  SOFT_CHECK(out_h >= 1 && out_w >= 1, "interpolate_bilinear: output size ", out_h, "x", out_w,
             " must be positive (input ", shape_str(x.shape()), ")");
  SOFT_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "interpolate_bilinear: input ", shape_str(x.shape()),
             " has an empty spatial dim");
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  forward_stub(x.device(), x.detach(), y);
  return record("interpolate_bilinear", y, {x}, [x_shape = x.shape()](const Tensor& gy, const std::vector<bool>&) {
    Tensor gx = Tensor::empty(x_shape, gy.dtype(), gy.device());
    backward_stub(gy.device(), gy, gx);
    return Grads{gx};
  });
}

}  // namespace soft
