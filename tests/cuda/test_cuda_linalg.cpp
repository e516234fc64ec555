// The CUDA kernels of matmul, linear, pairwise_sqdist, gaussian_kernel, gaussian_lowrank_attention
// and newton_inverse against the CPU ones, forward and backward (cuda/matmul.cu, cuda/pairwise.cu,
// cuda/gaussian_kernel.cu, cuda/newton_inverse.cu).
#include <string>
#include <vector>

#include "core/random.h"
#include "tests/cuda/cuda_test.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Inputs = std::vector<Tensor>;

// float32: cuBLAS runs without TF32, so only the summation order differs from the CPU.
Tolerance tol_for(DType dtype) { return dtype == DType::Float32 ? Tolerance{1e-4, 1e-4} : Tolerance{1e-12, 1e-10}; }

Tensor in(const Shape& shape, DType dtype, double lo = -1, double hi = 1) {
  return rand_input(shape, lo, hi, dtype, true);
}

// SOFT's landmark kernel matrix K2 = gaussian_kernel(L, L) of random landmarks L [..., m, d] in
// [-h, h]^d, as a leaf that requires grad. Smaller h: landmarks closer together, K2 worse conditioned.
Tensor landmark_kernel(const Shape& shape, double h, uint64_t seed, DType dtype) {
  Generator gen(seed);
  Tensor l = uniform(shape, -h, h, gen, dtype);
  Tensor k = gaussian_kernel(l, l).detach();
  k.requires_grad_(true);
  return k;
}

// Element (i, j) of the last two dims of each matrix of x (on any device), in logical order.
std::vector<double> host_values(const Tensor& x) { return to_device(x, Device::cpu()).to_vector(); }

}  // namespace

TEST_CASE("cuda: matmul matches the CPU: plain, batched, broadcast batch dims, transposed and strided operands") {
  SOFT_SKIP_WITHOUT_GPU();
  auto mm = [](const Inputs& x) { return matmul(x[0], x[1]); };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tolerance tol = tol_for(dtype);
    expect_gpu_matches_cpu(mm, {in({5, 7}, dtype), in({7, 3}, dtype)}, tol);
    expect_gpu_matches_cpu(mm, {in({4, 5, 7}, dtype), in({4, 7, 3}, dtype)}, tol);
    expect_gpu_matches_cpu(mm, {in({2, 3, 5, 4}, dtype), in({4, 6}, dtype)}, tol);  // one gemm over 30 rows
    expect_gpu_matches_cpu(mm, {in({2, 2, 196, 32}, dtype), in({2, 2, 32, 49}, dtype)}, tol);  // [B,h,N,d]@[B,h,d,m]
    expect_gpu_matches_cpu(mm, {in({2, 1, 5, 4}, dtype), in({1, 3, 4, 6}, dtype)}, tol);  // both broadcast
    expect_gpu_matches_cpu(mm, {in({3, 4}, dtype), in({2, 3, 4, 5}, dtype)}, tol);        // a broadcast
    expect_gpu_matches_cpu(mm, {in({5, 1}, dtype), in({1, 4}, dtype)}, tol);              // K = 1
    expect_gpu_matches_cpu(mm, {in({1, 7}, dtype), in({7, 1}, dtype)}, tol);              // M = N = 1
    // Transposed views (op flags), a strided slice (copied first), permuted batch dims (a host loop).
    expect_gpu_matches_cpu([](const Inputs& x) { return matmul(transpose(x[0], -1, -2), x[1]); },
                           {in({2, 7, 5}, dtype), in({2, 7, 3}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return matmul(x[0], transpose(x[1], -1, -2)); },
                           {in({2, 5, 7}, dtype), in({2, 3, 7}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return matmul(slice(x[0], -1, 0, 14, 2), x[1]); },
                           {in({2, 5, 14}, dtype), in({7, 3}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return matmul(permute(x[0], {1, 0, 2, 3}), x[1]); },
                           {in({3, 2, 5, 4}, dtype), in({2, 3, 4, 6}, dtype)}, tol);
  }
}

TEST_CASE("cuda: matmul with an empty inner dim gives zeros") {
  SOFT_SKIP_WITHOUT_GPU();
  Tensor a = to_device(zeros({2, 3, 0}), Device::cuda(0)), b = to_device(zeros({2, 0, 4}), Device::cuda(0));
  CHECK(host_values(matmul(a, b)) == std::vector<double>(24, 0.0));
}

TEST_CASE("cuda: linear matches the CPU, with and without bias, 3-D and strided inputs") {
  SOFT_SKIP_WITHOUT_GPU();
  auto lin = [](const Inputs& x) { return linear(x[0], x[1], x[2]); };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tolerance tol = tol_for(dtype);
    expect_gpu_matches_cpu(lin, {in({6, 5}, dtype), in({4, 5}, dtype), in({4}, dtype)}, tol);
    expect_gpu_matches_cpu(lin, {in({2, 7, 5}, dtype), in({4, 5}, dtype), in({4}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return linear(x[0], x[1], Tensor()); },
                           {in({2, 7, 5}, dtype), in({4, 5}, dtype)}, tol);
    expect_gpu_matches_cpu(lin, {in({3, 64, 96}, dtype), in({80, 96}, dtype), in({80}, dtype)}, tol);
    // A weight that is a transposed view, x whose rows do not fold (copied by the op), and x with
    // a column stride of 2 (copied by the CUDA kernel).
    expect_gpu_matches_cpu([](const Inputs& x) { return linear(x[0], transpose(x[1], 0, 1), x[2]); },
                           {in({6, 5}, dtype), in({5, 4}, dtype), in({4}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return linear(transpose(x[0], 0, 1), x[1], x[2]); },
                           {in({7, 2, 5}, dtype), in({4, 5}, dtype), in({4}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return linear(slice(x[0], -1, 0, 10, 2), x[1], x[2]); },
                           {in({6, 10}, dtype), in({4, 5}, dtype), in({4}, dtype)}, tol);
  }
}

TEST_CASE("cuda: pairwise_sqdist matches the CPU, and is exact on identical rows") {
  SOFT_SKIP_WITHOUT_GPU();
  auto pw = [](const Inputs& x) { return pairwise_sqdist(x[0], x[1]); };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tolerance tol = tol_for(dtype);
    expect_gpu_matches_cpu(pw, {in({2, 3, 20, 8}, dtype), in({2, 3, 9, 8}, dtype)}, tol);
    expect_gpu_matches_cpu(pw, {in({2, 33, 37}, dtype), in({2, 17, 37}, dtype)}, tol);  // feature tiles with a tail
    expect_gpu_matches_cpu(pw, {in({1, 1}, dtype), in({5, 1}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return pairwise_sqdist(x[0], x[0]); }, {in({2, 17, 5}, dtype)}, tol);
    expect_gpu_matches_cpu([](const Inputs& x) { return pairwise_sqdist(transpose(x[0], -1, -2), x[1]); },
                           {in({2, 6, 11}, dtype), in({2, 4, 6}, dtype)}, tol);
    // Same rows: the diagonal is exactly 0 and the matrix exactly symmetric, as on the CPU.
    Tensor x = to_device(in({3, 21, 19}, dtype, -2, 2), Device::cuda(0));
    std::vector<double> d = host_values(pairwise_sqdist(x, x));
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t i = 0; i < 21; ++i)
        for (int64_t j = 0; j < 21; ++j) {
          CHECK(d[(t * 21 + i) * 21 + j] == d[(t * 21 + j) * 21 + i]);
          if (i == j) CHECK(d[(t * 21 + i) * 21 + j] == 0.0);
        }
  }
}

TEST_CASE("cuda: gaussian_kernel matches the CPU, forward and backward, exactly 1 on identical rows") {
  SOFT_SKIP_WITHOUT_GPU();
  auto gk = [](const Inputs& x) { return gaussian_kernel(x[0], x[1]); };
  auto self = [](const Inputs& x) { return gaussian_kernel(x[0], x[0]); };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tolerance tol = tol_for(dtype);
    // The model's shapes: queries [B, h, N, d] against landmarks [B, h, m, d] (inputs scaled so the
    // kernel values spread over (0, 1) rather than underflow).
    expect_gpu_matches_cpu(gk, {in({2, 2, 196, 32}, dtype, -0.3, 0.3), in({2, 2, 49, 32}, dtype, -0.3, 0.3)}, tol);
    expect_gpu_matches_cpu(self, {in({2, 2, 49, 32}, dtype, -0.3, 0.3)}, tol);
    expect_gpu_matches_cpu(gk, {in({3, 1, 3}, dtype), in({3, 17, 3}, dtype)}, tol);  // tiles with tails
    expect_gpu_matches_cpu([](const Inputs& x) { return gaussian_kernel(transpose(x[0], -1, -2), x[1]); },
                           {in({2, 5, 20}, dtype, -0.5, 0.5), in({2, 9, 5}, dtype, -0.5, 0.5)}, tol);
    Tensor l = to_device(in({2, 49, 32}, dtype, -0.3, 0.3), Device::cuda(0));
    std::vector<double> k = host_values(gaussian_kernel(l, l));
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t i = 0; i < 49; ++i)
        for (int64_t j = 0; j < 49; ++j) {
          CHECK(k[(t * 49 + i) * 49 + j] == k[(t * 49 + j) * 49 + i]);
          if (i == j) CHECK(k[(t * 49 + i) * 49 + j] == 1.0);
        }
  }
}

TEST_CASE("cuda: gaussian_lowrank_attention matches the CPU with K1 kept and with K1 in row blocks") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    // q [B, h, N, d], landmarks [B, h, m, d], p [B, h, m, m], v [B, h, N, d] at the model's shapes;
    // 0 rows: the default (one block here), 50: four blocks, the last one short.
    for (int64_t rows : {0, 50}) {
      INFO("block_rows ", rows);
      auto attention = [rows](const Inputs& x) { return gaussian_lowrank_attention(x[0], x[1], x[2], x[3], rows); };
      expect_gpu_matches_cpu(attention,
                             {in({2, 2, 196, 32}, dtype, -0.3, 0.3), in({2, 2, 49, 32}, dtype, -0.3, 0.3),
                              in({2, 2, 49, 49}, dtype, -0.1, 0.1), in({2, 2, 196, 32}, dtype)},
                             tol_for(dtype));
    }
  }
}

TEST_CASE("cuda: newton_inverse (journal form) matches the CPU on landmark kernel matrices") {
  SOFT_SKIP_WITHOUT_GPU();
  auto newton = [](int64_t iterations) {
    return [iterations](const Inputs& x) { return newton_inverse(x[0], iterations); };
  };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    bool f32 = dtype == DType::Float32;
    // V has entries up to ~7 here and its gradient -(V^T G V^T) up to ~150: float32 rounding,
    // amplified by the conditioning of K2 + 0.01 I, differs in the 5th-6th significant digit.
    Tolerance fwd = f32 ? Tolerance{1e-4, 1e-3} : Tolerance{1e-9, 1e-9};
    Tolerance bwd = f32 ? Tolerance{2e-3, 1e-3} : Tolerance{1e-8, 1e-9};
    // The model's m = 49 (the one-kernel path, all four matrices in shared memory).
    Tensor k49 = landmark_kernel({4, 2, 49, 32}, 0.25, 11, dtype);
    expect_gpu_matches_cpu(newton(20), {k49.detach()}, fwd);
    expect_gpu_matches_cpu(newton(20), {k49}, bwd);
    expect_gpu_matches_cpu(newton(0), {k49.detach()}, fwd);  // V = alpha P
    expect_gpu_matches_cpu(newton(3), {k49.detach()}, fwd);
    // m = 8 (one kernel), and m = 128 (batched cuBLAS products).
    expect_gpu_matches_cpu(newton(20), {landmark_kernel({3, 2, 8, 32}, 0.3, 12, dtype)}, bwd);
    expect_gpu_matches_cpu(newton(20), {landmark_kernel({2, 2, 128, 32}, 0.5, 13, dtype)}, bwd);
    // A non-symmetric input.
    expect_gpu_matches_cpu(newton(20), {add(mul_scalar(eye(6, dtype), 2.0), in({3, 6, 6}, dtype, 0, 0.5))}, bwd);
    // The composite of the model: L -> K2 -> V, gradients through both ops back to the landmarks.
    Generator gen(14);
    Tensor l = uniform({2, 2, 49, 32}, -0.25, 0.25, gen, dtype);
    l.requires_grad_(true);
    expect_gpu_matches_cpu([](const Inputs& x) { return newton_inverse(gaussian_kernel(x[0], x[0]), 20); }, {l}, bwd);
  }
  // m = 180 in float64, batched cuBLAS products, an odd and an even number of iterations.
  Tensor big = landmark_kernel({1, 180, 32}, 0.6, 15, DType::Float64);
  expect_gpu_matches_cpu(newton(6), {big.detach()}, {1e-9, 1e-9});
  expect_gpu_matches_cpu(newton(7), {big.detach()}, {1e-9, 1e-9});
}

TEST_CASE("cuda: newton_inverse (NeurIPS form, composed of other ops) matches the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tolerance tol = dtype == DType::Float32 ? Tolerance{5e-3, 1e-3} : Tolerance{1e-8, 1e-9};
    expect_gpu_matches_cpu([](const Inputs& x) { return newton_inverse(x[0], 20, NewtonForm::NeurIPS); },
                           {landmark_kernel({2, 2, 16, 32}, 0.3, 16, dtype)}, tol);
  }
}
