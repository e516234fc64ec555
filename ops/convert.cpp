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

Tensor to_device(const Tensor& x, Device device, bool non_blocking) {
  if (x.device() == device) return x;
  Tensor src = contiguous(x.detach());  // a non-contiguous x gets an ordinary (unpinned) copy: blocking
  Tensor y = Tensor::empty(x.shape(), x.dtype(), device);
  copy_between_devices(y.raw_data(), device, src.raw_data(), src.device(), src.numel() * dtype_size(src.dtype()),
                       non_blocking);
  return record("to_device", y, {x}, [from = x.device()](const Tensor& g, const std::vector<bool>&) {
    return Grads{to_device(g, from)};
  });
}

Tensor Tensor::pin_memory() const {
  SOFT_CHECK(device().is_cpu(), "pin_memory: the tensor is on ", device().str(), "; only CPU tensors can be pinned");
  if (is_pinned() && is_contiguous()) return *this;
  Tensor y = Tensor::empty(shape(), dtype(), Device::cpu(), /*pinned=*/true);
  copy_(y, detach());
  return y;
}

}  // namespace soft
