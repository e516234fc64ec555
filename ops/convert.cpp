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
  Tensor src = contiguous(x.detach());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), device);
  copy_between_devices(y.raw_data(), device, src.raw_data(), src.device(), src.numel() * dtype_size(src.dtype()));
  return record("to_device", y, {x}, [from = x.device()](const Tensor& g, const std::vector<bool>&) {
    return Grads{to_device(g, from)};
  });
}

}  // namespace soft
