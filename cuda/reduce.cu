// CUDA kernels of ops/reduce.cpp (layouts in ops/reduce_kernels.h): sums of rows or of columns
// (reduced dims leading), argmax, and max's values and gradient. mean, var and sum_to are
// composed from these on the op side.
#include <type_traits>

#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops/dispatch.h"
#include "ops/reduce_kernels.h"

namespace soft::cuda {
namespace {

// ---- sum --------------------------------------------------------------------------------------

// Block b sums chunk b % K of row b / K of in [n, R]: into out when K == 1, else into partial [n, K].
template <class T>
__global__ void row_sum_kernel(const T* in, int64_t R, int K, T* out, double* partial) {
  int64_t row = blockIdx.x / K;
  int k = static_cast<int>(blockIdx.x % K);
  const T* p = in + row * R;
  double s = 0;
  for (int64_t j = R * k / K + threadIdx.x; j < R * (k + 1) / K; j += blockDim.x) s += p[j];
  s = block_reduce(s, SumOp());
  if (threadIdx.x != 0) return;
  if (K == 1) out[row] = static_cast<T>(s);
  else partial[blockIdx.x] = s;
}

template <class T>
__global__ void row_finish_kernel(const double* partial, int K, int64_t n, T* out) {
  int64_t i = thread_index();
  if (i >= n) return;
  double s = 0;
  for (int k = 0; k < K; ++k) s += partial[i * K + k];
  out[i] = static_cast<T>(s);
}

template <class T>
struct ColumnValue {  // element (r, c) of in [R, n]
  const T* in;
  int64_t n;
  __device__ void operator()(int64_t r, int64_t c, double (&v)[1]) const { v[0] += in[r * n + c]; }
};

template <class T>
struct StoreSum {
  T* out;
  __device__ void operator()(int64_t c, const double (&v)[1]) const { out[c] = static_cast<T>(v[0]); }
};

Tensor cuda_sum(const Tensor& in, int64_t R, bool leading, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, in.dtype(), in.device());
  int64_t n = out.numel();
  int device = in.device().index;
  dispatch_float(in.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    if (n == 0) return;
    if (leading) {
      column_sums<1>(ColumnValue<T>{in.data<T>(), n}, StoreSum<T>{out.data<T>()}, R, n, in);
      return;
    }
    // Few long rows are split into K chunks per row, so that enough blocks run at once.
    int K = static_cast<int>(std::max<int64_t>(1, std::min(ceil_div(R, 8 * kThreads), ceil_div(512, n))));
    Tensor partial = K > 1 ? Tensor::empty({n, K}, DType::Float64, in.device()) : Tensor();
    launch(row_sum_kernel<T>, device, static_cast<unsigned>(n * K), row_threads(ceil_div(R, K)), in.data<T>(), R, K,
           out.data<T>(), K > 1 ? partial.data<double>() : nullptr);
    if (K == 1) return;
    launch_threads(row_finish_kernel<T>, device, n, partial.data<double>(), K, n, out.data<T>());
  });
  return out;
}

// ---- argmax -----------------------------------------------------------------------------------

template <class T> __device__ bool is_nan(T v) { return v != v; }

template <class T>
struct Best {
  T value;
  int64_t index;  // -1: no element seen yet
};

// The CPU's choice between two candidates: the first NaN if there is one, else the larger
// value, the lower index on a tie. Associative, so any combining order gives the CPU's answer.
template <class T>
__device__ Best<T> better(Best<T> a, Best<T> b) {
  if (b.index < 0) return a;
  if (a.index < 0) return b;
  bool a_nan = is_nan(a.value), b_nan = is_nan(b.value);
  if (a_nan != b_nan) return a_nan ? a : b;
  if (!a_nan && a.value != b.value) return a.value > b.value ? a : b;
  return a.index < b.index ? a : b;
}

// One block per row of rows [n, R].
template <class T>
__global__ void argmax_kernel(const T* rows, int64_t R, int64_t* out) {
  __shared__ T warp_value[32];
  __shared__ int64_t warp_index[32];
  const T* p = rows + blockIdx.x * R;
  Best<T> best{T(0), -1};
  for (int64_t j = threadIdx.x; j < R; j += blockDim.x) best = better(best, Best<T>{p[j], j});
  for (int offset = 16; offset > 0; offset >>= 1) {
    Best<T> other{__shfl_xor_sync(0xffffffffu, best.value, offset), __shfl_xor_sync(0xffffffffu, best.index, offset)};
    best = better(best, other);
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) warp_value[warp] = best.value, warp_index[warp] = best.index;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < warps; ++w) best = better(best, Best<T>{warp_value[w], warp_index[w]});
  out[blockIdx.x] = best.index;
}

Tensor cuda_argmax(const Tensor& rows, int64_t R, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, DType::Int64, rows.device());
  int64_t n = out.numel();
  int device = rows.device().index;
  dispatch_float(rows.dtype(), "argmax", [&](auto tag) {
    using T = decltype(tag);
    if (n == 0) return;
    launch(argmax_kernel<T>, device, static_cast<unsigned>(n), row_threads(R), rows.data<T>(), R, out.data<int64_t>());
  });
  return out;
}

// ---- max: values and gradient -------------------------------------------------------------------

template <class T>
__global__ void max_values_kernel(const T* rows, const int64_t* index, int64_t R, int64_t n, T* out) {
  int64_t i = thread_index();
  if (i < n) out[i] = rows[i * R + index[i]];
}

Tensor cuda_max_values(const Tensor& rows, const Tensor& index, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, rows.dtype(), rows.device());
  int64_t n = out.numel();
  int device = rows.device().index;
  dispatch_float(rows.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    if (n == 0) return;
    launch_threads(max_values_kernel<T>, device, n, rows.data<T>(), index.data<int64_t>(), rows.numel() / n, n,
                   out.data<T>());
  });
  return out;
}

// out [n, R]: g[i] at (i, index[i]), zero elsewhere; one thread per element.
template <class T>
__global__ void max_backward_kernel(const T* g, const int64_t* index, int64_t R, int64_t total, T* out) {
  int64_t e = thread_index();
  if (e >= total) return;
  int64_t i = e / R;
  out[e] = e - i * R == index[i] ? g[i] : T(0);
}

Tensor cuda_max_backward(const Tensor& g, const Tensor& index, int64_t R) {
  int64_t n = index.numel();
  Tensor out = Tensor::empty({n, R}, g.dtype(), g.device());
  int device = g.device().index;
  dispatch_float(g.dtype(), "max_backward", [&](auto tag) {
    using T = decltype(tag);
    if (n * R == 0) return;
    launch_threads(max_backward_kernel<T>, device, n * R, g.data<T>(), index.data<int64_t>(), R, n * R, out.data<T>());
  });
  return out;
}

static_assert(std::is_same_v<decltype(cuda_sum), SumKernel>);
static_assert(std::is_same_v<decltype(cuda_argmax), ArgmaxKernel>);
static_assert(std::is_same_v<decltype(cuda_max_values), MaxValuesKernel>);
static_assert(std::is_same_v<decltype(cuda_max_backward), MaxBackwardKernel>);

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("sum", cuda_sum);
SOFT_REGISTER_CUDA_KERNEL("argmax", cuda_argmax);
SOFT_REGISTER_CUDA_KERNEL("max_values", cuda_max_values);
SOFT_REGISTER_CUDA_KERNEL("max_backward", cuda_max_backward);

}  // namespace soft::cuda
