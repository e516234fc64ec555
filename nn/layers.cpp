#include "nn/layers.h"

#include "autograd/grad_mode.h"
#include "dist/functional.h"
#include "nn/init.h"

namespace soft::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias) {
  weight = register_parameter("weight", init::trunc_normal({out, in}, 0.02));
  if (has_bias) bias = register_parameter("bias", zeros({out}));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t groups,
               bool has_bias)
    : Conv2d(in, out, {kernel, kernel}, {padding, padding}, groups, has_bias) {
  params.stride = {stride, stride};
}

Conv2d::Conv2d(int64_t in, int64_t out, std::array<int64_t, 2> kernel, std::array<int64_t, 2> padding, int64_t groups,
               bool has_bias) {
  SOFT_CHECK(groups > 0 && in % groups == 0 && out % groups == 0, "Conv2d: channels ", in, " -> ", out,
             " are not divisible by groups ", groups);
  int64_t fan_in = in / groups * kernel[0] * kernel[1];
  weight = register_parameter("weight", init::kaiming_uniform_default({out, in / groups, kernel[0], kernel[1]}, fan_in));
  if (has_bias) bias = register_parameter("bias", init::default_bias(out, fan_in));
  params = {{1, 1}, padding, groups};
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum) : eps(eps), momentum(momentum) {
  weight = register_parameter("weight", ones({channels}));
  bias = register_parameter("bias", zeros({channels}));
  running_mean = register_buffer("running_mean", zeros({channels}));
  running_var = register_buffer("running_var", ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) {
    NoGradGuard no_grad;
    fill_(num_batches_tracked, num_batches_tracked.item() + 1);
  }
  if (sync && is_training())
    return dist::sync_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps, *sync);
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

LayerNorm::LayerNorm(int64_t dim, double eps) : eps(eps) {
  weight = register_parameter("weight", ones({dim}));
  bias = register_parameter("bias", zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, {weight.size(0)}, weight, bias, eps); }

}  // namespace soft::nn
