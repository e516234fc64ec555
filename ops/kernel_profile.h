#pragma once
// Per-kernel timing for finding where a step's time goes, on the CPU and the GPU alike.
//
// With the environment variable SOFT_PROFILE_KERNELS=1, every kernel called through a
// DispatchStub (ops/dispatch.h) is timed: a CUDA kernel between two synchronisations of its
// device's stream, a CPU kernel by the wall clock. At exit a table of calls and total time per
// stub name, largest first, goes to stderr; SOFT_PROFILE_KERNELS=shapes splits each stub's row by
// the shapes of its tensor arguments. Synchronising serialises the GPU, so profile to rank
// kernels, and time whole steps without it.
#include <string>

#include "core/device.h"

namespace soft {

enum class KernelProfile { Off, ByName, ByShapes };
KernelProfile kernel_profile();  // from SOFT_PROFILE_KERNELS (read once): unset or 0, shapes, else ByName
inline bool kernel_profiling() { return kernel_profile() != KernelProfile::Off; }

class Tensor;
// Appends " [2, 3]" (t's shape), or " -" when t is undefined.
void append_shape_label(std::string& out, const Tensor& t);

// Times the call of kernel `name` on `device` for as long as it lives; `detail` (e.g. the
// shapes) is appended to the name in the table.
class KernelTimer {
 public:
  KernelTimer(const char* name, Device device, std::string detail = {});
  ~KernelTimer();
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  const char* name_;
  Device device_;
  std::string detail_;
  double start_;
};

}  // namespace soft
