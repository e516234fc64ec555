// core/ linked alone, without autograd, ops or a device backend (docs/ARCHITECTURE.md, "Layers"):
// tensors, strided views, the CPU copy and safetensors files work, and a device without a
// backend is a clear error.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/safetensors.h"
#include "core/tensor.h"
#include "tests/temp_dir.h"

using namespace soft;

namespace {

// A [3, 2] view of a [2, 3] tensor's storage with swapped strides: its transpose.
Tensor transposed(const Tensor& t) { return make_view(t, {t.size(1), t.size(0)}, {t.strides()[1], t.strides()[0]}, 0); }

std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a strided view reads and copies its own elements in row-major order") {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64);
  Tensor v = transposed(t);
  CHECK_FALSE(v.is_contiguous());
  CHECK(v.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
  Tensor c = cpu_copy(v);
  CHECK(c.is_contiguous());
  CHECK(c.storage() != t.storage());
  CHECK(c.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(cpu_copy(t).storage() == t.storage());  // already contiguous on the CPU: no copy
  CHECK(cpu_copy(Tensor::empty({0, 4})).numel() == 0);
}

TEST_CASE("safetensors round-trips a strided view without ops") {
  test::TempDir dir;
  std::string path = dir.file("w.safetensors");
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float32);
  save_safetensors(path, {{"w", transposed(t)}});
  Safetensors loaded = load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 1);
  CHECK(loaded.tensors[0].first == "w");
  const Tensor& w = loaded.tensors[0].second;
  CHECK(w.shape() == Shape{3, 2});
  CHECK(w.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("without a device backend, device memory and copies are clear errors") {
  CHECK(error_of([] { Tensor::empty({2}, DType::Float32, Device::cuda()); }).find("no CUDA backend") !=
        std::string::npos);
  float x = 0;
  CHECK(error_of([&] { copy_between_devices(&x, Device::cpu(), &x, Device::cuda(), 4); }).find("no CUDA backend") !=
        std::string::npos);
  device_synchronize(Device::cuda());  // nothing to wait for: returns
  CHECK(error_of([] { memory_stats(Device::cuda()); }).find("no CUDA backend") != std::string::npos);
}

TEST_CASE("the CPU allocator counts live tensor bytes, their peak and its reset") {
  reset_peak_memory(Device::cpu());
  const size_t before = memory_stats(Device::cpu()).current;
  {
    Tensor t = Tensor::empty({1000}, DType::Float64);  // 8000 bytes, a multiple of the 64-byte rounding
    CHECK(memory_stats(Device::cpu()).current == before + 8000);
    CHECK(memory_stats(Device::cpu()).peak >= before + 8000);
  }
  CHECK(memory_stats(Device::cpu()).current == before);
  CHECK(memory_stats(Device::cpu()).peak >= before + 8000);
  reset_peak_memory(Device::cpu());
  CHECK(memory_stats(Device::cpu()).peak == before);
}

TEST_CASE("without a device backend, pinned memory requests get ordinary CPU memory") {
  CHECK_FALSE(pinned_memory_available());
  Tensor t = Tensor::empty({3}, DType::Float32, Device::cpu(), /*pinned=*/true);
  CHECK(t.device().is_cpu());
  CHECK_FALSE(t.is_pinned());
  t.data<float>()[2] = 1.5f;
  CHECK(t.data<float>()[2] == 1.5f);
  const std::string error = error_of([] { Tensor::empty({2}, DType::Float32, Device::cuda(), true); });
  CHECK(error.find("pinned memory is host memory") != std::string::npos);
}
