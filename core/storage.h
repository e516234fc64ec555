#pragma once
// Storage: one reference-counted buffer of bytes on one device. Tensors are views into it.
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace soft {

// A device's memory source. The CPU one hands out 64-byte aligned blocks; the CUDA backend
// installs its own with set_device_allocator when it is built.
struct Allocator {
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes, Device device) = 0;
  virtual void deallocate(void* ptr, size_t bytes, Device device) = 0;
};

// The CPU allocator's bytes (rounded up to its 64-byte alignment): held by live tensors, the most
// held since the last reset_cpu_peak, and freed blocks kept for reuse.
struct CpuMemoryStats {
  size_t current = 0, peak = 0, cached = 0;
};
CpuMemoryStats cpu_memory_stats();
void reset_cpu_peak();

Allocator& allocator_for(Device device);  // throws when the device has no allocator in this build
void set_device_allocator(DeviceType type, Allocator* allocator);

// Copies `bytes` between memories of two devices (at least one of them not the CPU). The CUDA
// backend installs the implementation; without one this throws.
using DeviceCopyFn = void (*)(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void set_device_copy(DeviceCopyFn copy);
void copy_between_devices(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
};

}  // namespace soft
