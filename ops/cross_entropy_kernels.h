#pragma once
// Kernel signatures and result types of ops/cross_entropy.cpp's stubs, shared with the CUDA
// backend (cuda/cross_entropy.cu).
#include "core/tensor.h"

namespace soft {

struct CrossEntropyForward {
  Tensor loss;  // [] in the logits' dtype
  Tensor logp;  // [B, C] log_softmax(logits), saved for backward
};

struct CrossEntropyBackward {
  Tensor dlogits, dtarget;  // each undefined unless asked for
};

// "cross_entropy": logits [B, C]; target int64 [B] (checked to lie in [0, C)) or float [B, C].
using CrossEntropyKernel = CrossEntropyForward(const Tensor& logits, const Tensor& target, double eps);
// "cross_entropy_backward": g [] on the logits' device; logp [B, C]; target as in the forward.
using CrossEntropyBackwardKernel = CrossEntropyBackward(const Tensor& g, const Tensor& logp, const Tensor& target,
                                                        double eps, bool need_logits, bool need_target);

}  // namespace soft
