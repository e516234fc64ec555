// CUDA kernels of ops/layer_norm.cpp: x [rows, M] normalised per row. Forward and dx take one
// block per row; dweight and dbias are column sums over the rows (cuda/reduce.cuh: per-chunk
// partial sums added in a fixed order, no atomics). Arithmetic follows the CPU kernel.
#include <cmath>
#include <type_traits>

#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops/dispatch.h"
#include "ops/layer_norm_kernels.h"

namespace soft::cuda {
namespace {

// Two passes in double (the mean, then squared deviations); y = (x - mean) * rstd * w + b.
template <class T>
__global__ void forward_kernel(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t M,
                               double eps) {
  int64_t r = blockIdx.x;
  const T* in = x + r * M;
  T* out = y + r * M;
  double sum = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) sum += in[j];
  double mu = block_reduce(sum, SumOp()) / static_cast<double>(M);
  double sq = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) sq += (in[j] - mu) * (in[j] - mu);
  double rs = 1 / sqrt(block_reduce(sq, SumOp()) / static_cast<double>(M) + eps);
  T m = static_cast<T>(mu), s = static_cast<T>(rs);
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    T v = (in[j] - m) * s;
    if (weight) v *= weight[j];
    if (bias) v += bias[j];
    out[j] = v;
  }
  if (threadIdx.x == 0) mean[r] = m, rstd[r] = s;
}

LayerNormForward cuda_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t M, double eps) {
  int64_t rows = M ? x.numel() / M : 0;
  LayerNormForward f{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty({rows}, x.dtype(), x.device()),
                     Tensor::empty({rows}, x.dtype(), x.device())};
  int device = x.device().index;
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    if (rows == 0) return;
    launch(forward_kernel<T>, device, static_cast<unsigned>(rows), row_threads(M), x.data<T>(),
           weight.defined() ? weight.data<T>() : nullptr, bias.defined() ? bias.data<T>() : nullptr, f.y.data<T>(),
           f.mean.data<T>(), f.rstd.data<T>(), M, eps);
  });
  return f;
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * w, one block per row.
template <class T>
__global__ void dx_kernel(const T* g, const T* x, const T* weight, const T* mean, const T* rstd, T* dx, int64_t M) {
  int64_t r = blockIdx.x;
  const T *gr = g + r * M, *xr = x + r * M;
  T m = mean[r], rs = rstd[r];
  double sum_gw = 0, sum_gwx = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    T gw = weight ? gr[j] * weight[j] : gr[j];
    sum_gw += gw;
    sum_gwx += gw * (xr[j] - m) * rs;
  }
  T a = static_cast<T>(block_reduce(sum_gw, SumOp()) / static_cast<double>(M));
  T b = static_cast<T>(block_reduce(sum_gwx, SumOp()) / static_cast<double>(M));
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    T gw = weight ? gr[j] * weight[j] : gr[j];
    dx[r * M + j] = rs * (gw - a - (xr[j] - m) * rs * b);
  }
}

// Column terms of dweight = sum_rows g * xhat and dbias = sum_rows g.
template <class T>
struct WeightBiasTerms {
  const T *g, *x, *mean, *rstd;
  int64_t M;
  __device__ void operator()(int64_t r, int64_t j, double (&v)[2]) const {
    T gv = g[r * M + j];
    v[0] += gv * (x[r * M + j] - mean[r]) * rstd[r];
    v[1] += gv;
  }
};

template <class T>
struct StoreWeightBias {
  T *dweight, *dbias;
  __device__ void operator()(int64_t j, const double (&v)[2]) const {
    dweight[j] = static_cast<T>(v[0]);
    dbias[j] = static_cast<T>(v[1]);
  }
};

LayerNormBackward cuda_layer_norm_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                           const Tensor& rstd, int64_t M, bool need_dx, bool need_wb) {
  int64_t rows = mean.numel();
  LayerNormBackward out;
  if (need_dx) out.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (need_wb) {
    out.dweight = Tensor::empty({M}, x.dtype(), x.device());
    out.dbias = Tensor::empty({M}, x.dtype(), x.device());
  }
  int device = x.device().index;
  dispatch_float(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    if (need_dx && rows > 0) {
      launch(dx_kernel<T>, device, static_cast<unsigned>(rows), row_threads(M), g.data<T>(), x.data<T>(),
             weight.defined() ? weight.data<T>() : nullptr, mean.data<T>(), rstd.data<T>(), out.dx.data<T>(), M);
    }
    if (need_wb && M > 0)  // with no rows the sums are zeros (R = 0)
      column_sums<2>(WeightBiasTerms<T>{g.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(), M},
                     StoreWeightBias<T>{out.dweight.data<T>(), out.dbias.data<T>()}, rows, M, x);
  });
  return out;
}

static_assert(std::is_same_v<decltype(cuda_layer_norm), LayerNormKernel>);
static_assert(std::is_same_v<decltype(cuda_layer_norm_backward), LayerNormBackwardKernel>);

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("layer_norm", cuda_layer_norm);
SOFT_REGISTER_CUDA_KERNEL("layer_norm_backward", cuda_layer_norm_backward);

}  // namespace soft::cuda
