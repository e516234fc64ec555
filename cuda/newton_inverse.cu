// CUDA kernel of ops/newton_inverse.cpp: the journal-form Newton inverse.
#include <math_constants.h>

#include <cstdint>
#include <limits>
#include <utility>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

constexpr int kNewtonThreads = 512;  // threads per matrix

// Journal-form Newton inverse of each matrix of k [count, m, m] (contiguous), as on the CPU:
//   alpha = 1.8 / (max row sum of k)^2 (row sums in double),  P = k + 0.01 I,  V = alpha P,
//   `iterations` times W = V P, X = 2V - W V, V <- X;  out [count, m, m] = V.
// Small matrices (the model's m = 49) run all iterations in one kernel, one thread block per
// matrix with V, W, X, P in shared memory; larger ones run each product as one batched cuBLAS GEMM.

// alpha of matrix kc [m, m], computed by the whole block (row sums per thread, then the warps).
template <class T>
__device__ T newton_alpha(const T* kc, int64_t m) {
  __shared__ double warp_max[kNewtonThreads / 32];
  int tid = threadIdx.x;
  double local = -CUDART_INF;
  for (int64_t i = tid; i < m; i += blockDim.x) {
    double s = 0;
    for (int64_t j = 0; j < m; ++j) s += static_cast<double>(kc[i * m + j]);
    local = i == tid ? s : fmax(local, s);
  }
  for (int offset = 16; offset > 0; offset /= 2) local = fmax(local, __shfl_down_sync(0xffffffffu, local, offset));
  if (tid % 32 == 0) warp_max[tid / 32] = local;
  __syncthreads();
  double max_row_sum = warp_max[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) max_row_sum = fmax(max_row_sum, warp_max[w]);
  T s = static_cast<T>(max_row_sum);
  return static_cast<T>(1.8 / (static_cast<double>(s) * static_cast<double>(s)));
}

// P = kc + 0.01 I and V = alpha P, by the whole block.
template <class T>
__device__ void newton_start(const T* kc, int64_t m, T alpha, T* P, T* V) {
  for (int64_t e = threadIdx.x; e < m * m; e += blockDim.x) {
    P[e] = kc[e] + (e / m == e % m ? T(0.01) : T(0));
    V[e] = alpha * P[e];
  }
}

// All iterations in shared memory; one block per matrix. Each product is summed in q order, one
// thread per output element.
template <class T>
__global__ void newton_shared_kernel(const T* k, int64_t m, int64_t iterations, T* out) {
  extern __shared__ __align__(16) unsigned char smem[];
  int64_t mm = m * m, c = blockIdx.x;
  T* V = reinterpret_cast<T*>(smem);
  T *W = V + mm, *X = W + mm, *P = X + mm;
  const T* kc = k + c * mm;
  newton_start(kc, m, newton_alpha(kc, m), P, V);
  __syncthreads();
  for (int64_t it = 0; it < iterations; ++it) {
    for (int64_t e = threadIdx.x; e < mm; e += blockDim.x) {  // W = V P
      int64_t i = e / m, j = e % m;
      T acc = T(0);
      for (int64_t q = 0; q < m; ++q) acc += V[i * m + q] * P[q * m + j];
      W[e] = acc;
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < mm; e += blockDim.x) {  // X = 2V - W V
      int64_t i = e / m, j = e % m;
      T acc = T(0);
      for (int64_t q = 0; q < m; ++q) acc += W[i * m + q] * V[q * m + j];
      X[e] = T(2) * V[e] - acc;
    }
    __syncthreads();
    T* old = V;
    V = X;
    X = old;
  }
  for (int64_t e = threadIdx.x; e < mm; e += blockDim.x) out[c * mm + e] = V[e];
}

// P and V of each matrix in global memory, for the cuBLAS iterations; one block per matrix.
template <class T>
__global__ void newton_start_kernel(const T* k, int64_t m, T* P, T* V) {
  int64_t offset = blockIdx.x * m * m;
  newton_start(k + offset, m, newton_alpha(k + offset, m), P + offset, V + offset);
}

// Row-major C = alpha A B + beta C for `count` m x m matrices of each operand (cuBLAS is
// column-major: C^T = B^T A^T).
void batched_square_gemm(int device, int64_t m, int64_t count, float alpha, const float* A, const float* B,
                         float beta, float* C) {
  long long stride = m * m;
  SOFT_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas(device), CUBLAS_OP_N, CUBLAS_OP_N, m, m, m, &alpha, B, m, stride,
                                              A, m, stride, &beta, C, m, stride, static_cast<int>(count)));
}
void batched_square_gemm(int device, int64_t m, int64_t count, double alpha, const double* A, const double* B,
                         double beta, double* C) {
  long long stride = m * m;
  SOFT_CUBLAS_CHECK(cublasDgemmStridedBatched(cublas(device), CUBLAS_OP_N, CUBLAS_OP_N, m, m, m, &alpha, B, m, stride,
                                              A, m, stride, &beta, C, m, stride, static_cast<int>(count)));
}

// Bytes of dynamic shared memory a block may use on `device` (beside the kernel's static arrays).
int64_t dynamic_shared_limit(int device) {
  int optin = 0;
  SOFT_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return static_cast<int64_t>(optin) - 1024;
}

constexpr int64_t kNewtonSharedMaxM = 64;  // above this one block per matrix leaves the GPU idle

// k [count, m, m] contiguous; out [count, m, m].
void cuda_newton_inverse(const Tensor& k, int64_t iterations, Tensor& out) {
  int64_t m = k.size(-1);
  if (k.numel() == 0) return;
  int64_t count = k.numel() / (m * m);
  SOFT_CHECK(count <= std::numeric_limits<int>::max(), "newton_inverse: ", count, " matrices are too many");
  int device = k.device().index;
  set_device(device);
  dispatch_float(k.dtype(), "newton_inverse", [&](auto tag) {
    using T = decltype(tag);
    int64_t shared_bytes = 4 * m * m * static_cast<int64_t>(sizeof(T));
    if (m <= kNewtonSharedMaxM && shared_bytes <= dynamic_shared_limit(device)) {
      int smem = static_cast<int>(shared_bytes);
      SOFT_CUDA_CHECK(cudaFuncSetAttribute(newton_shared_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      launch_shared(newton_shared_kernel<T>, device, static_cast<unsigned>(count), kNewtonThreads, smem, k.data<T>(), m,
                    iterations, out.data<T>());
      return;
    }
    // V lives in `out` or in X, alternately; the last iteration leaves it in `out`.
    Tensor P = Tensor::empty(k.shape(), k.dtype(), k.device()), W = Tensor::empty(k.shape(), k.dtype(), k.device()),
           X = Tensor::empty(k.shape(), k.dtype(), k.device());
    T *V = iterations % 2 == 0 ? out.data<T>() : X.data<T>(), *next = V == out.data<T>() ? X.data<T>() : out.data<T>();
    launch(newton_start_kernel<T>, device, static_cast<unsigned>(count), kNewtonThreads, k.data<T>(), m, P.data<T>(),
           V);
    size_t bytes = static_cast<size_t>(k.numel()) * sizeof(T);
    for (int64_t it = 0; it < iterations; ++it) {
      batched_square_gemm(device, m, count, T(1), V, P.data<T>(), T(0), W.data<T>());  // W = V P
      SOFT_CUDA_CHECK(cudaMemcpyAsync(next, V, bytes, cudaMemcpyDeviceToDevice, stream(device)));
      batched_square_gemm(device, m, count, T(-1), W.data<T>(), V, T(2), next);  // next = 2V - W V
      std::swap(V, next);
    }
  });
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("newton_inverse", cuda_newton_inverse);

}  // namespace soft::cuda
