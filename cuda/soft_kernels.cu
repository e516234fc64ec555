// CUDA kernels of SOFT's attention ops: pairwise_sqdist (ops/pairwise.cpp), gaussian_kernel and
// its backward (ops/gaussian_kernel.cpp), and the journal-form Newton inverse
// (ops/newton_inverse.cpp). As on the CPU, distances are summed in the difference form
// sum_k (a_k - b_k)^2, one thread per output element in k order, so identical rows give exactly 0.
#include <math_constants.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "cuda/check.h"
#include "cuda/context.h"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

constexpr int kTile = 16;            // distance kernels: a kTile x kTile block of outputs per thread block
constexpr int kMaxGridYZ = 65535;    // CUDA's limit on gridDim.y and gridDim.z
constexpr int kNewtonThreads = 512;  // threads per matrix of the Newton kernel

template <class T> __device__ T exp_of(T x);
template <> __device__ float exp_of(float x) { return ::expf(x); }
template <> __device__ double exp_of(double x) { return ::exp(x); }

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
void launch_distance(const Tensor& a, const Tensor& b, int64_t b_ms, int64_t b_ks, Tensor& out, const char* op) {
  int64_t N = a.size(-2), d = a.size(-1), M = out.size(-1);
  if (out.numel() == 0) return;
  int64_t batch = out.numel() / (N * M);
  int64_t n_tiles = (N + kTile - 1) / kTile, m_tiles = (M + kTile - 1) / kTile;
  SOFT_CHECK(n_tiles <= kMaxGridYZ, op, ": ", N, " rows are too many for the CUDA kernel");
  dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles),
            static_cast<unsigned>(std::min<int64_t>(batch, kMaxGridYZ)));
  int device = out.device().index;
  set_device(device);
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    distance_kernel<T, Gauss><<<grid, dim3(kTile, kTile), 0, stream(device)>>>(a.data<T>(), b.data<T>(), b_ms, b_ks,
                                                                              out.data<T>(), batch, N, M, d);
  });
  SOFT_CUDA_CHECK(cudaGetLastError());
}

// out [batch, N, M] from a [batch, N, d] and bt [batch, d, M], both contiguous.
void cuda_pairwise_sqdist(const Tensor& a, const Tensor& bt, Tensor& out) {
  launch_distance<false>(a, bt, 1, bt.size(-1), out, "pairwise_sqdist");
}

// y [batch, N, M] from a [batch, N, d] and b [batch, M, d], all contiguous.
void cuda_gaussian_kernel(const Tensor& a, const Tensor& b, Tensor& y) {
  launch_distance<true>(a, b, b.size(-1), 1, y, "gaussian_kernel");
}

// Backward, in the difference form: with gK = g * K,
//   ga[t, n, k] = sum_m gK[t, n, m] (b[t, m, k] - a[t, n, k]),
//   gb[t, m, k] = sum_n gK[t, n, m] (a[t, n, k] - b[t, m, k]).
// One thread per gradient element; the threads of a warp share n (or m) and read consecutive k.
template <class T>
__global__ void gaussian_grad_a_kernel(const T* g, const T* K, const T* a, const T* b, T* ga, int64_t N, int64_t M,
                                       int64_t d, int64_t total) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  int64_t k = i % d, row = i / d, t = row / N;  // row = t * N + n
  const T *gr = g + row * M, *kr = K + row * M, *bk = b + t * M * d + k;
  T ak = a[i], acc = T(0);
  for (int64_t m = 0; m < M; ++m) acc += gr[m] * kr[m] * (bk[m * d] - ak);
  ga[i] = acc;
}

template <class T>
__global__ void gaussian_grad_b_kernel(const T* g, const T* K, const T* a, const T* b, T* gb, int64_t N, int64_t M,
                                       int64_t d, int64_t total) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  int64_t k = i % d, row = i / d, t = row / M, m = row % M;  // row = t * M + m
  const T *gc = g + t * N * M + m, *kc = K + t * N * M + m, *ak = a + t * N * d + k;
  T bk = b[i], acc = T(0);
  for (int64_t n = 0; n < N; ++n) acc += gc[n * M] * kc[n * M] * (ak[n * d] - bk);
  gb[i] = acc;
}

// g, K [batch, N, M], a [batch, N, d], b [batch, M, d], all contiguous; ga and gb written when defined.
void cuda_gaussian_kernel_backward(const Tensor& g, const Tensor& K, const Tensor& a, const Tensor& b, Tensor& ga,
                                   Tensor& gb) {
  int64_t N = a.size(-2), d = a.size(-1), M = b.size(-2);
  int device = a.device().index;
  set_device(device);
  dispatch_float(a.dtype(), "gaussian_kernel_backward", [&](auto tag) {
    using T = decltype(tag);
    if (ga.defined() && ga.numel() > 0) {
      int64_t total = ga.numel();
      gaussian_grad_a_kernel<T><<<blocks_for(total), kThreads, 0, stream(device)>>>(
          g.data<T>(), K.data<T>(), a.data<T>(), b.data<T>(), ga.data<T>(), N, M, d, total);
      SOFT_CUDA_CHECK(cudaGetLastError());
    }
    if (gb.defined() && gb.numel() > 0) {
      int64_t total = gb.numel();
      gaussian_grad_b_kernel<T><<<blocks_for(total), kThreads, 0, stream(device)>>>(
          g.data<T>(), K.data<T>(), a.data<T>(), b.data<T>(), gb.data<T>(), N, M, d, total);
      SOFT_CUDA_CHECK(cudaGetLastError());
    }
  });
}

// Journal-form Newton inverse, all iterations in one kernel: one thread block per matrix of
// k [count, m, m] (contiguous), as on the CPU:
//   alpha = 1.8 / (max row sum of k)^2 (row sums in double),  P = k + 0.01 I,  V = alpha P,
//   `iterations` times W = V P, X = 2V - W V, V <- X;  out [count, m, m] = V.
// The m x m matrices V, W, X, P live in that order in dynamic shared memory, the first
// `shared_buffers` of them; the rest in this block's part of `workspace` (global memory) when m is
// too large. Each product is summed in k order, one thread per output element.
template <class T>
__global__ void newton_kernel(const T* k, int64_t m, int64_t iterations, T* out, T* workspace, int shared_buffers) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ double warp_max[kNewtonThreads / 32];
  int64_t mm = m * m, c = blockIdx.x;
  int tid = threadIdx.x;
  auto buffer = [&](int i) {
    return i < shared_buffers ? reinterpret_cast<T*>(smem) + i * mm
                              : workspace + (c * (4 - shared_buffers) + (i - shared_buffers)) * mm;
  };
  T *V = buffer(0), *W = buffer(1), *X = buffer(2), *P = buffer(3);
  const T* kc = k + c * mm;

  // Largest row sum: per thread over its rows, then over the warp, then over the warps.
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
  T alpha = static_cast<T>(1.8 / (static_cast<double>(s) * static_cast<double>(s)));

  for (int64_t e = tid; e < mm; e += blockDim.x) {
    P[e] = kc[e] + (e / m == e % m ? T(0.01) : T(0));
    V[e] = alpha * P[e];
  }
  __syncthreads();
  for (int64_t it = 0; it < iterations; ++it) {
    for (int64_t e = tid; e < mm; e += blockDim.x) {  // W = V P
      int64_t i = e / m, j = e % m;
      T acc = T(0);
      for (int64_t q = 0; q < m; ++q) acc += V[i * m + q] * P[q * m + j];
      W[e] = acc;
    }
    __syncthreads();
    for (int64_t e = tid; e < mm; e += blockDim.x) {  // X = 2V - W V
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
  for (int64_t e = tid; e < mm; e += blockDim.x) out[c * mm + e] = V[e];
}

// Bytes of dynamic shared memory a block may use on `device` (beside the kernel's static arrays).
int64_t dynamic_shared_limit(int device) {
  int optin = 0;
  SOFT_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return static_cast<int64_t>(optin) - 1024;
}

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
    int64_t matrix_bytes = m * m * static_cast<int64_t>(sizeof(T));
    int shared_buffers = static_cast<int>(std::min<int64_t>(4, dynamic_shared_limit(device) / matrix_bytes));
    Tensor workspace;
    if (shared_buffers < 4) workspace = Tensor::empty({count * (4 - shared_buffers) * m * m}, k.dtype(), k.device());
    int smem = static_cast<int>(shared_buffers * matrix_bytes);
    SOFT_CUDA_CHECK(cudaFuncSetAttribute(newton_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    newton_kernel<T><<<static_cast<unsigned>(count), kNewtonThreads, smem, stream(device)>>>(
        k.data<T>(), m, iterations, out.data<T>(), workspace.defined() ? workspace.data<T>() : nullptr,
        shared_buffers);
    SOFT_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("pairwise_sqdist", cuda_pairwise_sqdist);
SOFT_REGISTER_CUDA_KERNEL("gaussian_kernel", cuda_gaussian_kernel);
SOFT_REGISTER_CUDA_KERNEL("gaussian_kernel_backward", cuda_gaussian_kernel_backward);
SOFT_REGISTER_CUDA_KERNEL("newton_inverse", cuda_newton_inverse);

}  // namespace soft::cuda
