// conv2d (and its two gradient functions), max/avg pooling and bilinear interpolation against
// plain loops written from the definitions, and their float64 gradients.
#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct ConvCase {
  Shape x, w;
  Conv2dParams p;
  bool bias = true;
};

// The convolution family the SOFT model uses, in small sizes.
std::vector<ConvCase> conv_cases() {
  return {
      {{2, 3, 8, 7}, {4, 3, 3, 3}, {{1, 1}, {1, 1}, 1}},                 // 3x3, stride 1, pad 1
      {{2, 3, 9, 8}, {5, 3, 3, 3}, {{2, 2}, {1, 1}, 1}, false},          // 3x3, stride 2, pad 1
      {{2, 4, 7, 6}, {6, 2, 3, 3}, {{1, 1}, {1, 1}, 2}},                 // grouped
      {{2, 4, 12, 11}, {4, 1, 9, 9}, {{1, 1}, {4, 4}, 4}},               // depthwise 9x9
      {{2, 3, 8, 8}, {6, 1, 3, 3}, {{1, 1}, {1, 1}, 3}, false},          // depthwise 3x3, multiplier 2
      {{1, 4, 9, 9}, {4, 1, 3, 3}, {{2, 2}, {1, 1}, 4}},                 // depthwise, stride 2 (im2col)
      {{2, 1, 9, 8}, {1, 1, 5, 5}, {{1, 1}, {2, 2}, 1}},                 // one channel: depthwise too
      {{2, 1, 6, 6}, {3, 1, 3, 3}, {{1, 1}, {1, 1}, 1}, false},          // one channel to three
      {{2, 3, 7, 9}, {3, 1, 3, 5}, {{1, 1}, {1, 2}, 3}},                 // depthwise, rectangular
      {{1, 2, 8, 8}, {2, 1, 3, 3}, {{1, 1}, {0, 0}, 2}},                 // depthwise, no padding
      {{1, 2, 5, 6}, {2, 1, 3, 3}, {{1, 1}, {2, 2}, 2}, false},          // depthwise, output > input
      {{2, 5, 6, 7}, {3, 5, 1, 1}, {{1, 1}, {0, 0}, 1}},                 // 1x1
      {{2, 4, 5, 5}, {6, 2, 1, 1}, {{1, 1}, {0, 0}, 2}, false},          // grouped 1x1
      {{2, 3, 16, 12}, {8, 3, 4, 4}, {{4, 4}, {0, 0}, 1}},               // stride == kernel
      {{2, 3, 7, 9}, {4, 3, 3, 5}, {{2, 1}, {1, 2}, 1}},                 // rectangular everything
      {{1, 32, 32, 32}, {8, 32, 3, 3}, {{1, 1}, {1, 1}, 1}},             // im2col in several bands
  };
}

// Calls f(x_index, w_index, y_index) for every multiply-add of the convolution, from the
// definition y[b, oc, oh, ow] += x[b, c, oh*sh - ph + ki, ow*sw - pw + kj] * w[oc, c % Cg, ki, kj],
// c running over the input channels of oc's group.
template <class F>
void for_each_tap(const Shape& xs, const Shape& ws, const Conv2dParams& p, F f) {
  int64_t B = xs[0], Cin = xs[1], H = xs[2], W = xs[3], Cout = ws[0], Cg = ws[1], kh = ws[2], kw = ws[3];
  int64_t Ho = (H + 2 * p.padding[0] - kh) / p.stride[0] + 1, Wo = (W + 2 * p.padding[1] - kw) / p.stride[1] + 1;
  int64_t cout_g = Cout / p.groups;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t oc = 0; oc < Cout; ++oc)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow)
          for (int64_t ic = 0; ic < Cg; ++ic)
            for (int64_t ki = 0; ki < kh; ++ki)
              for (int64_t kj = 0; kj < kw; ++kj) {
                int64_t c = oc / cout_g * Cg + ic;
                int64_t ih = oh * p.stride[0] - p.padding[0] + ki, iw = ow * p.stride[1] - p.padding[1] + kj;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                f(((b * Cin + c) * H + ih) * W + iw, ((oc * Cg + ic) * kh + ki) * kw + kj,
                  ((b * Cout + oc) * Ho + oh) * Wo + ow);
              }
}

std::vector<double> naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                                 const Shape& y_shape) {
  std::vector<double> vx = x.to_vector(), vw = w.to_vector(), y(numel_of(y_shape), 0.0);
  for_each_tap(x.shape(), w.shape(), p, [&](int64_t i, int64_t k, int64_t o) { y[o] += vx[i] * vw[k]; });
  if (bias.defined()) {
    std::vector<double> vb = bias.to_vector();
    int64_t plane = y_shape[2] * y_shape[3];
    for (size_t o = 0; o < y.size(); ++o) y[o] += vb[o / plane % y_shape[1]];
  }
  return y;
}

// dL/dx and dL/dw for dL/dy = gy, by running the same taps backwards.
std::vector<double> naive_grad_input(const Tensor& gy, const Tensor& w, const Shape& xs, const Conv2dParams& p) {
  std::vector<double> vg = gy.to_vector(), vw = w.to_vector(), dx(numel_of(xs), 0.0);
  for_each_tap(xs, w.shape(), p, [&](int64_t i, int64_t k, int64_t o) { dx[i] += vg[o] * vw[k]; });
  return dx;
}

std::vector<double> naive_grad_weight(const Tensor& gy, const Tensor& x, const Shape& ws, const Conv2dParams& p) {
  std::vector<double> vg = gy.to_vector(), vx = x.to_vector(), dw(numel_of(ws), 0.0);
  for_each_tap(x.shape(), ws, p, [&](int64_t i, int64_t k, int64_t o) { dw[k] += vg[o] * vx[i]; });
  return dw;
}

// Sets the OpenMP thread count for its lifetime: a batch that can occupy every thread is split
// across them (each gemm single-threaded), a smaller one runs with the threads inside gemm.
struct ThreadCount {
  int saved = num_threads();
  explicit ThreadCount(int n) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(saved); }
};

// Distinct values (a shuffled 0.1-spaced ramp), so that no max-pool window has a tie.
Tensor distinct_input(const Shape& shape) {
  std::vector<double> perm = randperm(numel_of(shape)).to_vector();
  for (double& v : perm) v = v * 0.1 - 1.0;
  Tensor x = Tensor::from_vector(perm, shape, DType::Float64);
  x.requires_grad_(true);
  return x;
}

// Pooling by definition: each window over the input, padding positions skipped.
template <class F>
std::vector<double> naive_pool(const Tensor& x, const Pool2dParams& p, double init, F combine, double divisor) {
  const Shape& s = x.shape();
  int64_t H = s[2], W = s[3];
  int64_t Ho = (H + 2 * p.padding[0] - p.kernel[0]) / p.stride[0] + 1;
  int64_t Wo = (W + 2 * p.padding[1] - p.kernel[1]) / p.stride[1] + 1;
  std::vector<double> v = x.to_vector(), y;
  for (int64_t pl = 0; pl < s[0] * s[1]; ++pl)
    for (int64_t oh = 0; oh < Ho; ++oh)
      for (int64_t ow = 0; ow < Wo; ++ow) {
        double acc = init;
        for (int64_t ki = 0; ki < p.kernel[0]; ++ki)
          for (int64_t kj = 0; kj < p.kernel[1]; ++kj) {
            int64_t ih = oh * p.stride[0] - p.padding[0] + ki, iw = ow * p.stride[1] - p.padding[1] + kj;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc = combine(acc, v[(pl * H + ih) * W + iw]);
          }
        y.push_back(acc / divisor);
      }
  return y;
}

std::vector<Pool2dParams> pool_cases() {
  return {{{2, 2}, {2, 2}, {0, 0}}, {{3, 3}, {2, 2}, {1, 1}}, {{3, 2}, {1, 2}, {1, 0}}, {{3, 3}, {1, 1}, {1, 1}}};
}

// PyTorch's align_corners=false source position along one axis, written out in double.
struct Tap {
  int64_t i0, i1;
  double l0, l1;
};
Tap bilinear_tap(int64_t o, int64_t in, int64_t out) {
  double s = (o + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
  if (s < 0) s = 0;
  int64_t i0 = static_cast<int64_t>(std::floor(s));
  int64_t i1 = std::min(i0 + 1, in - 1);
  return {i0, i1, 1 - (s - i0), s - i0};
}

std::vector<double> naive_bilinear(const Tensor& x, int64_t Ho, int64_t Wo) {
  const Shape& s = x.shape();
  int64_t H = s[2], W = s[3];
  std::vector<double> v = x.to_vector(), y;
  for (int64_t pl = 0; pl < s[0] * s[1]; ++pl)
    for (int64_t oh = 0; oh < Ho; ++oh)
      for (int64_t ow = 0; ow < Wo; ++ow) {
        Tap h = bilinear_tap(oh, H, Ho), w = bilinear_tap(ow, W, Wo);
        auto at = [&](int64_t i, int64_t j) { return v[(pl * H + i) * W + j]; };
        y.push_back(h.l0 * (w.l0 * at(h.i0, w.i0) + w.l1 * at(h.i0, w.i1)) +
                    h.l1 * (w.l0 * at(h.i1, w.i0) + w.l1 * at(h.i1, w.i1)));
      }
  return y;
}

}  // namespace

// ---- conv2d -------------------------------------------------------------------------------

FORWARD_CHECK(conv2d) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = dtype == DType::Float32 ? 2e-5 : 1e-12;
    for (const ConvCase& c : conv_cases()) {
      Tensor x = rand_input(c.x, -1, 1, dtype, false), w = rand_input(c.w, -1, 1, dtype, false);
      Tensor b = c.bias ? rand_input({c.w[0]}, -1, 1, dtype, false) : Tensor();
      Tensor y = conv2d(x, w, b, c.p);
      INFO("x ", shape_str(c.x), " w ", shape_str(c.w), " groups ", c.p.groups, " ", std::string(dtype_name(dtype)));
      int64_t Ho = (c.x[2] + 2 * c.p.padding[0] - c.w[2]) / c.p.stride[0] + 1;
      int64_t Wo = (c.x[3] + 2 * c.p.padding[1] - c.w[3]) / c.p.stride[1] + 1;
      REQUIRE(y.shape() == Shape{c.x[0], c.w[0], Ho, Wo});
      expect_close(y, naive_conv2d(x, w, b, c.p, y.shape()), tol, tol);
    }
  }
}

TEST_CASE("conv2d reads strided (non-contiguous) inputs") {
  Tensor x = transpose(rand_input({2, 3, 7, 6}, -1, 1, DType::Float64, false), 2, 3);  // [2, 3, 6, 7]
  Tensor w = rand_input({4, 3, 3, 3}, -1, 1, DType::Float64, false);
  Conv2dParams p{{1, 2}, {1, 0}, 1};
  Tensor y = conv2d(x, transpose(transpose(w, 2, 3).contiguous(), 2, 3), Tensor(), p);
  expect_close(y, naive_conv2d(x, w, Tensor(), p, y.shape()), 1e-12, 1e-12);
}

GRADCHECK(conv2d) {
  std::vector<ConvCase> cases = {
      {{2, 2, 5, 5}, {3, 2, 3, 3}, {{1, 1}, {1, 1}, 1}},
      {{2, 2, 5, 5}, {2, 2, 3, 3}, {{2, 2}, {1, 1}, 1}},
      {{2, 4, 4, 4}, {4, 2, 3, 3}, {{1, 1}, {1, 1}, 2}},
      {{1, 2, 5, 5}, {2, 1, 9, 9}, {{1, 1}, {4, 4}, 2}},           // depthwise 9x9
      {{2, 2, 5, 5}, {4, 1, 3, 3}, {{2, 2}, {1, 1}, 2}, false},    // depthwise, multiplier 2, stride 2
      {{2, 1, 5, 5}, {2, 1, 3, 3}, {{1, 1}, {1, 1}, 1}},           // one channel, multiplier 2
      {{1, 2, 4, 6}, {2, 1, 3, 5}, {{1, 1}, {1, 2}, 2}},           // depthwise, rectangular
      {{2, 3, 4, 4}, {2, 3, 1, 1}, {{1, 1}, {0, 0}, 1}},           // 1x1
      {{2, 2, 4, 4}, {3, 2, 2, 2}, {{2, 2}, {0, 0}, 1}, false},    // stride == kernel
      {{1, 2, 5, 6}, {2, 2, 3, 2}, {{2, 1}, {1, 1}, 1}},           // rectangular
  };
  for (const ConvCase& c : cases) {
    INFO("x ", shape_str(c.x), " w ", shape_str(c.w), " groups ", c.p.groups);
    std::vector<Tensor> in = {rand_input(c.x), rand_input(c.w)};
    if (c.bias) in.push_back(rand_input({c.w[0]}));
    Conv2dParams p = c.p;
    Fn fn = [p](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), p); };
    expect_gradcheck(fn, in);
  }
}

TEST_CASE("conv2d and its two gradient functions match the loops on medium sizes, 1 and 2 threads") {
  std::vector<ConvCase> cases = {
      {{2, 6, 11, 9}, {4, 3, 3, 3}, {{2, 2}, {1, 1}, 2}},     // grouped, strided
      {{3, 8, 20, 18}, {6, 4, 3, 3}, {{1, 1}, {1, 1}, 2}},    // enough work to split the batch
      {{3, 16, 16, 16}, {8, 16, 1, 1}, {{1, 1}, {0, 0}, 1}},  // 1x1, batch split
      {{2, 4, 13, 11}, {8, 1, 5, 5}, {{1, 1}, {2, 2}, 4}},    // depthwise, multiplier 2
      {{3, 4, 12, 12}, {4, 1, 3, 3}, {{2, 2}, {1, 1}, 4}},    // depthwise, stride 2 (im2col)
      {{4, 1, 20, 18}, {1, 1, 9, 9}, {{1, 1}, {4, 4}, 1}},    // SOFT's one-head 9x9, batch split
      {{3, 2, 16, 15}, {4, 1, 5, 3}, {{1, 1}, {2, 1}, 2}},    // depthwise, rectangular
      {{3, 8, 7, 6}, {5, 8, 1, 1}, {{1, 1}, {0, 0}, 1}},      // 1x1
      {{3, 3, 16, 12}, {6, 3, 4, 4}, {{4, 4}, {0, 0}, 1}},    // stride == kernel
      {{1, 32, 32, 32}, {8, 32, 3, 3}, {{1, 1}, {1, 1}, 1}},  // several im2col bands
      {{5, 64, 17, 17}, {24, 64, 3, 3}, {{2, 2}, {1, 1}, 1}}, // small planes: blocks of 2 items, and 1
  };
  // 1 thread: every batch runs the per-thread path; 2 threads: small problems and a batch of 1
  // run with the threads inside gemm and im2col, the larger ones split the batch into 2 chunks
  // (uneven for 3), with a partial weight gradient per chunk.
  for (DType dtype : {DType::Float32, DType::Float64})
    for (const ConvCase& c : cases) {
      double tol = dtype == DType::Float32 ? 5e-5 : 1e-11;
      Tensor x = rand_input(c.x, -1, 1, dtype, false), w = rand_input(c.w, -1, 1, dtype, false);
      Shape ys = conv2d(x, w, Tensor(), c.p).shape();
      Tensor gy = rand_input(ys, -1, 1, dtype, false);
      std::vector<double> y_ref = naive_conv2d(x, w, Tensor(), c.p, ys);
      std::vector<double> dx_ref = naive_grad_input(gy, w, c.x, c.p), dw_ref = naive_grad_weight(gy, x, c.w, c.p);
      for (int threads : {1, 2}) {
        ThreadCount scoped(threads);
        INFO("x ", shape_str(c.x), " w ", shape_str(c.w), " ", std::string(dtype_name(dtype)), ", ", threads, " threads");
        expect_close(conv2d(x, w, Tensor(), c.p), y_ref, tol, tol);
        expect_close(conv2d_grad_input(gy, w, c.x, c.p), dx_ref, tol, tol);
        expect_close(conv2d_grad_weight(gy, x, c.w, c.p), dw_ref, tol, tol);
      }
    }
}

TEST_CASE("conv2d backward computes only the gradients asked for, the bias one as a sum over B, H, W") {
  Tensor x = rand_input({2, 3, 5, 5}, -1, 1, DType::Float64, false);
  Tensor w = rand_input({4, 3, 3, 3}), b = rand_input({4});
  Tensor y = conv2d(x, w, b, {{1, 1}, {1, 1}, 1});
  y.backward(ones_like(y) * 2.0);
  CHECK_FALSE(x.grad().defined());
  REQUIRE(w.grad().defined());
  expect_close(b.grad(), std::vector<double>(4, 2.0 * 2 * 5 * 5), 1e-12, 1e-12);
}

TEST_CASE("conv2d rejects bad shapes, naming the op and the shapes") {
  Tensor x = zeros({1, 4, 6, 6}), w = zeros({2, 4, 3, 3});
  CHECK_THROWS_WITH_AS(conv2d(zeros({4, 6, 6}), w, Tensor()),
                       "conv2d: input must have 4 dims [B, Cin, H, W], got shape [4, 6, 6]", Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 4, 3}), Tensor()),
                       "conv2d: weight must have 4 dims [Cout, Cin/groups, kh, kw], got shape [2, 4, 3]", Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 5, 6, 6}), zeros({2, 2, 3, 3}), Tensor(), {{1, 1}, {0, 0}, 2}),
                       "conv2d: input channels 5 are not divisible by groups 2 (input [1, 5, 6, 6])", Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 2, 3, 3}), Tensor(), {{1, 1}, {0, 0}, 2}),
                       "conv2d: output channels 3 are not divisible by groups 2 (weight [3, 2, 3, 3])", Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 3, 3, 3}), Tensor()),
                       "conv2d: weight [2, 3, 3, 3] expects 3 input channels per group, but input [1, 4, 6, 6] "
                       "with groups 1 has 4",
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 4, 9, 3}), Tensor(), {{1, 1}, {1, 1}, 1}),
                       "conv2d: kernel 9x3 is larger than the padded input 8x8 (input [1, 4, 6, 6], weight "
                       "[2, 4, 9, 3], padding 1x1)",
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, zeros({3})), "conv2d: bias has shape [3] but weight [2, 4, 3, 3] needs [2]",
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), {{0, 1}, {0, 0}, 1}), doctest::Contains("conv2d: needs groups >= 1"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 4, 3, 3}, DType::Float64), Tensor()),
                       "conv2d: dtype mismatch (float32 and float64)", Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 4, 6, 6}, DType::Int64), zeros({2, 4, 3, 3}, DType::Int64), Tensor()),
                       doctest::Contains("conv2d: dtype int64 is not supported"), Error);
  CHECK_THROWS_WITH_AS(conv2d_grad_input(zeros({1, 2, 5, 4}), w, x.shape(), {}),
                       "conv2d_grad_input: grad_y has shape [1, 2, 5, 4] but the convolution's output has shape "
                       "[1, 2, 4, 4]",
                       Error);
  CHECK_THROWS_WITH_AS(conv2d_grad_weight(zeros({1, 2, 4, 4}), x, {2, 5, 3, 3}, {}),
                       doctest::Contains("conv2d_grad_weight: weight [2, 5, 3, 3] expects 5 input channels"), Error);
}

// ---- pooling ------------------------------------------------------------------------------

FORWARD_CHECK(max_pool2d) {
  for (DType dtype : {DType::Float32, DType::Float64})
    for (const Pool2dParams& p : pool_cases()) {
      Tensor x = rand_input({2, 3, 7, 6}, -1, 1, dtype, false);
      auto mx = [](double a, double b) { return std::max(a, b); };
      expect_close(max_pool2d(x, p), naive_pool(x, p, -INFINITY, mx, 1.0), 0, 0);
    }
}

TEST_CASE("max_pool2d sends the gradient to the first maximum of a tied window") {
  Tensor x = Tensor::from_vector({1, 3, 3, 0, 3, 2, 1, 1, 0}, {1, 1, 3, 3}, DType::Float64);
  x.requires_grad_(true);
  // Overlapping 2x2 windows: the 3 at (0, 1) wins both top windows, though (0, 2) and (1, 1) tie
  // with it in the second; the 3 at (1, 1) wins both bottom ones.
  Tensor y = max_pool2d(x, {{2, 2}, {1, 1}, {0, 0}});
  expect_close(y, {3, 3, 3, 3}, 0, 0);
  y.backward(ones_like(y));
  expect_close(x.grad(), {0, 2, 0, 0, 2, 0, 0, 0, 0}, 0, 0);
}

GRADCHECK(max_pool2d) {
  for (const Pool2dParams& p : {Pool2dParams{{3, 3}, {2, 2}, {1, 1}}, Pool2dParams{{2, 2}, {1, 1}, {0, 0}}}) {
    expect_gradcheck([p](const std::vector<Tensor>& in) { return max_pool2d(in[0], p); },
                     {distinct_input({2, 2, 5, 5})});
  }
}

FORWARD_CHECK(avg_pool2d) {
  for (DType dtype : {DType::Float32, DType::Float64})
    for (const Pool2dParams& p : pool_cases()) {
      Tensor x = rand_input({2, 3, 7, 6}, -1, 1, dtype, false);
      double tol = dtype == DType::Float32 ? 1e-6 : 1e-14;
      auto add = [](double a, double b) { return a + b; };
      expect_close(avg_pool2d(x, p), naive_pool(x, p, 0.0, add, double(p.kernel[0] * p.kernel[1])), tol, tol);
    }
}

GRADCHECK(avg_pool2d) {
  for (const Pool2dParams& p : {Pool2dParams{{3, 3}, {2, 2}, {1, 1}}, Pool2dParams{{2, 3}, {1, 2}, {1, 1}}}) {
    expect_gradcheck([p](const std::vector<Tensor>& in) { return avg_pool2d(in[0], p); }, {rand_input({2, 2, 5, 5})});
  }
}

TEST_CASE("pooling rejects bad shapes and parameters, naming the op") {
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({3, 6, 6}), {}),
                       "max_pool2d: input [B, C, H, W] must have 4 dims, got shape [3, 6, 6]", Error);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 6, 6}), {{2, 2}, {2, 2}, {2, 0}}),
                       "max_pool2d: padding 2x0 must be between 0 and half the kernel 2x2", Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(zeros({1, 1, 2, 6}), {{5, 5}, {1, 1}, {1, 1}}),
                       "avg_pool2d: kernel 5x5 is larger than the padded input 4x8 (input [1, 1, 2, 6])", Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(zeros({1, 1, 6, 6}), {{2, 2}, {0, 2}, {0, 0}}),
                       "avg_pool2d: kernel and stride must be positive, got kernel 2x2, stride 0x2", Error);
}

// ---- bilinear interpolation ------------------------------------------------------------------

FORWARD_CHECK(interpolate_bilinear) {
  struct Case { Shape x; int64_t h, w; };
  std::vector<Case> cases = {{{2, 3, 8, 6}, 3, 4},      // down
                             {{2, 3, 8, 6}, 13, 11},    // up
                             {{2, 3, 5, 7}, 10, 3},     // up one way, down the other
                             {{1, 4, 56, 56}, 7, 7},    // a position embedding resized
                             {{1, 2, 1, 1}, 3, 2}};     // a single pixel spreads everywhere
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = dtype == DType::Float32 ? 1e-6 : 1e-14;
    for (const Case& c : cases) {
      INFO(shape_str(c.x), " -> ", c.h, "x", c.w);
      Tensor x = rand_input(c.x, -1, 1, dtype, false);
      Tensor y = interpolate_bilinear(x, c.h, c.w);
      REQUIRE(y.shape() == Shape{c.x[0], c.x[1], c.h, c.w});
      expect_close(y, naive_bilinear(x, c.h, c.w), tol, tol);
    }
    Tensor x = rand_input({2, 3, 5, 7}, -1, 1, dtype, false);  // the same size returns the same values
    expect_close(interpolate_bilinear(x, 5, 7), x.to_vector(), 0, 0);
  }
}

GRADCHECK(interpolate_bilinear) {
  for (auto [h, w] : {std::pair<int64_t, int64_t>{3, 2}, {9, 7}, {4, 5}, {2, 9}}) {
    expect_gradcheck([h, w](const std::vector<Tensor>& in) { return interpolate_bilinear(in[0], h, w); },
                     {rand_input({2, 2, 4, 5})});
  }
}

TEST_CASE("interpolate_bilinear rejects bad shapes, naming the op") {
  CHECK_THROWS_WITH_AS(interpolate_bilinear(zeros({3, 4, 4}), 2, 2),
                       "interpolate_bilinear: input [B, C, H, W] must have 4 dims, got shape [3, 4, 4]", Error);
  CHECK_THROWS_WITH_AS(interpolate_bilinear(zeros({1, 3, 4, 4}), 0, 2),
                       "interpolate_bilinear: output size 0x2 must be positive (input [1, 3, 4, 4])", Error);
}
