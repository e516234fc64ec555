#pragma once
// Every CUDA runtime, cuBLAS and cuDNN call goes through one of these: a failure becomes a
// soft::Error naming the call's file and line and the library's own message.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.h"

#define SOFT_CUDA_CHECK(call)                                                                     \
  do {                                                                                            \
    cudaError_t soft_status_ = (call);                                                            \
    if (soft_status_ != cudaSuccess)                                                              \
      throw ::soft::Error(::soft::detail::concat(__FILE__, ":", __LINE__, ": ", #call, " failed: ", \
                                                 cudaGetErrorString(soft_status_)));              \
  } while (0)

#define SOFT_CUBLAS_CHECK(call)                                                                   \
  do {                                                                                            \
    cublasStatus_t soft_status_ = (call);                                                         \
    if (soft_status_ != CUBLAS_STATUS_SUCCESS)                                                    \
      throw ::soft::Error(::soft::detail::concat(__FILE__, ":", __LINE__, ": ", #call, " failed: ", \
                                                 cublasGetStatusString(soft_status_)));           \
  } while (0)

#ifdef SOFT_HAS_CUDNN
#include <cudnn.h>
#define SOFT_CUDNN_CHECK(call)                                                                    \
  do {                                                                                            \
    cudnnStatus_t soft_status_ = (call);                                                          \
    if (soft_status_ != CUDNN_STATUS_SUCCESS)                                                     \
      throw ::soft::Error(::soft::detail::concat(__FILE__, ":", __LINE__, ": ", #call, " failed: ", \
                                                 cudnnGetErrorString(soft_status_)));             \
  } while (0)
#endif
