#include "ops/dispatch.h"

#include <map>
#include <string>

namespace soft {
namespace {

struct Registered {
  const std::type_info* signature;
  void* kernel;
};

std::map<std::string, Registered>& cuda_kernels() {
  static std::map<std::string, Registered> kernels;
  return kernels;
}

}  // namespace

void register_cuda_kernel(const char* name, const std::type_info& signature, void* kernel) {
  auto [it, added] = cuda_kernels().emplace(name, Registered{&signature, kernel});
  SOFT_CHECK(added, "register_cuda_kernel: two CUDA kernels named '", name, "'");
}

void* find_cuda_kernel(const char* name, const std::type_info& signature) {
  auto it = cuda_kernels().find(name);
  if (it == cuda_kernels().end()) return nullptr;
  SOFT_CHECK(*it->second.signature == signature, "the CUDA kernel '", name,
             "' was registered with another signature than its stub's");
  return it->second.kernel;
}

}  // namespace soft
