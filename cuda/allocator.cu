// The caching device allocator: freed blocks are kept per device in size-ordered free lists and
// handed out again (best fit, at most twice the request), so a training step allocates from
// the driver only in its first iterations.
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/storage.h"
#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/device.h"
#include "cuda/host_allocator.h"

namespace soft::cuda {
namespace {

constexpr size_t kRound = 512;  // every block is a multiple of this (keeps vector loads aligned)

class CachingAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes, Device device) override {
    static const int devices = device_count();
    SOFT_CHECK(device.index < devices, "cannot allocate on ", device.str(), ": ",
               devices == 0 ? "no CUDA device on this machine (no GPU or no driver)"
                            : detail::concat("this machine has ", devices, " CUDA devices"));
    size_t size = std::max(kRound, (bytes + kRound - 1) / kRound * kRound);
    std::lock_guard<std::mutex> lock(mutex_);
    Pool& pool = pools_[device.index];
    auto it = pool.free.lower_bound(size);
    void* ptr = nullptr;
    if (it != pool.free.end() && it->first <= 2 * size) {
      size = it->first;
      ptr = it->second;
      pool.free.erase(it);
      pool.stats.cached -= size;
    } else {
      set_device(device.index);
      if (cudaMalloc(&ptr, size) != cudaSuccess) {
        cudaGetLastError();
        release_cached(pool, device.index);  // give the cache back and try once more
        cudaError_t status = cudaMalloc(&ptr, size);
        if (status != cudaSuccess)
          throw Error(detail::concat("out of memory on ", device.str(), " allocating ", bytes, " bytes (",
                                     pool.stats.current, " bytes in use): ", cudaGetErrorString(status)));
      }
    }
    pool.sizes[ptr] = size;
    pool.stats.current += size;
    pool.stats.peak = std::max(pool.stats.peak, pool.stats.current);
    return ptr;
  }

  void deallocate(void* ptr, size_t, Device device) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Pool& pool = pools_[device.index];
    size_t size = pool.sizes.at(ptr);
    pool.sizes.erase(ptr);
    pool.stats.current -= size;
    pool.stats.cached += size;
    pool.free.emplace(size, ptr);
  }

  MemoryStats stats(Device device) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return pools_[device.index].stats;
  }
  void reset_peak(Device device) override {
    std::lock_guard<std::mutex> lock(mutex_);
    pools_[device.index].stats.peak = pools_[device.index].stats.current;
  }
  void empty_cache(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached(pools_[device], device);
  }

 private:
  struct Pool {
    std::multimap<size_t, void*> free;
    std::unordered_map<void*, size_t> sizes;
    MemoryStats stats;
  };

  void release_cached(Pool& pool, int device) {
    set_device(device);
    SOFT_CUDA_CHECK(cudaDeviceSynchronize());
    for (auto& [size, ptr] : pool.free) SOFT_CUDA_CHECK(cudaFree(ptr));
    pool.free.clear();
    pool.stats.cached = 0;
  }

  std::mutex mutex_;
  std::unordered_map<int, Pool> pools_;
};

CachingAllocator& allocator() {
  static CachingAllocator instance;
  return instance;
}

// Host <-> device and device <-> device copies on the device's stream. Copies that involve host
// memory wait for completion, so the host buffer may be reused as soon as this returns; except a
// non_blocking copy from pinned host memory to the device, which only records (for the pinned
// allocator) that the block must not be reused before the copy finished.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes, bool non_blocking) {
  if (bytes == 0) return;
  int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
  cudaMemcpyKind kind = src_device.is_cpu()   ? cudaMemcpyHostToDevice
                        : dst_device.is_cpu() ? cudaMemcpyDeviceToHost
                                              : cudaMemcpyDeviceToDevice;
  set_device(device);
  const bool queue_only = kind == cudaMemcpyHostToDevice && non_blocking && is_pinned_host(src, bytes);
  SOFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream(device)));
  if (queue_only) return record_copy_from(src, device);
  if (kind != cudaMemcpyDeviceToDevice) synchronize(device);
}

void synchronize_device(Device device) { synchronize(device.index); }

[[maybe_unused]] const bool installed = [] {
  DeviceBackend backend;
  backend.allocator = &allocator();
  backend.copy = copy_bytes;
  backend.synchronize = synchronize_device;
  backend.pinned_host = pinned_host_allocator;
  set_device_backend(DeviceType::CUDA, backend);
  return true;
}();

}  // namespace

void empty_cache(int device) { allocator().empty_cache(device); }

}  // namespace soft::cuda
