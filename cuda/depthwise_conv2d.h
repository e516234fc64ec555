#pragma once
// Hand-written CUDA kernels of depthwise convolutions (groups == Cin == Cout, weight [C, 1, kh, kw]):
// conv2d's forward and both gradients take them in place of cuDNN (cuda/conv2d.cu asks
// depthwise_kernels_take first). SOFT's local branch is such a conv over [B*d, heads, H, W]: many
// planes, few channels, where cuDNN's NCHW depthwise kernels were slow. Same contract as the cuDNN
// path: float32 or float64 tensors; under AutocastBf16 a float32 convolution rounds its operands
// and its result to bfloat16 and accumulates in float32. The bias gradient stays conv2d's sum.
//
// SOFT_DEPTHWISE=cudnn in the environment (read once) sends depthwise convolutions to cuDNN
// as before, for A/B measurements; unset or SOFT_DEPTHWISE=kernels uses these kernels.
#include "core/tensor.h"
#include "ops/ops.h"

namespace soft::cuda {

// Whether these kernels run the depthwise convolution of x [B, C, H, W] with weight [C, 1, kh, kw]
// under p: not when it is not depthwise, has over 1024 taps or tiles that do not fit in shared
// memory, or when SOFT_DEPTHWISE=cudnn.
bool depthwise_kernels_take(const Shape& x, const Shape& w, const Conv2dParams& p, DType dtype);

// The kernels, with cuda/conv2d.cu's signatures: y [B, C, Ho, Wo] = conv(x, w) + bias (bias may be
// undefined), dx [B, C, H, W] from gy, dw [C, 1, kh, kw] from gy and x.
void depthwise_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, Tensor& y);
void depthwise_conv2d_grad_input(const Tensor& gy, const Tensor& w, const Conv2dParams& p, Tensor& dx);
void depthwise_conv2d_grad_weight(const Tensor& gy, const Tensor& x, const Conv2dParams& p, Tensor& dw);

}  // namespace soft::cuda
