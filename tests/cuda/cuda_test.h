#pragma once
// Helpers of the CUDA tests: skip on machines without a GPU, and compare an op on the GPU with
// the same op on the CPU (the CPU kernel is the spec), forward and backward.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "cuda/device.h"
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

// Runs fn on `inputs` (CPU tensors; those that require grad get gradients) and on copies on
// cuda:0; checks the outputs and every input gradient agree within atol + rtol * |cpu|.
// The backward is seeded with the same random gradient on both devices.
// max|a - b| / max|b| over all elements (both copied to the host).
double normwise_error(const Tensor& a, const Tensor& b);

void expect_gpu_matches_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                            const std::vector<Tensor>& inputs, Tolerance tol = {});

}  // namespace soft::test
