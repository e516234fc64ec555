#pragma once
// SOFT_HOST_DEVICE marks a function that nvcc compiles for both the CPU and the GPU, so a CPU
// kernel and a CUDA kernel can share one definition; a plain C++ compiler sees nothing.
#if defined(__CUDACC__)
#define SOFT_HOST_DEVICE __host__ __device__
#else
#define SOFT_HOST_DEVICE
#endif
