// CUDA kernels of ops/cross_entropy.cpp: mean cross-entropy of logits [B, C] with label
// smoothing, against class indices or probabilities, and its backward (formulas there). One
// block per row computes log_softmax and the row's loss; the row losses are then added by one
// block in a fixed order, so the loss does not depend on timing.
#include <cmath>
#include <type_traits>

#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops/cross_entropy_kernels.h"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

struct MinOp {
  __device__ int64_t operator()(int64_t a, int64_t b) const { return b < a ? b : a; }
};

// One block: first_bad[0] = the first row whose target lies outside [0, C), or B if none.
__global__ void check_targets_kernel(const int64_t* target, int64_t B, int64_t C, int64_t* first_bad) {
  int64_t bad = B;
  for (int64_t r = threadIdx.x; r < B; r += blockDim.x)
    if (target[r] < 0 || target[r] >= C) bad = MinOp()(bad, r);
  bad = block_reduce(bad, MinOp());
  if (threadIdx.x == 0) first_bad[0] = bad;
}

// Throws as the CPU kernel does when a class index is out of range (waits for the device).
void check_targets(const Tensor& target, int64_t C) {
  int64_t B = target.numel();
  int device = target.device().index;
  Tensor first_bad = Tensor::empty({1}, DType::Int64, target.device());
  launch(check_targets_kernel, device, 1, kThreads, target.data<int64_t>(), B, C, first_bad.data<int64_t>());
  int64_t bad = 0, value = 0;
  copy_between_devices(&bad, Device::cpu(), first_bad.raw_data(), target.device(), sizeof(int64_t));
  if (bad == B) return;
  copy_between_devices(&value, Device::cpu(), target.data<int64_t>() + bad, target.device(), sizeof(int64_t));
  SOFT_CHECK(false, "cross_entropy: target ", value, " at batch index ", bad, " is out of range for ", C,
             " classes");
}

// Block r: logp row r and row_loss[r] = -(1 - eps) * <t, logp> - eps / C * sum(logp), where
// <t, logp> is logp[index[r]] for index targets (index non-null), else the dot with prob row r.
template <class T>
__global__ void forward_kernel(const T* logits, const int64_t* index, const T* prob, T* logp, double* row_loss,
                               int64_t C, double eps) {
  int64_t r = blockIdx.x;
  const T* z = logits + r * C;
  T* lp = logp + r * C;
  T m = -static_cast<T>(INFINITY);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = MaxOp()(m, z[c]);
  m = block_reduce(m, MaxOp());
  double s = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += exp(z[c] - m);
  T lse = m + static_cast<T>(log(block_reduce(s, SumOp())));
  double sum_lp = 0, dot = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    T v = z[c] - lse;
    lp[c] = v;
    sum_lp += v;
    if (prob) dot += prob[r * C + c] * v;
  }
  sum_lp = block_reduce(sum_lp, SumOp());
  if (prob) dot = block_reduce(dot, SumOp());
  if (threadIdx.x != 0) return;
  if (index) dot = static_cast<T>(z[index[r]] - lse);
  row_loss[r] = -(1 - eps) * dot - eps / static_cast<double>(C) * sum_lp;
}

// One block: loss[0] = mean of row_loss [B].
template <class T>
__global__ void mean_kernel(const double* row_loss, int64_t B, T* loss) {
  double s = 0;
  for (int64_t r = threadIdx.x; r < B; r += blockDim.x) s += row_loss[r];
  s = block_reduce(s, SumOp());
  if (threadIdx.x == 0) loss[0] = static_cast<T>(s / static_cast<double>(B));
}

CrossEntropyForward cuda_cross_entropy(const Tensor& logits, const Tensor& target, double eps) {
  int64_t B = logits.shape()[0], C = logits.shape()[1];
  bool indices = target.dtype() == DType::Int64;
  int device = logits.device().index;
  if (indices && B > 0) check_targets(target, C);
  CrossEntropyForward f{Tensor::empty({}, logits.dtype(), logits.device()),
                        Tensor::empty({B, C}, logits.dtype(), logits.device())};
  Tensor row_loss = Tensor::empty({B}, DType::Float64, logits.device());
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    if (B > 0) {
      launch(forward_kernel<T>, device, static_cast<unsigned>(B), row_threads(C), logits.data<T>(),
             indices ? target.data<int64_t>() : nullptr, indices ? nullptr : target.data<T>(), f.logp.data<T>(),
             row_loss.data<double>(), C, eps);
    }
    launch(mean_kernel<T>, device, 1, kThreads, row_loss.data<double>(), B, f.loss.data<T>());
  });
  return f;
}

// Block r: rows r of dlogits and dtarget (each null unless asked for); g [] is read on the device.
template <class T>
__global__ void backward_kernel(const T* g, const T* logp, const int64_t* index, const T* prob, T* dlogits,
                                T* dtarget, int64_t B, int64_t C, double eps) {
  int64_t r = blockIdx.x;
  double scale = static_cast<double>(g[0]) / static_cast<double>(B);
  const T* lp = logp + r * C;
  T uniform = static_cast<T>(eps / static_cast<double>(C)), keep = static_cast<T>(1 - eps);
  if (dlogits) {
    T* d = dlogits + r * C;
    T k = static_cast<T>(scale);
    if (index) {
      int64_t t = index[r];
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        T v = k * (exp(lp[c]) - uniform);
        if (c == t) v -= k * keep;
        d[c] = v;
      }
    } else {
      const T* t = prob + r * C;
      double t_sum = 0;
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) t_sum += t[c];
      T teff_sum = static_cast<T>((1 - eps) * block_reduce(t_sum, SumOp()) + eps);
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        d[c] = k * (exp(lp[c]) * teff_sum - (keep * t[c] + uniform));
    }
  }
  if (dtarget) {
    T k = static_cast<T>(-(1 - eps) * scale);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dtarget[r * C + c] = k * lp[c];
  }
}

CrossEntropyBackward cuda_cross_entropy_backward(const Tensor& g, const Tensor& logp, const Tensor& target,
                                                 double eps, bool need_logits, bool need_target) {
  int64_t B = logp.shape()[0], C = logp.shape()[1];
  bool indices = target.dtype() == DType::Int64;
  CrossEntropyBackward out;
  if (need_logits) out.dlogits = Tensor::empty(logp.shape(), logp.dtype(), logp.device());
  if (need_target) out.dtarget = Tensor::empty(logp.shape(), logp.dtype(), logp.device());
  int device = logp.device().index;
  dispatch_float(logp.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    if (B == 0 || (!need_logits && !need_target)) return;
    launch(backward_kernel<T>, device, static_cast<unsigned>(B), row_threads(C), g.data<T>(), logp.data<T>(),
           indices ? target.data<int64_t>() : nullptr, indices ? nullptr : target.data<T>(),
           need_logits ? out.dlogits.data<T>() : nullptr, need_target ? out.dtarget.data<T>() : nullptr, B, C, eps);
  });
  return out;
}

static_assert(std::is_same_v<decltype(cuda_cross_entropy), CrossEntropyKernel>);
static_assert(std::is_same_v<decltype(cuda_cross_entropy_backward), CrossEntropyBackwardKernel>);

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("cross_entropy", cuda_cross_entropy);
SOFT_REGISTER_CUDA_KERNEL("cross_entropy_backward", cuda_cross_entropy_backward);

}  // namespace soft::cuda
