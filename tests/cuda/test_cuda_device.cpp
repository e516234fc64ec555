// The CUDA backend's device query. On a machine without a GPU it reports none and the
// GPU-only checks skip with one line.
#include <doctest/doctest.h>

#include <string>

#include "cuda/device.h"

TEST_CASE("cuda: library versions are readable without a GPU") {
  std::string v = soft::cuda::library_versions();
  CHECK(v.find("CUDA runtime ") == 0);
  CHECK(v.find("cuBLAS ") != std::string::npos);
}

TEST_CASE("cuda: device query") {
  int n = soft::cuda::device_count();
  std::string text = soft::cuda::describe_devices();
  if (n == 0) {
    MESSAGE("skipped: no CUDA GPU on this machine (" << text << ")");
    CHECK(text.find("no CUDA device") == 0);
    return;
  }
  auto list = soft::cuda::devices();
  REQUIRE(static_cast<int>(list.size()) == n);
  CHECK(list[0].total_memory > 0);
  CHECK(list[0].compute_major >= 5);
  CHECK(text.find("cuda:0 ") == 0);
}
