#pragma once
// Device query: what the CUDA backend sees on this machine. Works (and reports zero devices)
// on a machine without a GPU or driver.
#include <string>
#include <vector>

namespace soft::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  size_t total_memory = 0;  // bytes
  int multiprocessors = 0;
};

int device_count();  // 0 when no GPU or no driver
std::vector<DeviceInfo> devices();
// Versions of the runtime, cuBLAS and (when built with it) cuDNN this binary links.
std::string library_versions();
// One line per device, or why none is usable.
std::string describe_devices();

}  // namespace soft::cuda
