// CUDA kernels of ops/batch_norm.cpp: x [B, C, S] normalised per channel. Per-channel sums are
// split into chunks (cuda/reduce.cuh: partial sums added in a fixed order, no atomics); each
// channel's statistics are then folded into one scale and shift (forward) or three
// coefficients (backward), applied by an elementwise kernel. Arithmetic follows the CPU kernel.
// The running statistics are updated by the op (composed ops under no-grad).
#include <cmath>
#include <type_traits>

#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops/batch_norm_kernels.h"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

// ---- forward ----------------------------------------------------------------------------------

template <class T>
struct ChannelValue {
  const T* x;
  __device__ void operator()(int64_t i, int64_t, double (&v)[1]) const { v[0] += x[i]; }
};

struct StoreMean {
  double* mean;
  double n;
  __device__ void operator()(int64_t c, const double (&v)[1]) const { mean[c] = v[0] / n; }
};

template <class T>
struct ChannelSquaredDeviation {
  const T* x;
  const double* mean;
  __device__ void operator()(int64_t i, int64_t c, double (&v)[1]) const {
    v[0] += (x[i] - mean[c]) * (x[i] - mean[c]);
  }
};

// From a channel's mean and variance: the saved statistics and y = x * scale + shift, with
// scale = w * invstd and shift = b - mean * scale.
template <class T>
struct ChannelStats {
  const T *weight, *bias;
  T *mean, *invstd, *var, *scale, *shift;
  double eps;
  __device__ void set(int64_t c, double mu, double variance) const {
    double is = 1 / sqrt(variance + eps);
    double sc = (weight ? weight[c] : 1.0) * is;
    scale[c] = static_cast<T>(sc);
    shift[c] = static_cast<T>((bias ? bias[c] : 0.0) - mu * sc);
    mean[c] = static_cast<T>(mu);
    invstd[c] = static_cast<T>(is);
    var[c] = static_cast<T>(variance);
  }
};

template <class T>
struct StoreBatchStats {  // training: v[0] = sum of squared deviations from mean[c]
  ChannelStats<T> stats;
  const double* mean;
  double n;
  __device__ void operator()(int64_t c, const double (&v)[1]) const { stats.set(c, mean[c], v[0] / n); }
};

template <class T>
__global__ void running_stats_kernel(ChannelStats<T> stats, const T* running_mean, const T* running_var, int64_t C) {
  int64_t c = thread_index();
  if (c < C) stats.set(c, running_mean[c], running_var[c]);
}

template <class T>
__global__ void apply_kernel(const T* x, const T* scale, const T* shift, T* y, int64_t C, int64_t S, int64_t total) {
  int64_t i = thread_index();
  if (i >= total) return;
  int64_t c = (i / S) % C;
  y[i] = x[i] * scale[c] + shift[c];
}

BatchNormForward cuda_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                                 const Tensor& running_var, bool training, double eps) {
  BatchNormLayout l = batch_norm_layout(x);
  Device dev = x.device();
  BatchNormForward f{Tensor::empty(x.shape(), x.dtype(), dev), Tensor::empty({l.C}, x.dtype(), dev),
                     Tensor::empty({l.C}, x.dtype(), dev), Tensor::empty({l.C}, x.dtype(), dev)};
  Tensor scale_shift = Tensor::empty({2, l.C}, x.dtype(), dev);
  int device = dev.index;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    if (l.C == 0) return;
    T* scale = scale_shift.data<T>();
    ChannelStats<T> stats{weight.defined() ? weight.data<T>() : nullptr, bias.defined() ? bias.data<T>() : nullptr,
                          f.mean.data<T>(), f.invstd.data<T>(), f.var.data<T>(), scale, scale + l.C, eps};
    if (training) {  // two passes in double: the mean, then squared deviations from it
      Tensor mean = Tensor::empty({l.C}, DType::Float64, dev);
      channel_sums<1>(ChannelValue<T>{x.data<T>()}, StoreMean{mean.data<double>(), l.n()}, l.B, l.C, l.S, x);
      channel_sums<1>(ChannelSquaredDeviation<T>{x.data<T>(), mean.data<double>()},
                      StoreBatchStats<T>{stats, mean.data<double>(), l.n()}, l.B, l.C, l.S, x);
    } else {
      launch_threads(running_stats_kernel<T>, device, l.C, stats, running_mean.data<T>(), running_var.data<T>(), l.C);
    }
    if (x.numel() == 0) return;
    launch_threads(apply_kernel<T>, device, x.numel(), x.data<T>(), scale, scale + l.C, f.y.data<T>(), l.C, l.S,
                   x.numel());
  });
  return f;
}

// ---- backward ---------------------------------------------------------------------------------

template <class T>
struct GradTerms {  // v[0] += g, v[1] += g * (x - mean)
  const T *g, *x, *mean;
  __device__ void operator()(int64_t i, int64_t c, double (&v)[2]) const {
    v[0] += g[i];
    v[1] += g[i] * (x[i] - mean[c]);
  }
};

// dweight = sum(g * xhat), dbias = sum(g); dx = ka * g - kb - kc * (x - mean), the coefficients
// in coef [3, C] (training: ka = w*invstd, kb = ka*sum(g)/n, kc = ka*invstd*sum(g*xhat)/n; eval:
// the running statistics are constants, kb = kc = 0).
template <class T>
struct StoreGrad {
  const T *weight, *invstd;
  T *dweight, *dbias, *coef;
  int64_t C;
  double n;
  bool training;
  __device__ void operator()(int64_t c, const double (&v)[2]) const {
    double is = invstd[c], sum_gxhat = v[1] * is;
    dweight[c] = static_cast<T>(sum_gxhat);
    dbias[c] = static_cast<T>(v[0]);
    double a = (weight ? weight[c] : 1.0) * is;
    coef[c] = static_cast<T>(a);
    coef[C + c] = training ? static_cast<T>(a * v[0] / n) : T(0);
    coef[2 * C + c] = training ? static_cast<T>(a * is * sum_gxhat / n) : T(0);
  }
};

template <class T>
__global__ void dx_kernel(const T* g, const T* x, const T* mean, const T* coef, T* dx, int64_t C, int64_t S,
                          int64_t total) {
  int64_t i = thread_index();
  if (i >= total) return;
  int64_t c = (i / S) % C;
  dx[i] = coef[c] * g[i] - coef[C + c] - coef[2 * C + c] * (x[i] - mean[c]);
}

BatchNormBackward cuda_batch_norm_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                           const Tensor& invstd, bool training, bool need_dx) {
  BatchNormLayout l = batch_norm_layout(x);
  Device dev = x.device();
  BatchNormBackward out{need_dx ? Tensor::empty(x.shape(), x.dtype(), dev) : Tensor(),
                        Tensor::empty({l.C}, x.dtype(), dev), Tensor::empty({l.C}, x.dtype(), dev)};
  Tensor coef = Tensor::empty({3, l.C}, x.dtype(), dev);
  int device = dev.index;
  dispatch_float(x.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    if (l.C == 0) return;
    channel_sums<2>(GradTerms<T>{g.data<T>(), x.data<T>(), mean.data<T>()},
                    StoreGrad<T>{weight.defined() ? weight.data<T>() : nullptr, invstd.data<T>(),
                                 out.dweight.data<T>(), out.dbias.data<T>(), coef.data<T>(), l.C, l.n(), training},
                    l.B, l.C, l.S, x);
    if (!need_dx || x.numel() == 0) return;
    launch_threads(dx_kernel<T>, device, x.numel(), g.data<T>(), x.data<T>(), mean.data<T>(), coef.data<T>(),
                   out.dx.data<T>(), l.C, l.S, x.numel());
  });
  return out;
}

static_assert(std::is_same_v<decltype(cuda_batch_norm), BatchNormKernel>);
static_assert(std::is_same_v<decltype(cuda_batch_norm_backward), BatchNormBackwardKernel>);

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("batch_norm", cuda_batch_norm);
SOFT_REGISTER_CUDA_KERNEL("batch_norm_backward", cuda_batch_norm_backward);

}  // namespace soft::cuda
