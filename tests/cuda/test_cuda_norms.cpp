// The CUDA reduction, softmax, loss and normalisation kernels against the CPU, forward and
// backward: sum (rows, leading dims, everything, long rows split into chunks), mean, var,
// sum_to, argmax (ties and NaNs), max, softmax, log_softmax, cross_entropy, layer_norm and
// batch_norm (training, running statistics, eval).
#include <cmath>
#include <limits>

#include "tests/cuda/cuda_test.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Inputs = std::vector<Tensor>;

// Values from {0, 1, 2} (many ties per row), with a NaN every `nan_every` elements (0: none).
Tensor tied_values(const Shape& shape, DType dtype, int64_t nan_every, bool requires_grad) {
  std::vector<double> v = rand_input(shape, 0, 3, DType::Float64, false).to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = std::floor(v[i]);
    if (nan_every > 0 && static_cast<int64_t>(i) % nan_every == nan_every - 1)
      v[i] = std::numeric_limits<double>::quiet_NaN();
  }
  Tensor t = Tensor::from_vector(v, shape, dtype);
  if (requires_grad) t.requires_grad_(true);
  return t;
}

Tensor no_tensor;

}  // namespace

TEST_CASE("cuda: sum over rows, leading dims, all dims and strided inputs matches the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({4, 5, 6}, -1, 1, dtype);
    for (const Shape& dims : std::vector<Shape>{{}, {0}, {1}, {2}, {-1}, {0, 1}, {1, 2}, {0, 2}, {0, 1, 2}})
      for (bool keepdim : {false, true}) {
        INFO("dims ", shape_str(dims), " keepdim ", keepdim);
        expect_gpu_matches_cpu([&](const Inputs& in) { return sum(in[0], dims, keepdim); }, {x});
      }
    expect_gpu_matches_cpu([](const Inputs& in) { return sum(in[0]); }, {x});
    // Strided: a transposed view is reduced through the [rows, R] copy.
    expect_gpu_matches_cpu([](const Inputs& in) { return sum(transpose(in[0], 0, 2), {1}); }, {x});
  }
  // Long rows split into chunks per block, a full sum of 2^20 values, and column sums over
  // many rows (several row chunks per column tile).
  auto sum_dim = [](int64_t dim) { return [dim](const Inputs& in) { return sum(in[0], {dim}); }; };
  expect_gpu_matches_cpu(sum_dim(1), {rand_input({3, 100000}, -1, 1, DType::Float32)});
  expect_gpu_matches_cpu([](const Inputs& in) { return sum(in[0]); }, {rand_input({1 << 20}, -1, 1, DType::Float32)});
  expect_gpu_matches_cpu(sum_dim(0), {rand_input({5000, 40}, -1, 1, DType::Float32)});
  expect_gpu_matches_cpu([](const Inputs& in) { return sum(in[0], {0, 1}); },
                         {rand_input({64, 30, 17}, -1, 1, DType::Float64)});
  // An empty reduced dim sums to zeros.
  expect_gpu_matches_cpu(sum_dim(1), {rand_input({3, 0}, -1, 1, DType::Float32)});
}

TEST_CASE("cuda: mean, var and sum_to (composed from sum) match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({6, 7, 8}, -2, 3, dtype);
    expect_gpu_matches_cpu([](const Inputs& in) { return mean(in[0]); }, {x});
    expect_gpu_matches_cpu([](const Inputs& in) { return mean(in[0], {0, 2}, true); }, {x});
    expect_gpu_matches_cpu([](const Inputs& in) { return var(in[0], {1}); }, {x});
    expect_gpu_matches_cpu([](const Inputs& in) { return var(in[0], {0, 2}, false, true); }, {x});
    expect_gpu_matches_cpu([](const Inputs& in) { return var(in[0], {}); }, {x});
    expect_gpu_matches_cpu([](const Inputs& in) { return sum_to(in[0], {7, 1}); }, {x});
    expect_gpu_matches_cpu([](const Inputs& in) { return sum_to(in[0], {6, 1, 8}); }, {x});
  }
}

TEST_CASE("cuda: argmax takes the first maximum or the first NaN, as the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({6, 7, 8}, -1, 1, dtype, false);
    Tensor ties = tied_values({6, 7, 8}, dtype, 0, false);
    Tensor nans = tied_values({6, 7, 8}, dtype, 13, false);
    for (int64_t dim : {0, 1, 2, -1})
      for (const Tensor& t : {x, ties, nans}) {
        INFO("dim ", dim);
        expect_gpu_matches_cpu([dim](const Inputs& in) { return argmax(in[0], dim); }, {t});
        expect_gpu_matches_cpu([dim](const Inputs& in) { return argmax(in[0], dim, true); }, {t});
      }
  }
  expect_gpu_matches_cpu([](const Inputs& in) { return argmax(in[0], 1); },
                         {tied_values({5, 5000}, DType::Float32, 0, false)});
  expect_gpu_matches_cpu([](const Inputs& in) { return argmax(in[0], 1); },
                         {tied_values({5, 5000}, DType::Float32, 1777, false)});
  expect_gpu_matches_cpu([](const Inputs& in) { return argmax(in[0], 0); },
                         {rand_input({16, 10}, -1, 1, DType::Float32, false)});
}

TEST_CASE("cuda: max and its gradient (to the first maximum) match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({4, 5, 6}, -1, 1, dtype);
    Tensor ties = tied_values({4, 5, 6}, dtype, 0, true);
    for (int64_t dim : {0, 1, 2})
      for (bool keepdim : {false, true})
        for (const Tensor& t : {x, ties}) {
          INFO("dim ", dim, " keepdim ", keepdim);
          expect_gpu_matches_cpu([=](const Inputs& in) { return max(in[0], dim, keepdim); }, {t});
        }
  }
  expect_gpu_matches_cpu([](const Inputs& in) { return max(in[0], -1); },
                         {rand_input({3, 3000}, -1, 1, DType::Float32)});
}

TEST_CASE("cuda: softmax and log_softmax over every dim match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({2, 4, 50, 50}, -4, 4, dtype);
    for (int64_t dim : {-1, 0, 1, 2}) {
      INFO("dim ", dim, " dtype ", dtype_name(dtype));
      expect_gpu_matches_cpu([dim](const Inputs& in) { return softmax(in[0], dim); }, {x});
      expect_gpu_matches_cpu([dim](const Inputs& in) { return log_softmax(in[0], dim); }, {x});
    }
  }
  // Long rows (one 256-thread block per row), a strided input, a 0-d input, large logits.
  Tensor long_rows = rand_input({4, 3000}, -8, 8, DType::Float32);
  expect_gpu_matches_cpu([](const Inputs& in) { return softmax(in[0], 1); }, {long_rows});
  expect_gpu_matches_cpu([](const Inputs& in) { return log_softmax(in[0], 1); }, {long_rows});
  Tensor x = rand_input({6, 9, 5}, -3, 3, DType::Float32);
  expect_gpu_matches_cpu([](const Inputs& in) { return softmax(transpose(in[0], 0, 2), -1); }, {x});
  expect_gpu_matches_cpu([](const Inputs& in) { return log_softmax(in[0], 0); },
                         {rand_input({}, -1, 1, DType::Float32)});
  expect_gpu_matches_cpu([](const Inputs& in) { return softmax(in[0], -1); },
                         {rand_input({8, 16}, 60, 90, DType::Float32)});
}

TEST_CASE("cuda: cross_entropy with index or probability targets and label smoothing matches the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor logits = rand_input({16, 10}, -3, 3, dtype);
    Tensor index = Tensor::from_vector({3, 0, 9, 1, 1, 5, 7, 2, 8, 6, 4, 0, 9, 3, 5, 2}, {16}, DType::Int64);
    Tensor probs = rand_input({16, 10}, 0, 1, dtype);  // unnormalised rows too: sum(t) enters the gradient
    for (double eps : {0.0, 0.1}) {
      INFO("label_smoothing ", eps, " dtype ", dtype_name(dtype));
      auto loss = [eps](const Inputs& in) { return cross_entropy(in[0], in[1], eps); };
      expect_gpu_matches_cpu(loss, {logits, index});
      expect_gpu_matches_cpu(loss, {logits, probs});
    }
  }
  // Many classes (one 256-thread block per row), and only the logits needing a gradient.
  Tensor logits = rand_input({8, 1000}, -5, 5, DType::Float32);
  Tensor index = Tensor::from_vector({0, 999, 500, 17, 3, 250, 998, 1}, {8}, DType::Int64);
  expect_gpu_matches_cpu([](const Inputs& in) { return cross_entropy(in[0], in[1], 0.1); }, {logits, index});
  Tensor probs = rand_input({8, 1000}, 0, 1, DType::Float32, false);
  expect_gpu_matches_cpu([](const Inputs& in) { return cross_entropy(in[0], in[1], 0.2); }, {logits, probs});
}

TEST_CASE("cuda: cross_entropy rejects an out-of-range class index as the CPU does") {
  SOFT_SKIP_WITHOUT_GPU();
  Tensor logits = to_device(rand_input({4, 5}, -1, 1, DType::Float32, false), Device::cuda(0));
  Tensor bad = to_device(Tensor::from_vector({1, 5, 0, 2}, {4}, DType::Int64), Device::cuda(0));
  CHECK_THROWS_WITH_AS(cross_entropy(logits, bad),
                       "cross_entropy: target 5 at batch index 1 is out of range for 5 classes", Error);
  Tensor negative = to_device(Tensor::from_vector({1, 0, 2, -1}, {4}, DType::Int64), Device::cuda(0));
  CHECK_THROWS_WITH_AS(cross_entropy(logits, negative),
                       "cross_entropy: target -1 at batch index 3 is out of range for 5 classes", Error);
}

TEST_CASE("cuda: layer_norm forward and backward match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  Tolerance tol{1e-4, 1e-4};
  Tensor x = rand_input({8, 196, 64}, -2, 3, DType::Float32);
  Tensor w = rand_input({64}, 0.5, 1.5, DType::Float32), b = rand_input({64}, -0.5, 0.5, DType::Float32);
  expect_gpu_matches_cpu([](const Inputs& in) { return layer_norm(in[0], {64}, in[1], in[2]); }, {x, w, b}, tol);
  expect_gpu_matches_cpu([](const Inputs& in) { return layer_norm(in[0], {64}, no_tensor, no_tensor); }, {x}, tol);
  expect_gpu_matches_cpu([](const Inputs& in) { return layer_norm(in[0], {64}, in[1], no_tensor, 1e-6); }, {x, w},
                         tol);
  // Two normalised dims, a strided input, long rows, and float64.
  Tensor w2 = rand_input({4, 16}, 0.5, 1.5, DType::Float32), b2 = rand_input({4, 16}, -1, 1, DType::Float32);
  expect_gpu_matches_cpu([](const Inputs& in) { return layer_norm(in[0], {4, 16}, in[1], in[2]); },
                         {rand_input({10, 4, 16}, -1, 1, DType::Float32), w2, b2}, tol);
  expect_gpu_matches_cpu([](const Inputs& in) { return layer_norm(transpose(in[0], 0, 1), {7}, in[1], in[2]); },
                         {rand_input({7, 12}, -1, 1, DType::Float32), rand_input({7}, 0.5, 1.5, DType::Float32),
                          rand_input({7}, -1, 1, DType::Float32)},
                         tol);
  expect_gpu_matches_cpu([](const Inputs& in) { return layer_norm(in[0], {3000}, in[1], in[2]); },
                         {rand_input({4, 3000}, -1, 1, DType::Float32), rand_input({3000}, 0.5, 1.5, DType::Float32),
                          rand_input({3000}, -1, 1, DType::Float32)},
                         tol);
  expect_gpu_matches_cpu([](const Inputs& in) { return layer_norm(in[0], {64}, in[1], in[2]); },
                         {rand_input({3, 5, 64}), rand_input({64}, 0.5, 1.5), rand_input({64})}, {1e-10, 1e-9});
}

TEST_CASE("cuda: batch_norm in training and eval, forward and backward, matches the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  Tolerance tol{1e-4, 1e-4};
  for (bool training : {true, false}) {
    INFO("training ", training);
    auto bn = [training](const Inputs& in) {
      Tensor running_mean = in[3], running_var = in[4];
      return batch_norm(in[0], in[1], in[2], running_mean, running_var, training);
    };
    Tensor x = rand_input({8, 32, 14, 14}, -2, 3, DType::Float32);
    Tensor w = rand_input({32}, 0.5, 1.5, DType::Float32), b = rand_input({32}, -0.5, 0.5, DType::Float32);
    Tensor rm = rand_input({32}, -0.5, 0.5, DType::Float32, false);
    Tensor rv = rand_input({32}, 0.5, 2, DType::Float32, false);
    expect_gpu_matches_cpu(bn, {x, w, b, rm, rv}, tol);
    expect_gpu_matches_cpu(bn, {x, no_tensor, no_tensor, rm, rv}, tol);
    // [B, C] (one value per sample and channel) and float64.
    expect_gpu_matches_cpu(bn,
                           {rand_input({16, 5}, -1, 1, DType::Float32), rand_input({5}, 0.5, 1.5, DType::Float32),
                            rand_input({5}, -1, 1, DType::Float32), rand_input({5}, -1, 1, DType::Float32, false),
                            rand_input({5}, 0.5, 2, DType::Float32, false)},
                           tol);
    expect_gpu_matches_cpu(bn,
                           {rand_input({4, 3, 5, 6}), rand_input({3}, 0.5, 1.5), rand_input({3}),
                            rand_input({3}, -1, 1, DType::Float64, false),
                            rand_input({3}, 0.5, 2, DType::Float64, false)},
                           {1e-10, 1e-9});
  }
  // Training without running statistics; many values per channel (several chunks per channel).
  expect_gpu_matches_cpu(
      [](const Inputs& in) {
        Tensor none;
        return batch_norm(in[0], in[1], in[2], none, none, true);
      },
      {rand_input({32, 4, 40, 40}, -1, 2, DType::Float32), rand_input({4}, 0.5, 1.5, DType::Float32),
       rand_input({4}, -1, 1, DType::Float32)},
      tol);
}

TEST_CASE("cuda: batch_norm training updates the running statistics as on the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  Tensor x = rand_input({8, 32, 14, 14}, -2, 3, DType::Float32, false);
  Tensor rm = rand_input({32}, -0.5, 0.5, DType::Float32, false);
  Tensor rv = rand_input({32}, 0.5, 2, DType::Float32, false);
  Tensor rm_gpu = to_device(rm, Device::cuda(0)), rv_gpu = to_device(rv, Device::cuda(0));
  Tensor rm_cpu = rm.clone(), rv_cpu = rv.clone();
  Tensor none;
  batch_norm(x, none, none, rm_cpu, rv_cpu, true, 0.1);
  batch_norm(to_device(x, Device::cuda(0)), none, none, rm_gpu, rv_gpu, true, 0.1);
  CHECK(rm_gpu.device() == Device::cuda(0));
  expect_close(rm_gpu, rm_cpu.to_vector(), 1e-6, 1e-5);
  expect_close(rv_gpu, rv_cpu.to_vector(), 1e-6, 1e-5);
}
