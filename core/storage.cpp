#include "core/storage.h"

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace soft {
namespace {

constexpr size_t kCpuAlignment = 64;  // one cache line, and a whole AVX-512 register

struct CpuAllocator final : Allocator {
  void* allocate(size_t bytes, Device) override {
    size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded == 0 ? kCpuAlignment : rounded);
    if (!p) throw Error(detail::concat("out of CPU memory allocating ", bytes, " bytes"));
    return p;
  }
  void deallocate(void* ptr, size_t, Device) override { std::free(ptr); }
};

CpuAllocator cpu_allocator;
Allocator* cuda_allocator = nullptr;
DeviceCopyFn device_copy = nullptr;

}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator;
  SOFT_CHECK(cuda_allocator, "cannot allocate on ", device.str(),
             ": this build has no CUDA backend (configure with -DSOFT_CUDA=ON on a machine with nvcc)");
  return *cuda_allocator;
}

void set_device_allocator(DeviceType type, Allocator* allocator) {
  SOFT_CHECK(type == DeviceType::CUDA, "set_device_allocator: only the CUDA allocator can be replaced");
  cuda_allocator = allocator;
}

void set_device_copy(DeviceCopyFn copy) { device_copy = copy; }

void copy_between_devices(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  SOFT_CHECK(device_copy, "cannot copy from ", src_device.str(), " to ", dst_device.str(),
             ": this build has no CUDA backend");
  device_copy(dst, dst_device, src, src_device, bytes);
}

Storage::Storage(size_t bytes, Device device)
    : bytes_(bytes), device_(device), allocator_(&allocator_for(device)) {
  data_ = allocator_->allocate(bytes, device);
}

Storage::~Storage() { allocator_->deallocate(data_, bytes_, device_); }

}  // namespace soft
