// The CUDA convolution, pooling, resampling, joining and dropout kernels against the CPU,
// forward and backward: conv2d through cuDNN (plain, strided with bias, grouped, SOFT's strided
// landmark conv) and SOFT's depthwise 9x9 local conv (cuda/depthwise_conv2d.cu's kernels; more in
// test_cuda_depthwise_conv.cpp), max_pool2d (ties included), avg_pool2d, interpolate_bilinear
// (down and up), index_select (repeated indices, every dtype), cat and stack, and dropout /
// drop_path, whose masks must equal the CPU's bit for bit.
#include <cmath>

#include "core/random.h"
#include "tests/cuda/cuda_test.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Inputs = std::vector<Tensor>;

Tolerance tolerance(DType dtype) { return dtype == DType::Float32 ? Tolerance{1e-4, 1e-4} : Tolerance{1e-10, 1e-10}; }

Tensor no_bias;

Conv2dParams conv_params(int64_t stride, int64_t padding, int64_t groups = 1) {
  Conv2dParams p;
  p.stride = {stride, stride};
  p.padding = {padding, padding};
  p.groups = groups;
  return p;
}

Pool2dParams pool_params(int64_t kernel, int64_t stride, int64_t padding) {
  Pool2dParams p;
  p.kernel = {kernel, kernel};
  p.stride = {stride, stride};
  p.padding = {padding, padding};
  return p;
}

// conv2d(in[0], in[1], in[2] or no bias) on the GPU against the CPU, with all gradients.
void expect_conv_matches(const Shape& x, const Shape& w, bool bias, const Conv2dParams& p, DType dtype,
                         Tolerance tol) {
  INFO("x ", shape_str(x), ", w ", shape_str(w), ", stride ", p.stride[0], ", padding ", p.padding[0], ", groups ",
       p.groups, ", bias ", bias, ", ", dtype_name(dtype));
  Inputs inputs{rand_input(x, -1, 1, dtype), rand_input(w, -1, 1, dtype)};
  if (bias) inputs.push_back(rand_input({w[0]}, -1, 1, dtype));
  expect_gpu_matches_cpu(
      [p](const Inputs& in) { return conv2d(in[0], in[1], in.size() > 2 ? in[2] : no_bias, p); }, inputs, tol);
}

// Values from {0, 1, 2}: many ties inside each pooling window.
Tensor tied_values(const Shape& shape, DType dtype) {
  std::vector<double> v = rand_input(shape, 0, 3, DType::Float64, false).to_vector();
  for (double& e : v) e = std::floor(e);
  return Tensor::from_vector(v, shape, dtype).requires_grad_(true);
}

}  // namespace

TEST_CASE("cuda: conv2d forward and both gradients match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    expect_conv_matches({2, 3, 8, 8}, {4, 3, 3, 3}, false, conv_params(1, 1), dtype, tolerance(dtype));
    expect_conv_matches({2, 4, 9, 9}, {6, 4, 3, 3}, true, conv_params(2, 1), dtype, tolerance(dtype));
    expect_conv_matches({2, 4, 7, 7}, {6, 2, 3, 3}, true, conv_params(1, 1, 2), dtype, tolerance(dtype));
    expect_conv_matches({2, 6, 5, 5}, {4, 6, 1, 1}, true, conv_params(1, 0), dtype, tolerance(dtype));
  }
  // SOFT's local branch: a depthwise 9x9 conv per head over [B*d, heads, H, W]. Its weight
  // gradient sums 64 * 196 products per tap, so float32 gets a looser absolute tolerance.
  expect_conv_matches({64, 2, 14, 14}, {2, 1, 9, 9}, false, conv_params(1, 4, 2), DType::Float32, {1e-3, 1e-4});
  expect_conv_matches({8, 2, 14, 14}, {2, 1, 9, 9}, false, conv_params(1, 4, 2), DType::Float64,
                      tolerance(DType::Float64));
}

TEST_CASE("cuda: the strided landmark conv on a permuted (non-contiguous) input matches the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  // As SoftLowRankAttention::landmarks: [B*h, H, W, d] permuted to [B*h, d, H, W], 4x4 stride 4, no bias.
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Inputs inputs{rand_input({4, 16, 16, 8}, -1, 1, dtype), rand_input({8, 8, 4, 4}, -1, 1, dtype)};
    expect_gpu_matches_cpu(
        [](const Inputs& in) { return conv2d(permute(in[0], {0, 3, 1, 2}), in[1], no_bias, conv_params(4, 0)); },
        inputs, tolerance(dtype));
  }
}

TEST_CASE("cuda: conv2d_grad_input and conv2d_grad_weight called directly match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  Conv2dParams p = conv_params(2, 1);
  Shape x_shape{2, 3, 9, 9}, w_shape{5, 3, 3, 3};
  Tensor gy = rand_input({2, 5, 5, 5}, -1, 1, DType::Float32, false);
  Tensor w = rand_input(w_shape, -1, 1, DType::Float32, false), x = rand_input(x_shape, -1, 1, DType::Float32, false);
  expect_gpu_matches_cpu([&](const Inputs& in) { return conv2d_grad_input(in[0], in[1], x_shape, p); }, {gy, w},
                         tolerance(DType::Float32));
  expect_gpu_matches_cpu([&](const Inputs& in) { return conv2d_grad_weight(in[0], in[1], w_shape, p); }, {gy, x},
                         tolerance(DType::Float32));
}

TEST_CASE("cuda: max_pool2d and avg_pool2d match the CPU, ties and overlapping windows included") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (const Pool2dParams& p : {pool_params(2, 2, 0), pool_params(3, 2, 1), pool_params(3, 1, 1)}) {
      INFO("kernel ", p.kernel[0], ", stride ", p.stride[0], ", padding ", p.padding[0], ", ", dtype_name(dtype));
      Tensor x = rand_input({2, 3, 9, 8}, -1, 1, dtype);
      expect_gpu_matches_cpu([p](const Inputs& in) { return max_pool2d(in[0], p); }, {x});
      expect_gpu_matches_cpu([p](const Inputs& in) { return max_pool2d(in[0], p); },
                             {tied_values({2, 3, 9, 8}, dtype)});
      expect_gpu_matches_cpu([p](const Inputs& in) { return avg_pool2d(in[0], p); }, {x});
      // A transposed (non-contiguous) input.
      expect_gpu_matches_cpu([p](const Inputs& in) { return avg_pool2d(transpose(in[0], 2, 3), p); }, {x});
    }
  }
}

TEST_CASE("cuda: interpolate_bilinear down and up matches the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    auto resize = [](int64_t h, int64_t w) {
      return [h, w](const Inputs& in) { return interpolate_bilinear(in[0], h, w); };
    };
    expect_gpu_matches_cpu(resize(7, 5), {rand_input({2, 3, 14, 14}, -1, 1, dtype)});
    expect_gpu_matches_cpu(resize(14, 20), {rand_input({2, 3, 5, 7}, -1, 1, dtype)});
    expect_gpu_matches_cpu(resize(1, 1), {rand_input({1, 2, 4, 3}, -1, 1, dtype)});
    // As SOFT's position-embedding resize: a permuted grid.
    expect_gpu_matches_cpu([](const Inputs& in) { return interpolate_bilinear(permute(in[0], {0, 3, 1, 2}), 9, 9); },
                           {rand_input({1, 6, 6, 4}, -1, 1, dtype)});
  }
}

TEST_CASE("cuda: index_select with repeated indices matches the CPU, forward and backward") {
  SOFT_SKIP_WITHOUT_GPU();
  Tensor index = Tensor::from_vector({3, 0, 3, 1, 3}, {5}, DType::Int64);
  Tensor gpu_index = to_device(index, Device::cuda(0));
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({4, 5, 6}, -1, 1, dtype);
    for (int64_t dim : {0, 1, 2, -1}) {
      INFO("dim ", dim, ", ", dtype_name(dtype));
      // The index moves with the inputs: it is a CPU tensor for the CPU run, a GPU one for the GPU run.
      expect_gpu_matches_cpu(
          [&](const Inputs& in) { return index_select(in[0], dim, in[0].device().is_cpu() ? index : gpu_index); }, {x});
    }
    expect_gpu_matches_cpu([&](const Inputs& in) {
      return index_select(transpose(in[0], 0, 2), 1, in[0].device().is_cpu() ? index : gpu_index);
    }, {x});
  }
  // Other dtypes are copied bit for bit.
  for (DType dtype : {DType::Int64, DType::BFloat16}) {
    Tensor x = to_dtype(rand_input({4, 6}, -50, 50, DType::Float64, false), dtype);
    Tensor y = index_select(to_device(x, Device::cuda(0)), 0, gpu_index);
    CHECK(to_device(y, Device::cpu()).to_vector() == index_select(x, 0, index).to_vector());
  }
}

TEST_CASE("cuda: index_select with an out-of-range index on the GPU is a clear error") {
  SOFT_SKIP_WITHOUT_GPU();
  Tensor x = rand_input({3, 4}, -1, 1, DType::Float32, false).to(Device::cuda(0));
  Tensor bad = to_device(Tensor::from_vector({0, 7}, {2}, DType::Int64), Device::cuda(0));
  CHECK_THROWS_WITH_AS(index_select(x, 1, bad), doctest::Contains("index[1] = 7 is out of range for dim 1 of size 4"),
                       Error);
}

TEST_CASE("cuda: cat and stack on the GPU match the CPU, forward and backward") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Inputs xs{rand_input({2, 3, 4}, -1, 1, dtype), rand_input({2, 5, 4}, -1, 1, dtype),
              rand_input({2, 1, 4}, -1, 1, dtype)};
    expect_gpu_matches_cpu([](const Inputs& in) { return cat(in, 1); }, xs, {0, 0});
    expect_gpu_matches_cpu([](const Inputs& in) { return cat({transpose(in[0], 0, 2), transpose(in[1], 0, 2)}, 1); },
                           {xs[0], xs[1]}, {0, 0});
    Inputs same{rand_input({3, 4}, -1, 1, dtype), rand_input({3, 4}, -1, 1, dtype), rand_input({3, 4}, -1, 1, dtype)};
    for (int64_t dim : {0, 1, 2})
      expect_gpu_matches_cpu([dim](const Inputs& in) { return stack(in, dim); }, same, {0, 0});
  }
}

TEST_CASE("cuda: dropout and drop_path draw the CPU's exact mask and advance the Generator alike") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (double p : {0.1, 0.5, 0.9}) {
      INFO("p ", p, ", ", dtype_name(dtype));
      Tensor x = rand_input({4, 5, 33}, 0.5, 1.5, dtype);  // never 0: a kept element is visible
      // The same seed on both devices: outputs and gradients must be equal, not only close.
      expect_gpu_matches_cpu([p](const Inputs& in) { Generator g(1234); return dropout(in[0], p, true, g); }, {x},
                             {0, 0});
      expect_gpu_matches_cpu([p](const Inputs& in) { Generator g(99); return drop_path(in[0], p, true, g); }, {x},
                             {0, 0});
      expect_gpu_matches_cpu(
          [p](const Inputs& in) { Generator g(5); return dropout(permute(in[0], {2, 0, 1}), p, true, g); }, {x},
          {0, 0});
    }
  }
  // Two draws in a row: the second starts where the first ended, on both devices.
  Tensor x = rand_input({3, 7, 5}, 0.5, 1.5, DType::Float32, false);
  Generator cpu_gen(42), gpu_gen(42);
  Tensor gx = to_device(x, Device::cuda(0));
  for (int draw = 0; draw < 2; ++draw) {
    Tensor a = dropout(x, 0.3, true, cpu_gen), b = drop_path(x, 0.3, true, cpu_gen);
    Tensor ga = dropout(gx, 0.3, true, gpu_gen), gb = drop_path(gx, 0.3, true, gpu_gen);
    CHECK(to_device(ga, Device::cpu()).to_vector() == a.to_vector());
    CHECK(to_device(gb, Device::cpu()).to_vector() == b.to_vector());
    CHECK(gpu_gen.offset == cpu_gen.offset);
  }
  // p = 1 drops everything and draws nothing.
  Generator untouched(7);
  Tensor zero = to_device(dropout(gx, 1.0, true, untouched), Device::cpu());
  CHECK(zero.to_vector() == std::vector<double>(x.numel(), 0.0));
  CHECK(untouched.offset == 0);
}
