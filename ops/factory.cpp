// Tensors made from nothing: zeros, ones, full, eye, arange.
#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft {

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  fill_(t, value);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }

Tensor eye(int64_t n, DType dtype, Device device) {
  SOFT_CHECK(n >= 0, "eye: n = ", n, " is negative");
  Tensor t = zeros({n, n}, dtype, device);
  // The diagonal of an n x n matrix is a view with stride n + 1.
  Tensor diagonal = make_view(t, {n}, {n + 1}, 0);
  fill_(diagonal, 1.0);
  return t;
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  SOFT_CHECK(step != 0, "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((end - start) / step)));
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = start + static_cast<double>(i) * step;
  return to_device(Tensor::from_vector(values, {n}, dtype), device);
}

}  // namespace soft
