// The hand-written depthwise convolution kernels (cuda/depthwise_conv2d.cu) against the CPU
// conv2d kernels: forward, input gradient and weight gradient called directly, and conv2d with
// bias through autograd (which reaches them through conv2d's CUDA kernel; the bias gradient is
// conv2d's sum), at soft_tiny's local-conv shapes and at shapes that reach every edge of the
// tiling; their bfloat16 rounding under AutocastBf16; and which convolutions they take.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "cuda/depthwise_conv2d.h"
#include "ops/autocast.h"
#include "tests/cuda/cuda_test.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

Conv2dParams params(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, int64_t channels) {
  Conv2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.groups = channels;
  return p;
}

// The hand-written kernels are on unless SOFT_DEPTHWISE=cudnn (cuda/depthwise_conv2d.h).
bool kernels_enabled() {
  const char* env = std::getenv("SOFT_DEPTHWISE");
  return env == nullptr || *env == '\0' || std::strcmp(env, "kernels") == 0;
}

Tensor gpu(const Tensor& t) { return to_device(t, Device::cuda(0)); }
Tensor host(const Tensor& t) { return to_device(t, Device::cpu()); }

// x [B, C, H, W] with weight [C, 1, kh, kw]: the kernels called directly, then conv2d with a bias
// through autograd, on the GPU against the CPU; errors relative to each result's largest entry.
void expect_depthwise_matches(const Shape& x_shape, std::array<int64_t, 2> kernel, const Conv2dParams& p,
                              DType dtype, double tol) {
  int64_t C = x_shape[1];
  Shape w_shape{C, 1, kernel[0], kernel[1]};
  INFO("x ", shape_str(x_shape), ", w ", shape_str(w_shape), ", stride ", p.stride[0], "x", p.stride[1], ", padding ",
       p.padding[0], "x", p.padding[1], ", ", dtype_name(dtype));
  REQUIRE(cuda::depthwise_kernels_take(x_shape, w_shape, p, dtype) == kernels_enabled());
  Tensor x = rand_input(x_shape, -1, 1, dtype), w = rand_input(w_shape, -1, 1, dtype);
  Tensor b = rand_input({C}, -1, 1, dtype);
  Tensor y = conv2d(x, w, b, p);  // [B, C, Ho, Wo]
  Tensor gy = rand_input(y.shape(), -1, 1, dtype, false);

  Tensor y_gpu = Tensor::empty(y.shape(), dtype, Device::cuda(0));
  cuda::depthwise_conv2d(gpu(x.detach()), gpu(w.detach()), gpu(b.detach()), p, y_gpu);
  CHECK(normwise_error(host(y_gpu), y.detach()) < tol);
  Tensor dx_gpu = Tensor::empty(x_shape, dtype, Device::cuda(0));
  cuda::depthwise_conv2d_grad_input(gpu(gy), gpu(w.detach()), p, dx_gpu);
  CHECK(normwise_error(host(dx_gpu), conv2d_grad_input(gy, w.detach(), x_shape, p)) < tol);
  Tensor dw_gpu = Tensor::empty(w_shape, dtype, Device::cuda(0));
  cuda::depthwise_conv2d_grad_weight(gpu(gy), gpu(x.detach()), p, dw_gpu);
  CHECK(normwise_error(host(dw_gpu), conv2d_grad_weight(gy, x.detach(), w_shape, p)) < tol);

  sum(mul(y, gy)).backward();
  Tensor xg = gpu(x.detach()).requires_grad_(true), wg = gpu(w.detach()).requires_grad_(true);
  Tensor bg = gpu(b.detach()).requires_grad_(true);
  Tensor yg = conv2d(xg, wg, bg, p);
  sum(mul(yg, gpu(gy))).backward();
  CHECK(normwise_error(host(yg.detach()), y.detach()) < tol);
  CHECK(normwise_error(host(xg.grad()), x.grad()) < tol);
  CHECK(normwise_error(host(wg.grad()), w.grad()) < tol);
  CHECK(normwise_error(host(bg.grad()), b.grad()) < tol);
}

double tolerance(DType dtype) { return dtype == DType::Float32 ? 1e-5 : 1e-12; }

}  // namespace

TEST_CASE("cuda: depthwise conv2d kernels match the CPU at the SOFT local-conv shapes") {
  SOFT_SKIP_WITHOUT_GPU();
  // The local branch runs over [B*d, heads, H, W] (d = 32): stages 1-3 at 224 px, B * d = 2.
  for (DType dtype : {DType::Float32, DType::Float64}) {
    expect_depthwise_matches({2, 2, 56, 56}, {9, 9}, params({1, 1}, {4, 4}, 2), dtype, tolerance(dtype));
    expect_depthwise_matches({2, 4, 28, 28}, {5, 5}, params({1, 1}, {2, 2}, 4), dtype, tolerance(dtype));
    expect_depthwise_matches({2, 10, 14, 14}, {3, 3}, params({1, 1}, {1, 1}, 10), dtype, tolerance(dtype));
  }
  // Nystromformer's skip: a (33 x 1) conv per head over [B, heads, N, d].
  expect_depthwise_matches({2, 4, 196, 32}, {33, 1}, params({1, 1}, {16, 0}, 4), DType::Float32, 1e-5);
}

TEST_CASE("cuda: depthwise conv2d kernels match the CPU at odd shapes") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = tolerance(dtype);
    // Planes larger than one 32 x 32 tile in each direction, neither side a multiple of the tile.
    expect_depthwise_matches({1, 3, 130, 71}, {9, 9}, params({1, 1}, {4, 4}, 3), dtype, tol);
    expect_depthwise_matches({2, 3, 37, 71}, {3, 5}, params({1, 1}, {1, 2}, 3), dtype, tol);    // non-square
    expect_depthwise_matches({2, 3, 33, 65}, {7, 7}, params({1, 1}, {3, 3}, 3), dtype, tol);
    expect_depthwise_matches({2, 3, 33, 65}, {5, 5}, params({1, 1}, {0, 0}, 3), dtype, tol);    // padding 0
    expect_depthwise_matches({2, 3, 9, 10}, {3, 3}, params({1, 1}, {4, 3}, 3), dtype, tol);     // padding > k - 1
    expect_depthwise_matches({3, 5, 9, 10}, {1, 1}, params({1, 1}, {0, 0}, 5), dtype, tol);     // kernel 1
    expect_depthwise_matches({2, 1, 12, 50}, {1, 37}, params({1, 1}, {0, 18}, 1), dtype, tol);  // 1 x k
    expect_depthwise_matches({2, 2, 12, 12}, {20, 20}, params({1, 1}, {10, 10}, 2), dtype, tol);  // 400 taps
    // Strided: the forward tiles read every sh-th row; the input gradient is the gather kernel.
    expect_depthwise_matches({2, 3, 37, 71}, {3, 3}, params({2, 2}, {1, 1}, 3), dtype, tol);
    expect_depthwise_matches({2, 3, 38, 19}, {4, 3}, params({2, 3}, {0, 1}, 3), dtype, tol);
    expect_depthwise_matches({4, 2, 16, 16}, {9, 9}, params({3, 3}, {4, 4}, 2), dtype, tol);
    // Tiny planes: many planes per block, a 1x1 plane, a plane narrower than the kernel.
    expect_depthwise_matches({70, 5, 3, 4}, {3, 3}, params({1, 1}, {1, 1}, 5), dtype, tol);
    expect_depthwise_matches({1, 1, 1, 1}, {1, 1}, params({1, 1}, {0, 0}, 1), dtype, tol);
    expect_depthwise_matches({1, 2, 1, 3}, {3, 3}, params({1, 1}, {1, 1}, 2), dtype, tol);
    // 1024 channels: one weight-gradient block per channel, summing its 3 tiles one after another.
    expect_depthwise_matches({1, 1024, 3, 70}, {3, 3}, params({1, 1}, {1, 1}, 1024), dtype, tol);
  }
  // More than 65535 planes (grid limit of a y/z dimension) and blocks.
  expect_depthwise_matches({33000, 2, 3, 3}, {3, 3}, params({1, 1}, {1, 1}, 2), DType::Float32, 1e-5);
}

// Not named "cuda: depthwise conv2d ..." so that racecheck (scripts/gpu-check.sh) skips this larger
// case: the tiles of one block are the case above.
TEST_CASE("cuda: the weight gradient of a depthwise conv2d sums several batch groups in one block") {
  SOFT_SKIP_WITHOUT_GPU();
  // 40 items of 3x40 in groups of 34: each of the 1024 blocks sums 2 groups x 2 tiles, the last group partial.
  expect_depthwise_matches({40, 1024, 3, 40}, {3, 3}, params({1, 1}, {1, 1}, 1024), DType::Float32, 1e-5);
}

TEST_CASE("cuda: depthwise conv2d under AutocastBf16 rounds operands and results to bfloat16") {
  SOFT_SKIP_WITHOUT_GPU();
  // As the cuDNN path: bfloat16 operands, float32 accumulation, a bfloat16 result (relative
  // rounding at most 2^-8 = 3.9e-3) converted to float32, then the bias in float32.
  Conv2dParams p = params({1, 1}, {4, 4}, 2);
  Shape x_shape{2, 2, 56, 56}, w_shape{2, 1, 9, 9};
  Tensor x = rand_input(x_shape, -1, 1, DType::Float32, false), w = rand_input(w_shape, -1, 1, DType::Float32, false);
  Tensor b = rand_input({2}, -1, 1, DType::Float32, false);
  auto rounded = [](const Tensor& t) { return to_dtype(to_dtype(t, DType::BFloat16), DType::Float32); };
  Tensor y = conv2d(x, w, b, p), y_rounded = conv2d(rounded(x), rounded(w), b, p);
  Tensor gy = rand_input(y.shape(), -1, 1, DType::Float32, false);
  Tensor dx_rounded = conv2d_grad_input(rounded(gy), rounded(w), x_shape, p);
  Tensor dw_rounded = conv2d_grad_weight(rounded(gy), rounded(x), w_shape, p);
  Tensor y_gpu = Tensor::empty(y.shape(), DType::Float32, Device::cuda(0));
  Tensor dx_gpu = Tensor::empty(x_shape, DType::Float32, Device::cuda(0));
  Tensor dw_gpu = Tensor::empty(w_shape, DType::Float32, Device::cuda(0));
  {
    AutocastBf16 autocast;
    cuda::depthwise_conv2d(gpu(x), gpu(w), gpu(b), p, y_gpu);
    cuda::depthwise_conv2d_grad_input(gpu(gy), gpu(w), p, dx_gpu);
    cuda::depthwise_conv2d_grad_weight(gpu(gy), gpu(x), p, dw_gpu);
  }
  CHECK(normwise_error(host(y_gpu), y) > 1e-6);  // it did round
  CHECK(normwise_error(host(y_gpu), y_rounded) < 5e-3);
  CHECK(normwise_error(host(dx_gpu), dx_rounded) < 5e-3);
  CHECK(normwise_error(host(dw_gpu), dw_rounded) < 5e-3);
  // The gradients (no bias) are bfloat16 values: float32 with the low 16 bits zero.
  for (const Tensor& result : {dx_gpu, dw_gpu}) {
    size_t off_grid = 0;
    for (double v : host(result).to_vector()) {
      float f = static_cast<float>(v);
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      off_grid += (bits & 0xffffu) != 0;
    }
    CHECK(off_grid == 0);
  }
  // Values already in bfloat16 with a result exact in it: nothing else rounds.
  Tensor ones_x = Tensor::from_vector(std::vector<double>(2 * 1 * 4 * 4, 1.0), {2, 1, 4, 4}, DType::Float32);
  Tensor ones_w = Tensor::from_vector(std::vector<double>(9, 0.5), {1, 1, 3, 3}, DType::Float32);
  Tensor exact = conv2d(ones_x, ones_w, Tensor(), params({1, 1}, {1, 1}, 1));
  Tensor exact_gpu = Tensor::empty(exact.shape(), DType::Float32, Device::cuda(0));
  {
    AutocastBf16 autocast;
    cuda::depthwise_conv2d(gpu(ones_x), gpu(ones_w), Tensor(), params({1, 1}, {1, 1}, 1), exact_gpu);
  }
  CHECK(host(exact_gpu).to_vector() == exact.to_vector());
}

TEST_CASE("cuda: depthwise conv2d kernels take depthwise convolutions only (no GPU needed)") {
  bool enabled = kernels_enabled();
  Conv2dParams local = params({1, 1}, {4, 4}, 2);
  CHECK(cuda::depthwise_kernels_take({256, 2, 56, 56}, {2, 1, 9, 9}, local, DType::Float32) == enabled);
  CHECK(cuda::depthwise_kernels_take({256, 2, 56, 56}, {2, 1, 9, 9}, local, DType::Float64) == enabled);
  CHECK(cuda::depthwise_kernels_take({2, 4, 9, 9}, {4, 1, 3, 3}, params({2, 2}, {1, 1}, 4), DType::Float32) == enabled);
  // Not depthwise: one group, a channel multiplier of 2, two channels per group.
  CHECK(!cuda::depthwise_kernels_take({2, 3, 8, 8}, {4, 3, 3, 3}, params({1, 1}, {1, 1}, 1), DType::Float32));
  CHECK(!cuda::depthwise_kernels_take({2, 4, 8, 8}, {8, 1, 3, 3}, params({1, 1}, {1, 1}, 4), DType::Float32));
  CHECK(!cuda::depthwise_kernels_take({2, 4, 8, 8}, {4, 2, 3, 3}, params({1, 1}, {1, 1}, 2), DType::Float32));
  // Over 1024 taps, and tiles too large for shared memory: cuDNN.
  CHECK(!cuda::depthwise_kernels_take({1, 2, 40, 40}, {2, 1, 33, 33}, params({1, 1}, {16, 16}, 2), DType::Float32));
  CHECK(!cuda::depthwise_kernels_take({1, 2, 4000, 8}, {2, 1, 1000, 1}, params({1, 1}, {0, 0}, 2), DType::Float64));
}
