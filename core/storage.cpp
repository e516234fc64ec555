#include "core/storage.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace soft {
namespace {

constexpr size_t kCpuAlignment = 64;  // one cache line, and a whole AVX-512 register

// Blocks of at least kCacheMin bytes are kept when freed and handed out again for the same
// rounded size: a training step allocates the same large activations every step, and fresh
// memory from the OS costs a page fault and a zeroed page per 4 KiB (about 7% of a soft_fmnist
// step). Smaller blocks are left to malloc, which reuses them without the OS. When keeping a
// block would take the cache past kCacheCap, the whole cache is returned to the OS (sizes that
// stopped recurring go with it).
constexpr size_t kCacheMin = size_t(1) << 20;
constexpr size_t kCacheCap = size_t(1) << 30;

struct CpuAllocator final : Allocator {
  void* allocate(size_t bytes, Device) override {
    size_t rounded = round(bytes);
    void* p = take(rounded, bytes);
    count_live(rounded);
    return p;
  }
  void deallocate(void* ptr, size_t bytes, Device) override {
    size_t rounded = round(bytes);
    live_ -= rounded;
    if (rounded < kCacheMin) return std::free(ptr);
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + rounded > kCacheCap) release_locked();
    if (rounded > kCacheCap) return std::free(ptr);
    free_[rounded].push_back(ptr);
    cached_ += rounded;
  }
  void release_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }
  MemoryStats stats(Device) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return {live_.load(), peak_.load(), cached_};
  }
  void reset_peak(Device) override { peak_ = live_.load(); }

 private:
  static size_t round(size_t bytes) {
    size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    return rounded == 0 ? kCpuAlignment : rounded;
  }
  // A cached block of exactly `rounded` bytes, else a new one.
  void* take(size_t rounded, size_t bytes) {
    if (rounded >= kCacheMin) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= rounded;
        return p;
      }
    }
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    if (!p) {
      release_cache();  // then try once more
      p = std::aligned_alloc(kCpuAlignment, rounded);
    }
    if (!p) throw Error(detail::concat("out of CPU memory allocating ", bytes, " bytes"));
    return p;
  }
  void count_live(size_t rounded) {
    size_t now = live_ += rounded, peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
  }
  void release_locked() {
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // rounded size -> free blocks
  size_t cached_ = 0;                                    // bytes in free_
  std::atomic<size_t> live_{0}, peak_{0};                // bytes handed out and not freed; their most
};

// Never destroyed: tensors held by static objects are freed after static destruction begins.
CpuAllocator& cpu_allocator = *new CpuAllocator;
DeviceBackend cuda_backend;

}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator;
  SOFT_CHECK(cuda_backend.allocator, "cannot allocate on ", device.str(),
             ": this build has no CUDA backend (configure with -DSOFT_CUDA=ON on a machine with nvcc)");
  return *cuda_backend.allocator;
}

MemoryStats memory_stats(Device device) { return allocator_for(device).stats(device); }
void reset_peak_memory(Device device) { allocator_for(device).reset_peak(device); }

void set_device_backend(DeviceType type, const DeviceBackend& backend) {
  SOFT_CHECK(type == DeviceType::CUDA, "set_device_backend: only the CUDA backend can be installed");
  cuda_backend = backend;
}

void copy_between_devices(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                          bool non_blocking) {
  SOFT_CHECK(cuda_backend.copy, "cannot copy from ", src_device.str(), " to ", dst_device.str(),
             ": this build has no CUDA backend");
  cuda_backend.copy(dst, dst_device, src, src_device, bytes, non_blocking);
}

void device_synchronize(Device device) {
  if (!device.is_cpu() && cuda_backend.synchronize) cuda_backend.synchronize(device);
}

bool pinned_memory_available() { return cuda_backend.pinned_host && cuda_backend.pinned_host(); }

Storage::Storage(size_t bytes, Device device, bool pinned) : bytes_(bytes), device_(device) {
  Allocator* page_locked = pinned && device.is_cpu() && cuda_backend.pinned_host ? cuda_backend.pinned_host() : nullptr;
  pinned_ = page_locked != nullptr;
  allocator_ = pinned_ ? page_locked : &allocator_for(device);
  data_ = allocator_->allocate(bytes, device);
}

Storage::~Storage() { allocator_->deallocate(data_, bytes_, device_); }

}  // namespace soft
