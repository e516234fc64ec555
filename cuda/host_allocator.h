#pragma once
// The caching allocator of pinned (page-locked) host memory, which the CPU tensors of
// Tensor::empty(..., pinned = true) live in and cudaMemcpyAsync copies from while the host goes on.
//
// Freed blocks are kept (cudaHostAlloc and cudaFreeHost are slow; cudaFreeHost waits for the whole
// device) and handed out again, best fit within twice the request. A block that an asynchronous
// copy read from is not handed out again before the copy finished: each such copy records an event
// on its stream (record_copy_from), and a freed block waits among the pending ones until all its
// events have completed, as PyTorch's CachingHostAllocator does.
#include <cstddef>

#include "core/storage.h"

namespace soft::cuda {

// nullptr on a machine without a CUDA device (PinnedAllocatorFn in core/storage.h).
Allocator* pinned_host_allocator();

// Whether [ptr, ptr + bytes) lies in one live pinned block.
bool is_pinned_host(const void* ptr, size_t bytes);
// After a copy from `ptr` (inside a live pinned block) was queued on stream(device): the block is
// not reused before the work queued so far on that stream has finished.
void record_copy_from(const void* ptr, int device);

struct PinnedMemoryStats {
  size_t current = 0;  // bytes of blocks held by live tensors
  size_t cached = 0;   // bytes of freed blocks ready for reuse
  size_t pending = 0;  // bytes of freed blocks a queued copy may still read
};
// Counts pending blocks whose copies have finished as cached.
PinnedMemoryStats pinned_memory_stats();
void empty_pinned_cache();  // returns the cached blocks to the driver

}  // namespace soft::cuda
