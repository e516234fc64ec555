#pragma once
// Differentiable collectives, and batch normalisation over the global batch built on them
// (timm's --sync-bn, PyTorch's SyncBatchNorm).
#include "dist/communicator.h"

namespace soft::dist {

// The sum of x over the ranks (every rank gets it). Backward: the sum of the ranks' gradients, since
// each rank's loss depends on every rank's x. With a world of one it is the identity.
Tensor all_reduce_sum(const Tensor& x, Communicator& comm);

// Training-mode batch normalisation of x [B, C, ...] with the statistics of the batches of all ranks
// together: the mean and the biased variance of each channel over every rank's B * H * W values,
// as one process would compute them on the global batch. running_mean/var are updated in place
// (unbiased variance, momentum as ops' batch_norm).
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                       Tensor& running_var, double momentum, double eps, Communicator& comm);

}  // namespace soft::dist
