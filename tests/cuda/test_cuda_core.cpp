// The CUDA backend's core: allocation and its statistics, host <-> device copies, and the copy
// and fill kernels against the CPU.
#include "cuda/context.h"
#include "tests/cuda/cuda_test.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

TEST_CASE("cuda: without a GPU, allocating on cuda:0 is a clear error") {
  if (cuda::device_count() > 0) {
    MESSAGE("skipped: this machine has a GPU");
    return;
  }
  CHECK_THROWS_WITH_AS(Tensor::empty({4}, DType::Float32, Device::cuda(0)),
                       doctest::Contains("cannot allocate on cuda:0: no CUDA device"), Error);
}

TEST_CASE("cuda: tensors of every dtype round-trip through the device") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16}) {
    Tensor x = Tensor::from_vector({1.5, -2.25, 3, 1e3, -7, 0.125}, {2, 3}, dtype);
    Tensor back = to_device(to_device(x, Device::cuda(0)), Device::cpu());
    CHECK(back.dtype() == dtype);
    CHECK(back.to_vector() == x.to_vector());
  }
}

TEST_CASE("cuda: to_device's gradient goes back to the input's device (float64 gradcheck of the round trip)") {
  SOFT_SKIP_WITHOUT_GPU();
  expect_gradcheck([](const std::vector<Tensor>& in) {
    return to_device(to_device(in[0], Device::cuda(0)) * 2.0, Device::cpu());
  }, {rand_input({2, 3})});
}

TEST_CASE("cuda: strided copies, dtype conversion and fill match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  Tensor x = rand_input({3, 4, 5}, -2, 2, DType::Float32, false);
  Tensor g = to_device(x, Device::cuda(0));
  expect_close(permute(g, {2, 0, 1}).contiguous(), permute(x, {2, 0, 1}).contiguous().to_vector(), 0, 0);
  expect_close(slice(g, 2, 1, 5, 2).contiguous(), slice(x, 2, 1, 5, 2).contiguous().to_vector(), 0, 0);
  for (DType dtype : {DType::Float64, DType::BFloat16, DType::Int64})
    expect_close(to_dtype(g, dtype), to_dtype(x, dtype).to_vector(), 0, 0);
  Tensor filled = full({7, 3}, 2.5, DType::Float32, Device::cuda(0));
  expect_close(filled, std::vector<double>(21, 2.5), 0, 0);
  CHECK(eye(4, DType::Float64, Device::cuda(0)).to_vector() == eye(4, DType::Float64).to_vector());
}

TEST_CASE("cuda: the caching allocator reuses freed blocks and reports current and peak bytes") {
  SOFT_SKIP_WITHOUT_GPU();
  cuda::empty_cache(0);
  reset_peak_memory(Device::cuda(0));
  size_t base = memory_stats(Device::cuda(0)).current;
  const void* first = nullptr;
  {
    Tensor a = Tensor::empty({1 << 20}, DType::Float32, Device::cuda(0));  // 4 MiB
    first = a.raw_data();
    CHECK(memory_stats(Device::cuda(0)).current >= base + (4u << 20));
  }
  CHECK(memory_stats(Device::cuda(0)).current == base);
  CHECK(memory_stats(Device::cuda(0)).cached >= (4u << 20));
  CHECK(memory_stats(Device::cuda(0)).peak >= base + (4u << 20));
  Tensor b = Tensor::empty({1 << 20}, DType::Float32, Device::cuda(0));
  CHECK(b.raw_data() == first);  // the same block, from the cache
}
