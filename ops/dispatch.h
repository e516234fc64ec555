#pragma once
// How an op picks its kernel. Dtype: dispatch_float hands the kernel a float or double tag.
// Device: a DispatchStub holds one kernel per backend; the CPU kernel is given where the op is
// defined, the CUDA backend registers its own under the stub's name when it is built.
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "core/tensor.h"
#include "ops/kernel_profile.h"

namespace soft {

// Calls body(T{}) with T = float or double for x's dtype; other dtypes are an error naming `op`.
template <class F>
decltype(auto) dispatch_float(DType dtype, const char* op, F&& body) {
  switch (dtype) {
    case DType::Float32: return body(float{});
    case DType::Float64: return body(double{});
    default:
      throw Error(detail::concat(op, ": dtype ", dtype_name(dtype), " is not supported (float32 or float64; ",
                                 "convert bfloat16 with to_dtype first)"));
  }
}

// CUDA kernels register under their stub's name (cuda/*.cu, at start-up); a stub looks its
// kernel up on first use, so the order of static initialisation does not matter.
void register_cuda_kernel(const char* name, const std::type_info& signature, void* kernel);
void* find_cuda_kernel(const char* name, const std::type_info& signature);  // null when none

// Every DispatchStub of the program, listed as it is constructed: tests/cuda/test_cuda_registry.cpp
// fails for a stub without a CUDA kernel of its signature unless ops/registry.cpp lists it as
// CPU-only.
struct StubInfo {
  const char* name;
  const std::type_info* signature;
};
const std::vector<StubInfo>& dispatch_stubs();
void register_dispatch_stub(const char* name, const std::type_info& signature);

// " [2, 3] [3] -": the shapes of the Tensor arguments ("-" when undefined), for the kernel profiler.
template <class... A>
std::string tensor_shapes(const A&... args) {
  std::string out;
  auto add = [&out](const auto& a) {
    if constexpr (std::is_same_v<std::decay_t<decltype(a)>, Tensor>) append_shape_label(out, a);
  };
  (add(args), ...);
  return out;
}

template <class Signature> class DispatchStub;

template <class R, class... Args>
class DispatchStub<R(Args...)> {
 public:
  using Kernel = R (*)(Args...);
  DispatchStub(const char* name, Kernel cpu) : name_(name), cpu_(cpu) {
    register_dispatch_stub(name, typeid(R(Args...)));
  }

  R operator()(Device device, Args... args) const {
    Kernel kernel = cpu_;
    if (!device.is_cpu()) {
      if (!cuda_) cuda_ = reinterpret_cast<Kernel>(find_cuda_kernel(name_, typeid(R(Args...))));
      SOFT_CHECK(cuda_, name_, ": no CUDA kernel for this op in this build (tensor on ", device.str(), ")");
      kernel = cuda_;
    }
    if (kernel_profiling()) {
      KernelTimer timer(name_, device, kernel_profile() == KernelProfile::ByShapes ? tensor_shapes(args...) : "");
      return kernel(args...);
    }
    return kernel(args...);
  }

 private:
  const char* name_;  // unique: the CUDA kernel registers under it
  Kernel cpu_;
  mutable Kernel cuda_ = nullptr;
};

// In a cuda/*.cu file: SOFT_REGISTER_CUDA_KERNEL("copy_", cuda_copy) installs cuda_copy for the
// stub named "copy_"; its signature must be the stub's (checked at the first call).
#define SOFT_REGISTER_CUDA_KERNEL(name, fn)                                                 \
  [[maybe_unused]] static const bool soft_cuda_kernel_##fn = [] {                           \
    ::soft::register_cuda_kernel(name, typeid(decltype(fn)), reinterpret_cast<void*>(&fn)); \
    return true;                                                                            \
  }()

// Throws naming `op` unless every defined tensor is on the same device as the first.
inline void check_same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) first = t;
    SOFT_CHECK(t->device() == first->device(), op, ": tensors on different devices (", first->device().str(),
               " and ", t->device().str(), ")");
  }
}

// Throws naming `op` unless every defined tensor has the dtype of the first.
inline void check_same_dtype(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) first = t;
    SOFT_CHECK(t->dtype() == first->dtype(), op, ": dtype mismatch (", dtype_name(first->dtype()), " and ",
               dtype_name(t->dtype()), ")");
  }
}

// Throws naming `op` unless x has `ndim` dims.
inline void check_dim(const char* op, const char* what, const Tensor& x, int64_t ndim) {
  SOFT_CHECK(x.dim() == ndim, op, ": ", what, " must have ", ndim, " dims, got shape ", shape_str(x.shape()));
}

}  // namespace soft
