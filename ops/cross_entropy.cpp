// Mean cross-entropy of logits [B, C] against class indices or class probabilities, with
// PyTorch's label smoothing: the effective target is t_eff = (1 - eps) * t + eps / C, t the
// one-hot row or the given probabilities. One fused pass per row computes log_softmax and the
// row's loss; the log-probabilities are saved, and backward gives
//   dlogits = (softmax * sum(t_eff) - t_eff) * g / B    (sum(t_eff) = 1 for index targets)
//   dtarget = -(1 - eps) * logp * g / B                   (probability targets only)
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/cross_entropy_kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

// logits [B, C] contiguous; target int64 [B] or float [B, C] contiguous.
CrossEntropyForward forward_cpu(const Tensor& logits, const Tensor& target, double eps) {
  int64_t B = logits.shape()[0], C = logits.shape()[1];
  bool indices = target.dtype() == DType::Int64;
  if (indices) {  // checked before the parallel loop: an exception must not leave an OpenMP region
    const int64_t* t = target.data<int64_t>();
    for (int64_t r = 0; r < B; ++r)
      SOFT_CHECK(t[r] >= 0 && t[r] < C, "cross_entropy: target ", t[r], " at batch index ", r,
                 " is out of range for ", C, " classes");
  }
  CrossEntropyForward f{Tensor::empty({}, logits.dtype()), Tensor::empty({B, C}, logits.dtype())};
  std::vector<double> row_loss(B);
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* pz = logits.data<T>();
    T* plp = f.logp.data<T>();
    parallel_for(0, B, row_grain(C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* z = pz + r * C;
        T* lp = plp + r * C;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t c = 0; c < C; ++c) m = std::max(m, z[c]);
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += std::exp(z[c] - m);
        T lse = m + static_cast<T>(std::log(s));
        double sum_lp = 0;  // for the smoothing term
        for (int64_t c = 0; c < C; ++c) {
          lp[c] = z[c] - lse;
          sum_lp += lp[c];
        }
        double uniform = eps / static_cast<double>(C);
        if (indices) {
          row_loss[r] = -(1 - eps) * lp[target.data<int64_t>()[r]] - uniform * sum_lp;
        } else {
          const T* t = target.data<T>() + r * C;
          double dot = 0;  // sum_c t_c * logp_c
          for (int64_t c = 0; c < C; ++c) dot += t[c] * lp[c];
          row_loss[r] = -(1 - eps) * dot - uniform * sum_lp;
        }
      }
    });
    double total = 0;  // in row order: the same result for any thread count
    for (double v : row_loss) total += v;
    f.loss.data<T>()[0] = static_cast<T>(total / static_cast<double>(B));
  });
  return f;
}

// g []; logp [B, C]; target as in the forward.
CrossEntropyBackward backward_cpu(const Tensor& g, const Tensor& logp, const Tensor& target, double eps,
                                  bool need_logits, bool need_target) {
  int64_t B = logp.shape()[0], C = logp.shape()[1];
  bool indices = target.dtype() == DType::Int64;
  CrossEntropyBackward out;
  if (need_logits) out.dlogits = Tensor::empty(logp.shape(), logp.dtype());
  if (need_target) out.dtarget = Tensor::empty(logp.shape(), logp.dtype());
  dispatch_float(logp.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* plp = logp.data<T>();
    double scale = g.item() / static_cast<double>(B);
    T uniform = static_cast<T>(eps / static_cast<double>(C)), keep = static_cast<T>(1 - eps);
    parallel_for(0, B, row_grain(C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* lp = plp + r * C;
        if (need_logits) {
          T* d = out.dlogits.data<T>() + r * C;
          T k = static_cast<T>(scale);
          if (indices) {
            for (int64_t c = 0; c < C; ++c) d[c] = k * (std::exp(lp[c]) - uniform);
            d[target.data<int64_t>()[r]] -= k * keep;
          } else {
            const T* t = target.data<T>() + r * C;
            double t_sum = 0;
            for (int64_t c = 0; c < C; ++c) t_sum += t[c];
            T teff_sum = static_cast<T>((1 - eps) * t_sum + eps);
            for (int64_t c = 0; c < C; ++c) d[c] = k * (std::exp(lp[c]) * teff_sum - (keep * t[c] + uniform));
          }
        }
        if (need_target) {
          T* d = out.dtarget.data<T>() + r * C;
          T k = static_cast<T>(-(1 - eps) * scale);
          for (int64_t c = 0; c < C; ++c) d[c] = k * lp[c];
        }
      }
    });
  });
  return out;
}

DispatchStub<CrossEntropyKernel> forward_stub("cross_entropy", forward_cpu);
DispatchStub<CrossEntropyBackwardKernel> backward_stub("cross_entropy_backward", backward_cpu);

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, double label_smoothing) {
  check_dim("cross_entropy", "logits", logits, 2);
  int64_t B = logits.shape()[0];
  bool indices = target.dtype() == DType::Int64 && target.shape() == Shape{B};
  bool probabilities = target.dtype() == logits.dtype() && target.shape() == logits.shape();
  SOFT_CHECK(indices || probabilities, "cross_entropy: target must be int64 class indices [", B, "] or ",
             dtype_name(logits.dtype()), " probabilities ", shape_str(logits.shape()), " for logits ",
             shape_str(logits.shape()), ", got ", dtype_name(target.dtype()), " ", shape_str(target.shape()));
  SOFT_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy: label_smoothing ", label_smoothing,
             " is outside [0, 1]");
  check_same_device("cross_entropy", {&logits, &target});

  Tensor tc = target.detach().contiguous();
  CrossEntropyForward f = forward_stub(logits.device(), logits.detach().contiguous(), tc, label_smoothing);
  return record("cross_entropy", f.loss, {logits, target},
                [logp = f.logp, tc, label_smoothing](const Tensor& g, const std::vector<bool>& needs) {
                  CrossEntropyBackward b = backward_stub(g.device(), g, logp, tc, label_smoothing, needs[0], needs[1]);
                  return Grads{b.dlogits, b.dtarget};
                });
}

}  // namespace soft
