// Batch normalisation of x [B, C, ...]: per-channel statistics over the batch and spatial dims.
// The kernels see x as [B, C, S] (S = product of the spatial dims, contiguous) and give each
// channel to one thread, so the per-channel sums need no synchronisation.
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/batch_norm_kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

// Channels per thread chunk: enough that each chunk touches ~32k elements.
int64_t channel_grain(const BatchNormLayout& l) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(l.B * l.S, 1)); }

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// x [B, C, S] contiguous; weight, bias [C] or undefined; running_mean/var [C] read in eval only.
BatchNormForward forward_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, bool training, double eps) {
  BatchNormLayout l = batch_norm_layout(x);
  BatchNormForward f{Tensor::empty(x.shape(), x.dtype()), Tensor::empty({l.C}, x.dtype()),
                     Tensor::empty({l.C}, x.dtype()), Tensor::empty({l.C}, x.dtype())};
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pw = weight.defined() ? weight.data<T>() : nullptr;
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    const T* prm = training ? nullptr : running_mean.data<T>();
    const T* prv = training ? nullptr : running_var.data<T>();
    T* py = f.y.data<T>();
    T *pm = f.mean.data<T>(), *pi = f.invstd.data<T>(), *pv = f.var.data<T>();
    parallel_for(0, l.C, channel_grain(l), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double mean, var;
        if (training) {  // two passes in double: the mean, then squared deviations from it
          double sum = 0;
          for (int64_t b = 0; b < l.B; ++b) {
            const T* row = px + (b * l.C + c) * l.S;
            for (int64_t s = 0; s < l.S; ++s) sum += row[s];
          }
          mean = sum / l.n();
          double sq = 0;
          for (int64_t b = 0; b < l.B; ++b) {
            const T* row = px + (b * l.C + c) * l.S;
            for (int64_t s = 0; s < l.S; ++s) sq += (row[s] - mean) * (row[s] - mean);
          }
          var = sq / l.n();
        } else {
          mean = prm[c];
          var = prv[c];
        }
        double invstd = 1 / std::sqrt(var + eps);
        // y = (x - mean) * invstd * w + b, folded into one multiply-add per element.
        double scale = (pw ? pw[c] : 1.0) * invstd;
        T sc = static_cast<T>(scale), sh = static_cast<T>((pb ? pb[c] : 0.0) - mean * scale);
        for (int64_t b = 0; b < l.B; ++b) {
          const T* row = px + (b * l.C + c) * l.S;
          T* out = py + (b * l.C + c) * l.S;
          for (int64_t s = 0; s < l.S; ++s) out[s] = row[s] * sc + sh;
        }
        pm[c] = static_cast<T>(mean);
        pi[c] = static_cast<T>(invstd);
        pv[c] = static_cast<T>(var);
      }
    });
  });
  return f;
}

// g, x [B, C, S] contiguous; weight [C] or undefined; mean, invstd [C] from the forward.
// Training: dx = (w*invstd/n) * (n*g - sum(g) - xhat*sum(g*xhat)); eval: dx = g*w*invstd
// (the running statistics are constants). dweight = sum(g*xhat), dbias = sum(g).
BatchNormBackward backward_cpu(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& mean,
                               const Tensor& invstd, bool training, bool need_dx) {
  BatchNormLayout l = batch_norm_layout(x);
  BatchNormBackward out{need_dx ? Tensor::empty(x.shape(), x.dtype()) : Tensor(),
                        Tensor::empty({l.C}, x.dtype()), Tensor::empty({l.C}, x.dtype())};
  dispatch_float(x.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pg = g.data<T>(), *px = x.data<T>();
    const T* pw = weight.defined() ? weight.data<T>() : nullptr;
    const T *pm = mean.data<T>(), *pi = invstd.data<T>();
    T* pdx = need_dx ? out.dx.data<T>() : nullptr;
    T *pdw = out.dweight.data<T>(), *pdb = out.dbias.data<T>();
    parallel_for(0, l.C, channel_grain(l), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        T m = pm[c];
        double sum_g = 0, sum_gx = 0;  // sum(g), sum(g * (x - mean))
        for (int64_t b = 0; b < l.B; ++b) {
          const T* gr = pg + (b * l.C + c) * l.S;
          const T* xr = px + (b * l.C + c) * l.S;
          for (int64_t s = 0; s < l.S; ++s) {
            sum_g += gr[s];
            sum_gx += gr[s] * (xr[s] - m);
          }
        }
        double is = pi[c], sum_gxhat = sum_gx * is;
        pdw[c] = static_cast<T>(sum_gxhat);
        pdb[c] = static_cast<T>(sum_g);
        if (!need_dx) continue;
        double a = (pw ? pw[c] : 1.0) * is;
        // training: dx = a*g - a*sum(g)/n - a*invstd*sum(g*xhat)/n * (x - mean)
        T ka = static_cast<T>(a);
        T kb = training ? static_cast<T>(a * sum_g / l.n()) : T(0);
        T kc = training ? static_cast<T>(a * is * sum_gxhat / l.n()) : T(0);
        for (int64_t b = 0; b < l.B; ++b) {
          const T* gr = pg + (b * l.C + c) * l.S;
          const T* xr = px + (b * l.C + c) * l.S;
          T* dr = pdx + (b * l.C + c) * l.S;
          for (int64_t s = 0; s < l.S; ++s) dr[s] = ka * gr[s] - kb - kc * (xr[s] - m);
        }
      }
    });
  });
  return out;
}

DispatchStub<BatchNormKernel> forward_stub("batch_norm", forward_cpu);
DispatchStub<BatchNormBackwardKernel> backward_stub("batch_norm_backward", backward_cpu);

void check_channel_param(const char* what, const Tensor& t, const Tensor& x) {
  SOFT_CHECK(!t.defined() || t.shape() == Shape{x.shape()[1]}, "batch_norm: ", what, " of shape ",
             shape_str(t.shape()), " does not match the ", x.shape()[1], " channels of input ", shape_str(x.shape()));
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                  Tensor& running_var, bool training, double momentum, double eps) {
  SOFT_CHECK(x.dim() >= 2, "batch_norm: input must be [B, C, ...] (at least 2 dims), got shape ",
             shape_str(x.shape()));
  check_channel_param("weight", weight, x);
  check_channel_param("bias", bias, x);
  check_channel_param("running_mean", running_mean, x);
  check_channel_param("running_var", running_var, x);
  SOFT_CHECK(running_mean.defined() == running_var.defined(),
             "batch_norm: running_mean and running_var must both be given or both be undefined");
  SOFT_CHECK(training || running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var");
  check_same_device("batch_norm", {&x, &weight, &bias, &running_mean, &running_var});
  check_same_dtype("batch_norm", {&x, &weight, &bias, &running_mean, &running_var});
  BatchNormLayout l = batch_norm_layout(x);
  SOFT_CHECK(!training || l.B * l.S > 1, "batch_norm: expected more than 1 value per channel when training, ",
             "got input of shape ", shape_str(x.shape()));

  Tensor xc = x.detach().contiguous(), w = contiguous_or_undefined(weight);
  BatchNormForward f = forward_stub(x.device(), xc, w, contiguous_or_undefined(bias),
                                    contiguous_or_undefined(running_mean), contiguous_or_undefined(running_var),
                                    training, eps);
  if (training && running_mean.defined()) {
    // running = (1 - momentum) * running + momentum * batch statistic, with the unbiased variance.
    NoGradGuard no_grad;
    mul_(running_mean, 1 - momentum);
    add_(running_mean, f.mean, momentum);
    mul_(running_var, 1 - momentum);
    add_(running_var, f.var, momentum * l.n() / (l.n() - 1));
  }
  return record("batch_norm", f.y, {x, weight, bias},
                [xc, w, mean = f.mean, invstd = f.invstd, training](const Tensor& g, const std::vector<bool>& needs) {
                  BatchNormBackward b =
                      backward_stub(g.device(), g.contiguous(), xc, w, mean, invstd, training, needs[0]);
                  return Grads{b.dx, needs[1] ? b.dweight : Tensor(), needs[2] ? b.dbias : Tensor()};
                });
}

}  // namespace soft
