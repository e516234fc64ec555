// Helpers at the dispatch level: the kernel profiler's shape labels and the bf16 autocast guard
// (its CUDA effect is tested in tests/cuda/test_cuda_bf16.cpp).
#include <doctest/doctest.h>

#include "ops/autocast.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

using namespace soft;

TEST_CASE("dispatch: the profiler labels a call by its tensor arguments, '-' for undefined ones") {
  Tensor a = zeros({2, 3}), scalar = zeros({});
  CHECK(tensor_shapes(a, 5, Tensor(), scalar, 1.5) == " [2, 3] - []");
  CHECK(tensor_shapes(7).empty());
}

TEST_CASE("autocast: the guard nests and restores, and CPU kernels ignore it") {
  CHECK(!autocast_bf16());
  Generator gen(3);
  Tensor a = uniform({8, 16}, -1.0, 1.0, gen), b = uniform({16, 4}, -1.0, 1.0, gen);
  Tensor plain = matmul(a, b);
  {
    AutocastBf16 on;
    CHECK(autocast_bf16());
    {
      AutocastBf16 off(false);
      CHECK(!autocast_bf16());
    }
    CHECK(autocast_bf16());
    CHECK(matmul(a, b).to_vector() == plain.to_vector());  // float32 on the CPU, bit for bit
  }
  CHECK(!autocast_bf16());
}
