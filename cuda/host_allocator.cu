// The caching allocator of pinned host memory (cuda/host_allocator.h).
#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/device.h"
#include "cuda/host_allocator.h"

namespace soft::cuda {
namespace {

constexpr size_t kRound = 512;  // every block is a multiple of this

class PinnedAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes, Device) override {
    size_t size = std::max(kRound, (bytes + kRound - 1) / kRound * kRound);
    std::lock_guard<std::mutex> lock(mutex_);
    collect_finished();
    char* ptr = nullptr;
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= 2 * size) {
      ptr = it->second;
      stats_.cached -= it->first;
      free_.erase(it);
    } else {
      ptr = host_alloc(size, bytes);
      blocks_[ptr].size = size;
    }
    Block& block = blocks_.at(ptr);
    block.in_use = true;
    stats_.current += block.size;
    peak_ = std::max(peak_, stats_.current);
    return ptr;
  }

  void deallocate(void* p, size_t, Device) override {
    std::lock_guard<std::mutex> lock(mutex_);
    char* ptr = static_cast<char*>(p);
    Block& block = blocks_.at(ptr);
    block.in_use = false;
    stats_.current -= block.size;
    forget_finished(block);
    if (block.copies.empty()) {
      free_.emplace(block.size, ptr);
      stats_.cached += block.size;
    } else {
      pending_.push_back(ptr);
      stats_.pending += block.size;
    }
  }

  bool contains(const void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_block_of(p);
    return it != blocks_.end() && static_cast<const char*>(p) + bytes <= it->first + it->second.size;
  }

  void record_copy_from(const void* p, int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_block_of(p);
    SOFT_CHECK(it != blocks_.end(), "record_copy_from: ", p, " is not in a live pinned block");
    Block& block = it->second;
    forget_finished(block);
    cudaEvent_t event = take_event(device);
    SOFT_CUDA_CHECK(cudaEventRecord(event, stream(device)));
    block.copies.push_back({event, device});
  }

  PinnedMemoryStats pinned_stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    collect_finished();
    return stats_;
  }
  // As core's memory_stats counts a device's memory: freed blocks, pending or not, as cached.
  MemoryStats stats(Device) override {
    PinnedMemoryStats s = pinned_stats();
    std::lock_guard<std::mutex> lock(mutex_);
    return {s.current, peak_, s.cached + s.pending};
  }
  void reset_peak(Device) override {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_ = stats_.current;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    collect_finished();
    release_cached();
  }

 private:
  struct Copy {
    cudaEvent_t done;  // recorded on the copy's stream after it
    int device;
  };
  struct Block {
    size_t size = 0;
    bool in_use = false;
    std::vector<Copy> copies;  // queued copies from this block that may not have finished
  };

  char* host_alloc(size_t size, size_t bytes) {
    void* ptr = nullptr;
    if (cudaHostAlloc(&ptr, size, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      release_cached();  // give the cache back and try once more
      cudaError_t status = cudaHostAlloc(&ptr, size, cudaHostAllocDefault);
      if (status != cudaSuccess)
        throw Error(detail::concat("out of pinned host memory allocating ", bytes, " bytes (", stats_.current,
                                   " bytes in use): ", cudaGetErrorString(status)));
    }
    return static_cast<char*>(ptr);
  }

  // The live block holding p, or blocks_.end().
  std::map<char*, Block>::iterator live_block_of(const void* p) {
    char* c = const_cast<char*>(static_cast<const char*>(p));
    auto it = blocks_.upper_bound(c);
    if (it == blocks_.begin()) return blocks_.end();
    --it;
    return c < it->first + it->second.size && it->second.in_use ? it : blocks_.end();
  }

  // Drops the block's copies that have finished.
  void forget_finished(Block& block) {
    auto finished = [&](const Copy& c) {
      cudaError_t status = cudaEventQuery(c.done);
      if (status == cudaErrorNotReady) return false;
      SOFT_CUDA_CHECK(status);
      spare_events_[c.device].push_back(c.done);
      return true;
    };
    block.copies.erase(std::remove_if(block.copies.begin(), block.copies.end(), finished), block.copies.end());
  }

  // Moves the pending blocks whose copies have all finished to the free lists.
  void collect_finished() {
    auto ready = [&](char* ptr) {
      Block& block = blocks_.at(ptr);
      forget_finished(block);
      if (!block.copies.empty()) return false;
      stats_.pending -= block.size;
      stats_.cached += block.size;
      free_.emplace(block.size, ptr);
      return true;
    };
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(), ready), pending_.end());
  }

  cudaEvent_t take_event(int device) {
    std::vector<cudaEvent_t>& spare = spare_events_[device];
    if (!spare.empty()) {
      cudaEvent_t event = spare.back();
      spare.pop_back();
      return event;
    }
    set_device(device);
    cudaEvent_t event = nullptr;
    SOFT_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    return event;
  }

  void release_cached() {
    for (auto& [size, ptr] : free_) {
      SOFT_CUDA_CHECK(cudaFreeHost(ptr));
      blocks_.erase(ptr);
    }
    free_.clear();
    stats_.cached = 0;
  }

  std::mutex mutex_;
  std::map<char*, Block> blocks_;           // every block, by address
  std::multimap<size_t, char*> free_;       // size -> freed blocks ready for reuse
  std::vector<char*> pending_;              // freed blocks a queued copy may still read
  std::unordered_map<int, std::vector<cudaEvent_t>> spare_events_;  // device -> completed events
  PinnedMemoryStats stats_;
  size_t peak_ = 0;  // the most stats_.current has been since the last reset_peak
};

// Never destroyed: pinned tensors held by static objects are freed after static destruction begins.
PinnedAllocator& allocator() {
  static PinnedAllocator& instance = *new PinnedAllocator;
  return instance;
}

}  // namespace

Allocator* pinned_host_allocator() {
  static const bool has_device = device_count() > 0;
  return has_device ? &allocator() : nullptr;
}

bool is_pinned_host(const void* ptr, size_t bytes) { return allocator().contains(ptr, bytes); }
void record_copy_from(const void* ptr, int device) { allocator().record_copy_from(ptr, device); }
PinnedMemoryStats pinned_memory_stats() { return allocator().pinned_stats(); }
void empty_pinned_cache() { allocator().empty_cache(); }

}  // namespace soft::cuda
