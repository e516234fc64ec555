// Layer normalisation over the trailing dims of x: the kernels see x as [rows, M] with
// M = numel(normalized_shape), one row per thread at a time.
#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/layer_norm_kernels.h"
#include "ops/ops.h"

namespace soft {
namespace {

// Rows per thread chunk: enough that each chunk touches ~32k elements.
int64_t row_grain(int64_t M) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(M, 1)); }

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// x [rows, M] contiguous; weight, bias [M] or undefined.
LayerNormForward forward_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t M, double eps) {
  int64_t rows = M ? x.numel() / M : 0;
  LayerNormForward f{Tensor::empty(x.shape(), x.dtype()), Tensor::empty({rows}, x.dtype()),
                     Tensor::empty({rows}, x.dtype())};
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pw = weight.defined() ? weight.data<T>() : nullptr;
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T *py = f.y.data<T>(), *pm = f.mean.data<T>(), *pr = f.rstd.data<T>();
    parallel_for(0, rows, row_grain(M), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* in = px + r * M;
        T* out = py + r * M;
        double sum = 0, sq = 0;  // two passes in double: the mean, then squared deviations
        for (int64_t j = 0; j < M; ++j) sum += in[j];
        double mean = sum / static_cast<double>(M);
        for (int64_t j = 0; j < M; ++j) sq += (in[j] - mean) * (in[j] - mean);
        double rstd = 1 / std::sqrt(sq / static_cast<double>(M) + eps);
        T m = static_cast<T>(mean), rs = static_cast<T>(rstd);
        for (int64_t j = 0; j < M; ++j) {
          T v = (in[j] - m) * rs;
          if (pw) v *= pw[j];
          if (pb) v += pb[j];
          out[j] = v;
        }
        pm[r] = m;
        pr[r] = rs;
      }
    });
  });
  return f;
}

// g, x [rows, M] contiguous; weight [M] or undefined; mean, rstd [rows]. With gw = g*w:
// dx = rstd * (gw - mean(gw) - xhat * mean(gw*xhat)); dweight = sum_rows g*xhat, dbias = sum_rows g.
// Rows are split into a fixed number of blocks, each summing dweight/dbias into its own buffer;
// the buffers are added in block order, so the result does not depend on thread timing.
LayerNormBackward backward_cpu(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& mean,
                               const Tensor& rstd, int64_t M, bool need_dx, bool need_wb) {
  int64_t rows = mean.numel();
  LayerNormBackward out;
  if (need_dx) out.dx = Tensor::empty(x.shape(), x.dtype());
  int64_t max_blocks = std::max<int64_t>(1, std::min<int64_t>(rows, num_threads()));
  int64_t blocks = std::clamp<int64_t>(rows * M / 32768, 1, max_blocks);  // each block ~32k elements or more
  std::vector<double> partial(need_wb ? static_cast<size_t>(blocks * 2 * M) : 0, 0.0);  // [blocks, {dw, db}, M]
  dispatch_float(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pg = g.data<T>(), *px = x.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    const T* pw = weight.defined() ? weight.data<T>() : nullptr;
    T* pdx = need_dx ? out.dx.data<T>() : nullptr;
    parallel_for(0, blocks, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        double* dw = need_wb ? partial.data() + k * 2 * M : nullptr;
        double* db = need_wb ? dw + M : nullptr;
        for (int64_t r = rows * k / blocks; r < rows * (k + 1) / blocks; ++r) {
          const T *gr = pg + r * M, *xr = px + r * M;
          T m = pm[r], rs = pr[r];
          if (need_wb)
            for (int64_t j = 0; j < M; ++j) {
              dw[j] += gr[j] * (xr[j] - m) * rs;
              db[j] += gr[j];
            }
          if (!need_dx) continue;
          double sum_gw = 0, sum_gwx = 0;  // sum(gw), sum(gw * xhat)
          for (int64_t j = 0; j < M; ++j) {
            T gw = pw ? gr[j] * pw[j] : gr[j];
            sum_gw += gw;
            sum_gwx += gw * (xr[j] - m) * rs;
          }
          T a = static_cast<T>(sum_gw / static_cast<double>(M)), b = static_cast<T>(sum_gwx / static_cast<double>(M));
          T* dr = pdx + r * M;
          for (int64_t j = 0; j < M; ++j) {
            T gw = pw ? gr[j] * pw[j] : gr[j];
            dr[j] = rs * (gw - a - (xr[j] - m) * rs * b);
          }
        }
      }
    });
    if (!need_wb) return;
    out.dweight = Tensor::empty({M}, x.dtype());
    out.dbias = Tensor::empty({M}, x.dtype());
    T *pdw = out.dweight.data<T>(), *pdb = out.dbias.data<T>();
    for (int64_t j = 0; j < M; ++j) {
      double sw = 0, sb = 0;
      for (int64_t k = 0; k < blocks; ++k) {
        sw += partial[k * 2 * M + j];
        sb += partial[k * 2 * M + M + j];
      }
      pdw[j] = static_cast<T>(sw);
      pdb[j] = static_cast<T>(sb);
    }
  });
  return out;
}

DispatchStub<LayerNormKernel> forward_stub("layer_norm", forward_cpu);
DispatchStub<LayerNormBackwardKernel> backward_stub("layer_norm_backward", backward_cpu);

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  int64_t k = static_cast<int64_t>(normalized_shape.size());
  SOFT_CHECK(k >= 1, "layer_norm: normalized_shape is empty (input ", shape_str(x.shape()), ")");
  bool trailing = x.dim() >= k && std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - k);
  SOFT_CHECK(trailing, "layer_norm: normalized_shape ", shape_str(normalized_shape),
             " does not match the trailing dims of input ", shape_str(x.shape()));
  SOFT_CHECK(!weight.defined() || weight.shape() == normalized_shape, "layer_norm: weight of shape ",
             shape_str(weight.shape()), " does not match normalized_shape ", shape_str(normalized_shape));
  SOFT_CHECK(!bias.defined() || bias.shape() == normalized_shape, "layer_norm: bias of shape ",
             shape_str(bias.shape()), " does not match normalized_shape ", shape_str(normalized_shape));
  check_same_device("layer_norm", {&x, &weight, &bias});
  check_same_dtype("layer_norm", {&x, &weight, &bias});

  int64_t M = numel_of(normalized_shape);
  Tensor xc = x.detach().contiguous(), w = contiguous_or_undefined(weight);
  LayerNormForward f = forward_stub(x.device(), xc, w, contiguous_or_undefined(bias), M, eps);
  return record("layer_norm", f.y, {x, weight, bias},
                [xc, w, mean = f.mean, rstd = f.rstd, M, normalized_shape](const Tensor& g,
                                                                           const std::vector<bool>& needs) {
                  LayerNormBackward b = backward_stub(g.device(), g.contiguous(), xc, w, mean, rstd, M, needs[0],
                                                      needs[1] || needs[2]);
                  return Grads{b.dx, needs[1] ? reshape(b.dweight, normalized_shape) : Tensor(),
                               needs[2] ? reshape(b.dbias, normalized_shape) : Tensor()};
                });
}

}  // namespace soft
