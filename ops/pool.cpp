// 2-D max and average pooling over x [B, C, H, W] (floor output size, as PyTorch with
// ceil_mode = false). Every kernel walks one [H, W] plane per task, in parallel over B * C.
// max_pool2d saves the argmax of each window (its flat index in the plane) for the backward.
#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

struct PoolGeom {
  int64_t planes, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
  // Window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1).
  int64_t h0(int64_t oh) const { return std::max<int64_t>(0, oh * sh - ph); }
  int64_t h1(int64_t oh) const { return std::min(H, oh * sh - ph + kh); }
  int64_t w0(int64_t ow) const { return std::max<int64_t>(0, ow * sw - pw); }
  int64_t w1(int64_t ow) const { return std::min(W, ow * sw - pw + kw); }
  // Planes per task so that one task covers at least ~16K window elements.
  int64_t grain() const { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, Ho * Wo * kh * kw)); }
};

// Padding is at most half the kernel (as PyTorch), so every window holds an input element.
PoolGeom geometry(const char* op, const Tensor& x, const Pool2dParams& p) {
  check_dim(op, "input [B, C, H, W]", x, 4);
  auto [kh, kw] = p.kernel;
  auto [sh, sw] = p.stride;
  auto [ph, pw] = p.padding;
  SOFT_CHECK(kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1, op, ": kernel and stride must be positive, got kernel ", kh,
             "x", kw, ", stride ", sh, "x", sw);
  SOFT_CHECK(ph >= 0 && pw >= 0 && 2 * ph <= kh && 2 * pw <= kw, op, ": padding ", ph, "x", pw,
             " must be between 0 and half the kernel ", kh, "x", kw);
  int64_t H = x.size(2), W = x.size(3);
  SOFT_CHECK(kh <= H + 2 * ph && kw <= W + 2 * pw, op, ": kernel ", kh, "x", kw, " is larger than the padded input ",
             H + 2 * ph, "x", W + 2 * pw, " (input ", shape_str(x.shape()), ")");
  return {x.size(0) * x.size(1), H, W, (H + 2 * ph - kh) / sh + 1, (W + 2 * pw - kw) / sw + 1, kh, kw, sh, sw, ph, pw};
}

Shape out_shape(const Tensor& x, const PoolGeom& g) { return {x.size(0), x.size(1), g.Ho, g.Wo}; }

// ---- max ----------------------------------------------------------------------------------

// y = the maximum of each window, index = its position ih * W + iw in the plane (the first
// maximum on ties; a NaN wins, as in PyTorch).
void cpu_max_pool2d(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& index) {
  PoolGeom g = geometry("max_pool2d", x, p);
  Tensor xc = x.contiguous();
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* in = xc.data<T>();
    T* out = y.data<T>();
    int64_t* idx = index.data<int64_t>();
    parallel_for(0, g.planes, g.grain(), [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl) {
        const T* xp = in + pl * g.H * g.W;
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            int64_t best = g.h0(oh) * g.W + g.w0(ow);
            T bv = xp[best];
            for (int64_t ih = g.h0(oh); ih < g.h1(oh); ++ih)
              for (int64_t iw = g.w0(ow); iw < g.w1(ow); ++iw) {
                T v = xp[ih * g.W + iw];
                if (v > bv || (std::isnan(v) && !std::isnan(bv))) bv = v, best = ih * g.W + iw;
              }
            int64_t o = (pl * g.Ho + oh) * g.Wo + ow;
            out[o] = bv;
            idx[o] = best;
          }
      }
    });
  });
}

// gx = gy routed to the saved argmax of each window (overlapping windows add up).
void cpu_max_pool2d_backward(const Tensor& gy, const Tensor& index, Tensor& gx) {
  Tensor gc = gy.contiguous();
  int64_t plane_in = gx.size(2) * gx.size(3), plane_out = gy.size(2) * gy.size(3), planes = gx.size(0) * gx.size(1);
  dispatch_float(gy.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* g = gc.data<T>();
    const int64_t* idx = index.data<int64_t>();
    T* dx = gx.data<T>();
    parallel_for(0, planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane_in)), [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl) {
        T* dp = dx + pl * plane_in;
        std::fill(dp, dp + plane_in, T(0));
        for (int64_t o = pl * plane_out; o < (pl + 1) * plane_out; ++o) dp[idx[o]] += g[o];
      }
    });
  });
}

// ---- average ------------------------------------------------------------------------------

// y = the sum of each window's input elements / (kh * kw): padding counts in the divisor, and
// with a floor output size no window reaches past the padding, so the divisor is always kh * kw.
void cpu_avg_pool2d(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  PoolGeom g = geometry("avg_pool2d", x, p);
  Tensor xc = x.contiguous();
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* in = xc.data<T>();
    T* out = y.data<T>();
    T scale = T(1) / static_cast<T>(g.kh * g.kw);
    parallel_for(0, g.planes, g.grain(), [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl) {
        const T* xp = in + pl * g.H * g.W;
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            T s = 0;
            for (int64_t ih = g.h0(oh); ih < g.h1(oh); ++ih)
              for (int64_t iw = g.w0(ow); iw < g.w1(ow); ++iw) s += xp[ih * g.W + iw];
            out[(pl * g.Ho + oh) * g.Wo + ow] = s * scale;
          }
      }
    });
  });
}

// gx[window] += gy / (kh * kw) for every window (the input elements of it).
void cpu_avg_pool2d_backward(const Tensor& gy, const Pool2dParams& p, Tensor& gx) {
  PoolGeom g = geometry("avg_pool2d_backward", gx, p);
  Tensor gc = gy.contiguous();
  dispatch_float(gy.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* gp = gc.data<T>();
    T* dx = gx.data<T>();
    T scale = T(1) / static_cast<T>(g.kh * g.kw);
    parallel_for(0, g.planes, g.grain(), [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl) {
        T* dp = dx + pl * g.H * g.W;
        std::fill(dp, dp + g.H * g.W, T(0));
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            T v = gp[(pl * g.Ho + oh) * g.Wo + ow] * scale;
            for (int64_t ih = g.h0(oh); ih < g.h1(oh); ++ih)
              for (int64_t iw = g.w0(ow); iw < g.w1(ow); ++iw) dp[ih * g.W + iw] += v;
          }
      }
    });
  });
}

DispatchStub<void(const Tensor&, const Pool2dParams&, Tensor&, Tensor&)> max_pool_stub("max_pool2d", cpu_max_pool2d);
DispatchStub<void(const Tensor&, const Tensor&, Tensor&)> max_pool_backward_stub("max_pool2d_backward",
                                                                                 cpu_max_pool2d_backward);
DispatchStub<void(const Tensor&, const Pool2dParams&, Tensor&)> avg_pool_stub("avg_pool2d", cpu_avg_pool2d);
DispatchStub<void(const Tensor&, const Pool2dParams&, Tensor&)> avg_pool_backward_stub("avg_pool2d_backward",
                                                                                       cpu_avg_pool2d_backward);

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  PoolGeom g = geometry("max_pool2d", x, p);
  Tensor y = Tensor::empty(out_shape(x, g), x.dtype(), x.device());
  Tensor index = Tensor::empty(out_shape(x, g), DType::Int64, x.device());
  max_pool_stub(x.device(), x.detach(), p, y, index);
  return record("max_pool2d", y, {x}, [index, x_shape = x.shape()](const Tensor& gy, const std::vector<bool>&) {
    Tensor gx = Tensor::empty(x_shape, gy.dtype(), gy.device());
    max_pool_backward_stub(gy.device(), gy, index, gx);
    return Grads{gx};
  });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  PoolGeom g = geometry("avg_pool2d", x, p);
  Tensor y = Tensor::empty(out_shape(x, g), x.dtype(), x.device());
  avg_pool_stub(x.device(), x.detach(), p, y);
  return record("avg_pool2d", y, {x}, [p, x_shape = x.shape()](const Tensor& gy, const std::vector<bool>&) {
    Tensor gx = Tensor::empty(x_shape, gy.dtype(), gy.device());
    avg_pool_backward_stub(gy.device(), gy, p, gx);
    return Grads{gx};
  });
}

}  // namespace soft
