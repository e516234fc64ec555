#pragma once
// The list of every op, the one list the coverage tests walk (as PyTorch's OpInfo):
// - tests/test_op_registry.cpp fails for an op without a forward check against a naive loop, a
//   differentiable op without a float64 gradient check, a record("name", ...) in the source whose
//   name is not here as differentiable, and a pointwise op (ops/pointwise_math.h) not here;
// - in test builds, record() refuses a name that is not here as differentiable (tests/main.cpp);
// - tests/cuda/test_cuda_registry.cpp (CUDA builds, no GPU needed) fails for a dispatch stub
//   without a CUDA kernel of its signature unless it is listed in cpu_only_kernels().
#include <string>
#include <vector>

namespace soft {

struct OpInfo {
  const char* name;
  const char* file;      // where its kernel and backward live
  bool differentiable;
};

const std::vector<OpInfo>& op_registry();
const OpInfo* find_op(const std::string& name);  // null when not registered

// Dispatch stubs that have no CUDA kernel on purpose, and why.
struct CpuOnlyKernel {
  const char* stub;
  const char* why;
};
const std::vector<CpuOnlyKernel>& cpu_only_kernels();

}  // namespace soft
