#pragma once
// Storage: one reference-counted buffer of bytes on one device. Tensors are views into it.
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace soft {

// An allocator's bytes on one device: held by live tensors, the most held since the last
// reset_peak_memory, and freed blocks kept for reuse.
struct MemoryStats {
  size_t current = 0, peak = 0, cached = 0;
};

// A device's memory source. The CPU one hands out 64-byte aligned blocks; the CUDA backend
// installs its own (DeviceBackend below) when it is built. Both keep freed blocks for reuse.
struct Allocator {
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes, Device device) = 0;
  virtual void deallocate(void* ptr, size_t bytes, Device device) = 0;
  virtual MemoryStats stats(Device device) = 0;
  virtual void reset_peak(Device device) = 0;
};

// The tensor memory of a device as its allocator counts it (the CPU's rounded up to 64 bytes);
// throws for a device this build has no backend for.
MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);  // peak = current

// Copies `bytes` between memories of two devices (at least one of them not the CPU). Copies that
// involve host memory have finished when it returns, except a non_blocking host-to-device copy from
// pinned host memory: it is only queued on the device's stream (which orders it before every later
// kernel on that device), and the pinned block is not handed out again before the copy finished.
using DeviceCopyFn = void (*)(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                              bool non_blocking);
// Waits until the work queued on a device has finished.
using DeviceSynchronizeFn = void (*)(Device device);
// The allocator of pinned (page-locked) host memory, which the device can copy from while the host
// goes on; nullptr where this machine cannot give it (a CUDA build on a machine without a GPU).
using PinnedAllocatorFn = Allocator* (*)();

// What core needs from a device backend, installed once by the backend (cuda/allocator.cu) from a
// static initialiser. Core and the layers above reach the device only through these hooks and the
// kernels of ops/dispatch.h, so nothing below the backend includes it.
struct DeviceBackend {
  Allocator* allocator = nullptr;
  DeviceCopyFn copy = nullptr;
  DeviceSynchronizeFn synchronize = nullptr;
  PinnedAllocatorFn pinned_host = nullptr;
};
void set_device_backend(DeviceType type, const DeviceBackend& backend);  // type: CUDA only

Allocator& allocator_for(Device device);  // throws when the device has no allocator in this build
// Throws when this build has no backend for the non-CPU device. non_blocking: see DeviceCopyFn.
void copy_between_devices(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                          bool non_blocking = false);
void device_synchronize(Device device);   // nothing for the CPU or a build without a backend
// Whether a request for pinned host memory gets it: false in a build without CUDA and on a machine
// without a GPU, where pinned requests quietly get ordinary memory (as PyTorch's DataLoader).
bool pinned_memory_available();

class Storage {
 public:
  // pinned: page-locked host memory for a CPU storage where pinned_memory_available(), else
  // ordinary memory; pinned() says which it got. Either way the storage is on the CPU.
  Storage(size_t bytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  bool pinned_ = false;
  Allocator* allocator_ = nullptr;
};

}  // namespace soft
