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

std::vector<StubInfo>& stubs() {
  static std::vector<StubInfo> list;
  return list;
}

}  // namespace

void register_cuda_kernel(const char* name, const std::type_info& signature, void* kernel) {
  auto [it, added] = cuda_kernels().emplace(name, Registered{&signature, kernel});
  SOFT_CHECK(added, "register_cuda_kernel: two CUDA kernels named '", name, "'");
}

const std::vector<StubInfo>& dispatch_stubs() { return stubs(); }

void register_dispatch_stub(const char* name, const std::type_info& signature) {
  for (const StubInfo& s : stubs())
    SOFT_CHECK(std::string(s.name) != name, "two dispatch stubs named '", name, "'");
  stubs().push_back({name, &signature});
}

void* find_cuda_kernel(const char* name, const std::type_info& signature) {
  auto it = cuda_kernels().find(name);
  if (it == cuda_kernels().end()) return nullptr;
  SOFT_CHECK(*it->second.signature == signature, "the CUDA kernel '", name,
             "' was registered with another signature than its stub's");
  return it->second.kernel;
}

}  // namespace soft
