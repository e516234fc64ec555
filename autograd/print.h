#pragma once
// Printing a tensor: shape, dtype, device, grad_fn (the op that made it) and values, long dims
// elided with "...". Lives in autograd, above core, because it names the recorded op.
#include <iosfwd>

#include "core/tensor.h"

namespace soft {

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace soft
