#pragma once
// What the "dropout" kernel returns (CPU: ops/dropout.cpp, CUDA: cuda/dropout.cu); the stub's
// signature names it, so both sides share this type.
#include "core/tensor.h"

namespace soft {

struct Masked {
  Tensor y;     // x's shape
  Tensor mask;  // mask_shape, broadcast against x: kept elements hold 1/(1-p), dropped ones 0
};

}  // namespace soft
