#pragma once
// Helpers of the CUDA tests: skip on machines without a GPU, and compare an op on the GPU with
// the same op on the CPU (the CPU kernel is the spec), forward and backward.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "cuda/device.h"
#include "models/config.h"
#include "ops/ops.h"

// Ends the test case with one line when this machine has no GPU.
#define SOFT_SKIP_WITHOUT_GPU()                                                      \
  do {                                                                               \
    if (::soft::cuda::device_count() == 0) {                                         \
      MESSAGE("skipped: no CUDA GPU on this machine (the CUDA tests run on a GPU)"); \
      return;                                                                        \
    }                                                                                \
  } while (0)

namespace soft::test {

struct Tolerance {
  double atol = 1e-5, rtol = 1e-4;
};

// max|a - b| / max|b| over all elements (both copied to the host).
double normwise_error(const Tensor& a, const Tensor& b);

// Runs fn on `inputs` (CPU tensors; those that require grad get gradients) and on copies on
// cuda:0; checks the outputs and every input gradient agree within atol + rtol * |cpu|.
// The backward is seeded with the same random gradient on both devices.
void expect_gpu_matches_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                            const std::vector<Tensor>& inputs, Tolerance tol = {});

// One training step (forward, cross-entropy with smoothing 0.1, backward) of `config`'s model
// built from manual_seed(seed), on the CPU and on cuda:0, with images [B, C, H, W] and labels [B]
// (CPU tensors): the losses agree to 1e-4 relative, every parameter's gradient to 1e-3 of its
// largest entry; a gradient that is zero on the CPU up to rounding (a conv bias before BatchNorm)
// stays below 1e-5 of the largest gradient of the model.
void expect_training_step_matches_cpu(const models::SoftConfig& config, uint64_t seed, const Tensor& images,
                                      const Tensor& labels);

}  // namespace soft::test
