// CUDA kernel of ops/pairwise.cpp: squared distances between rows (cuda/distance.cuh).
#include "cuda/distance.cuh"

namespace soft::cuda {
namespace {

// out [batch, N, M] from a [batch, N, d] and bt [batch, d, M], both contiguous.
void cuda_pairwise_sqdist(const Tensor& a, const Tensor& bt, Tensor& out) {
  launch_distance<false>(a, bt, 1, bt.size(-1), out, "pairwise_sqdist");
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("pairwise_sqdist", cuda_pairwise_sqdist);

}  // namespace soft::cuda
