#pragma once
// Operand conversions of the bfloat16 mixed-precision path (ops/autocast.h), outside autograd.
#include "autograd/grad_mode.h"
#include "ops/autocast.h"
#include "ops/ops.h"

namespace soft::cuda {

// Whether a float32 product on the GPU runs in bfloat16 now.
inline bool use_bf16(DType dtype) { return dtype == DType::Float32 && autocast_bf16(); }

// A contiguous bfloat16 copy of x (on x's device).
inline Tensor to_bf16(const Tensor& x) {
  NoGradGuard no_grad;
  Tensor out = Tensor::empty(x.shape(), DType::BFloat16, x.device());
  copy_(out, x);
  return out;
}

// dst (float32) = src (bfloat16), converted.
inline void copy_converted(Tensor& dst, const Tensor& src) {
  NoGradGuard no_grad;
  copy_(dst, src);
}

}  // namespace soft::cuda
