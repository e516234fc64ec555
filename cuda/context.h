#pragma once
// Per-device state of the CUDA backend: one stream per device, and the cuBLAS (and cuDNN)
// handles bound to it. Every kernel of the backend runs on stream(device), so work on one
// device is ordered and memory freed to the caching allocator can be reused at once.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>

#ifdef SOFT_HAS_CUDNN
#include <cudnn.h>
#endif

namespace soft::cuda {

void set_device(int device);           // makes `device` current for this thread
cudaStream_t stream(int device);       // created on first use
cublasHandle_t cublas(int device);     // bound to stream(device)
#ifdef SOFT_HAS_CUDNN
cudnnHandle_t cudnn(int device);       // bound to stream(device)
#endif
void synchronize(int device);          // waits for stream(device)

// memory_stats and reset_peak_memory of core/storage.h count this backend's tensors per device.
void empty_cache(int device);  // returns cached blocks to the driver

// Threads per block and blocks for one thread per element.
constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace soft::cuda
