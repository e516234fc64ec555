#pragma once
// Reduction building blocks of the CUDA reduction and normalisation kernels (cuda/reduce.cu,
// softmax.cu, cross_entropy.cu, layer_norm.cu, batch_norm.cu). Sums accumulate in double, as
// the CPU kernels do, and every reduction combines its values in a fixed order, so a result
// does not depend on timing (no atomics).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/tensor.h"
#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"

namespace soft::cuda {

struct SumOp {
  template <class V> __device__ V operator()(V a, V b) const { return a + b; }
};

// The larger of a running maximum a and a value b, ignoring a NaN b (as std::max(a, b) does in
// the CPU kernels: a NaN never becomes the maximum).
struct MaxOp {
  template <class V> __device__ V operator()(V a, V b) const { return b > a ? b : a; }
};

// Every lane of the warp gets op over the warp's 32 values.
template <class V, class Op>
__device__ V warp_reduce(V v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Every thread of the block gets op over the block's values. blockDim.x must be a multiple of
// 32, and every thread of the block must call it (it synchronises the block).
template <class V, class Op>
__device__ V block_reduce(V v, Op op) {
  __shared__ V partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_reduce(v, op);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < warps; ++w) v = op(v, partial[w]);
    partial[0] = v;
  }
  __syncthreads();
  v = partial[0];
  __syncthreads();  // partial may be reused by the next call
  return v;
}

// Threads for one block per row of n elements: a power of two in [32, 256].
inline unsigned row_threads(int64_t n) {
  unsigned t = 32;
  while (t < 256 && t < n) t *= 2;
  return t;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- column sums: v[j] = sum over rows r of f(r, c)[j], for an [R, n] layout --------------------
// Blocks of 32 columns x 8 row lanes, each block summing a chunk of rows; partial [K, NV, n]
// holds the K chunks' sums, added in chunk order by column_finish. F is a functor with
// __device__ void operator()(int64_t r, int64_t c, double (&v)[NV]) const adding its terms to v.
constexpr int kColumnTile = 32, kRowLanes = 8;

template <int NV, class F>
__global__ void column_partials(F f, int64_t R, int64_t n, int K, double* partial) {
  __shared__ double tile[NV][kRowLanes][kColumnTile + 1];
  int64_t c = blockIdx.x * static_cast<int64_t>(kColumnTile) + threadIdx.x;
  int k = blockIdx.y;
  double v[NV] = {};
  if (c < n)
    for (int64_t r = R * k / K + threadIdx.y; r < R * (k + 1) / K; r += kRowLanes) f(r, c, v);
  for (int j = 0; j < NV; ++j) tile[j][threadIdx.y][threadIdx.x] = v[j];
  __syncthreads();
  if (threadIdx.y == 0 && c < n)
    for (int j = 0; j < NV; ++j) {
      double s = 0;
      for (int y = 0; y < kRowLanes; ++y) s += tile[j][y][threadIdx.x];
      partial[(static_cast<int64_t>(k) * NV + j) * n + c] = s;
    }
}

// W is a functor with __device__ void operator()(int64_t c, const double (&v)[NV]) const.
template <int NV, class W>
__global__ void column_finish(W write, const double* partial, int K, int64_t n) {
  int64_t c = thread_index();
  if (c >= n) return;
  double v[NV] = {};
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < NV; ++j) v[j] += partial[(static_cast<int64_t>(k) * NV + j) * n + c];
  write(c, v);
}

// Sums f over the rows of [R, n] (R, n > 0) and hands each column's NV sums to `write`.
template <int NV, class F, class W>
void column_sums(F f, W write, int64_t R, int64_t n, const Tensor& like) {
  int device = like.device().index;
  int64_t tiles = ceil_div(n, kColumnTile);
  int K = static_cast<int>(std::max<int64_t>(1, std::min(ceil_div(512, tiles), ceil_div(R, 64))));
  Tensor partial = Tensor::empty({K, NV, n}, DType::Float64, like.device());
  dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(K)), block(kColumnTile, kRowLanes);
  launch(column_partials<NV, F>, device, grid, block, f, R, n, K, partial.data<double>());
  launch_threads(column_finish<NV, W>, device, n, write, partial.data<double>(), K, n);
}

// ---- channel sums: v[j] = sum over (b, s) of f(i, c)[j] for x [B, C, S], i = (b*C + c)*S + s -------
// Block (c, k) sums chunk k of channel c's B*S elements; partial [C, K, NV], added in chunk order
// by channel_finish. F: __device__ void operator()(int64_t i, int64_t c, double (&v)[NV]) const.
template <int NV, class F>
__global__ void channel_partials(F f, int64_t B, int64_t C, int64_t S, int K, double* partial) {
  int64_t c = blockIdx.x / K;
  int k = static_cast<int>(blockIdx.x % K);
  int64_t N = B * S;
  double v[NV] = {};
  for (int64_t e = N * k / K + threadIdx.x; e < N * (k + 1) / K; e += blockDim.x) {
    int64_t b = e / S;
    f((b * C + c) * S + (e - b * S), c, v);
  }
  for (int j = 0; j < NV; ++j) {
    double s = block_reduce(v[j], SumOp());
    if (threadIdx.x == 0) partial[(c * K + k) * NV + j] = s;
  }
}

// W: __device__ void operator()(int64_t c, const double (&v)[NV]) const.
template <int NV, class W>
__global__ void channel_finish(W write, const double* partial, int K, int64_t C) {
  int64_t c = thread_index();
  if (c >= C) return;
  double v[NV] = {};
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < NV; ++j) v[j] += partial[(c * K + k) * NV + j];
  write(c, v);
}

// Sums f over each channel of [B, C, S] (B*S, C > 0) and hands each channel's NV sums to `write`.
template <int NV, class F, class W>
void channel_sums(F f, W write, int64_t B, int64_t C, int64_t S, const Tensor& like) {
  int device = like.device().index;
  int K = static_cast<int>(std::max<int64_t>(1, std::min(ceil_div(1024, C), ceil_div(B * S, 2048))));
  Tensor partial = Tensor::empty({C, K, NV}, DType::Float64, like.device());
  launch(channel_partials<NV, F>, device, static_cast<unsigned>(C * K), kThreads, f, B, C, S, K,
         partial.data<double>());
  launch_threads(channel_finish<NV, W>, device, C, write, partial.data<double>(), K, C);
}

}  // namespace soft::cuda
