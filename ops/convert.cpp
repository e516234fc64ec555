// Changing dtype or device. The gradient goes back in the input's dtype and on its device.
#include "autograd/node.h"
#include "ops/ops.h"

namespace soft {

Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), dtype, x.device());
  copy_(y, x.detach());
  if (!is_floating(dtype)) return y;  // integers carry no gradient
  return record("to_dtype", y, {x}, [from = x.dtype()](const Tensor& g, const std::vector<bool>&) {
    return Grads{to_dtype(g, from)};
  });
}

Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  throw Error("to_device: cannot move a tensor from " + x.device().str() + " to " + device.str() +
              ": this build has no CUDA backend");
}

}  // namespace soft
