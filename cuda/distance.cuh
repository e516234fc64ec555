#pragma once
// The pairwise distance kernel shared by pairwise_sqdist (cuda/pairwise.cu) and gaussian_kernel
// (cuda/gaussian_kernel.cu). As on the CPU, distances are summed in the difference form
// sum_k (a_k - b_k)^2, one thread per output element in k order, so identical rows give exactly 0.
#include <algorithm>
#include <cstdint>

#include "core/tensor.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"

namespace soft::cuda {

constexpr int kTile = 16;          // a kTile x kTile block of outputs per thread block
constexpr int kMaxGridYZ = 65535;  // CUDA's limit on gridDim.y and gridDim.z

template <class T> __device__ T exp_of(T x);
template <> inline __device__ float exp_of(float x) { return ::expf(x); }
template <> inline __device__ double exp_of(double x) { return ::exp(x); }

// out[t, n, m] = s or exp(-s / 2) (Gauss), s = sum_k (a[t, n, k] - b[t, m, k])^2, for a [batch, N, d]
// contiguous and b's element (t, m, k) at t * M * d + m * b_ms + k * b_ks (b [batch, M, d] or its
// transpose [batch, d, M]). A block stages kTile rows of a and kTile rows of b, kTile features at
// a time, in shared memory; thread (y, x) sums output (n0 + y, m0 + x).
template <class T, bool Gauss>
__global__ void distance_kernel(const T* a, const T* b, int64_t b_ms, int64_t b_ks, T* out, int64_t batch, int64_t N,
                                int64_t M, int64_t d) {
  __shared__ T sa[kTile][kTile + 1];  // [row of a][feature]
  __shared__ T sb[kTile][kTile + 1];  // [feature][row of b]
  int tx = threadIdx.x, ty = threadIdx.y;
  int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTile, m0 = static_cast<int64_t>(blockIdx.x) * kTile;
  for (int64_t t = blockIdx.z; t < batch; t += gridDim.z) {
    const T* at = a + t * N * d;
    const T* bt = b + t * M * d;
    T acc = T(0);
    for (int64_t k0 = 0; k0 < d; k0 += kTile) {
      int64_t n = n0 + ty, k = k0 + tx;
      sa[ty][tx] = n < N && k < d ? at[n * d + k] : T(0);
      // Neighbouring threads read neighbouring addresses of b, whichever way round it is stored.
      int64_t m = b_ms == 1 ? m0 + tx : m0 + ty, kb = b_ms == 1 ? k0 + ty : k0 + tx;
      T v = m < M && kb < d ? bt[m * b_ms + kb * b_ks] : T(0);
      if (b_ms == 1) sb[ty][tx] = v;
      else sb[tx][ty] = v;
      __syncthreads();
      int kn = static_cast<int>(d - k0 < kTile ? d - k0 : kTile);
      for (int kk = 0; kk < kn; ++kk) {
        T diff = sa[ty][kk] - sb[kk][tx];
        acc += diff * diff;
      }
      __syncthreads();
    }
    int64_t n = n0 + ty, m = m0 + tx;
    if (n < N && m < M) out[(t * N + n) * M + m] = Gauss ? exp_of(T(-0.5) * acc) : acc;
  }
}

template <bool Gauss>
inline void launch_distance(const Tensor& a, const Tensor& b, int64_t b_ms, int64_t b_ks, Tensor& out, const char* op) {
  int64_t N = a.size(-2), d = a.size(-1), M = out.size(-1);
  if (out.numel() == 0) return;
  int64_t batch = out.numel() / (N * M);
  int64_t n_tiles = (N + kTile - 1) / kTile, m_tiles = (M + kTile - 1) / kTile;
  SOFT_CHECK(n_tiles <= kMaxGridYZ, op, ": ", N, " rows are too many for the CUDA kernel");
  dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles),
            static_cast<unsigned>(std::min<int64_t>(batch, kMaxGridYZ)));
  int device = out.device().index;
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    launch(distance_kernel<T, Gauss>, device, grid, dim3(kTile, kTile), a.data<T>(), b.data<T>(), b_ms, b_ks,
           out.data<T>(), batch, N, M, d);
  });
}

}  // namespace soft::cuda
