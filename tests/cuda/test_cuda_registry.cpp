// Needs no GPU, only a CUDA build: every dispatch stub of the program (ops/dispatch.h lists them as
// they are constructed) has a CUDA kernel of exactly its signature, unless ops/registry.cpp lists
// it as CPU-only, and no CPU-only stub has one (the list does not go stale).
#include <string>

#include "ops/dispatch.h"
#include "ops/registry.h"
#include "tests/cuda/cuda_test.h"

using namespace soft;

namespace {

const CpuOnlyKernel* cpu_only(const char* stub) {
  for (const CpuOnlyKernel& k : cpu_only_kernels())
    if (std::string(k.stub) == stub) return &k;
  return nullptr;
}

}  // namespace

TEST_CASE("cuda: every dispatch stub has a CUDA kernel of its signature unless listed CPU-only") {
  REQUIRE(dispatch_stubs().size() > 30);  // the list is filled: every op family's stubs
  for (const StubInfo& stub : dispatch_stubs()) {
    INFO("stub '", stub.name, "'");
    void* kernel = nullptr;
    // find_cuda_kernel throws when the kernel was registered with another signature.
    CHECK_NOTHROW(kernel = find_cuda_kernel(stub.name, *stub.signature));
    if (cpu_only(stub.name))
      CHECK_MESSAGE(kernel == nullptr, "listed CPU-only in ops/registry.cpp but has a CUDA kernel");
    else
      CHECK_MESSAGE(kernel != nullptr, "no SOFT_REGISTER_CUDA_KERNEL(\"", stub.name,
                    "\", ...) in cuda/ and not listed in cpu_only_kernels() of ops/registry.cpp");
  }
}
