// CUDA kernel of ops/gaussian_kernel.cpp: exp(-|a_i - b_j|^2 / 2) from the distance kernel of
// cuda/distance.cuh (the backward is two cuBLAS products, in ops/gaussian_kernel.cpp).
#include "cuda/distance.cuh"

namespace soft::cuda {
namespace {

// y [batch, N, M] from a [batch, N, d] and b [batch, M, d], all contiguous.
void cuda_gaussian_kernel(const Tensor& a, const Tensor& b, Tensor& y) {
  launch_distance<true>(a, b, b.size(-1), 1, y, "gaussian_kernel");
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("gaussian_kernel", cuda_gaussian_kernel);

}  // namespace soft::cuda
