// dropout (independent elements) and drop_path (whole samples: stochastic depth). Both multiply
// x by a mask of 0 and 1/(1-p) drawn from the given Generator, so a fixed seed gives a fixed
// mask; backward multiplies the gradient by the same saved mask.
#include "autograd/node.h"
#include "ops/dispatch.h"
#include "ops/dropout_kernels.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

namespace soft {
namespace {

Masked dropout_cpu(const char* /*op*/, const Tensor& x, const Shape& mask_shape, double p, Generator& gen) {
  Tensor mask;
  if (p == 1) {  // nothing kept, and no numbers drawn (as PyTorch)
    mask = zeros(mask_shape, x.dtype());
  } else {
    mask = bernoulli(mask_shape, 1 - p, gen, x.dtype());
    mul_(mask, 1 / (1 - p));
  }
  return {map_binary(BinaryOp::Mul, x, mask), mask};
}

DispatchStub<Masked(const char*, const Tensor&, const Shape&, double, Generator&)> dropout_stub(
    "dropout", dropout_cpu);

// Checks p (always) and x's dtype (when something is dropped); true when the op is the identity.
bool is_identity(const char* op, const Tensor& x, double p, bool training) {
  SOFT_CHECK(p >= 0 && p <= 1, op, ": probability p = ", p, " is outside [0, 1]");
  if (!training || p == 0) return true;
  SOFT_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, op, ": dtype ", dtype_name(x.dtype()),
             " is not supported (float32 or float64)");
  return false;
}

Tensor masked(const char* op, const Tensor& x, const Shape& mask_shape, double p, Generator& gen) {
  Masked m = dropout_stub(x.device(), op, x.detach(), mask_shape, p, gen);
  return record(op, m.y, {x}, [mask = m.mask](const Tensor& g, const std::vector<bool>&) {
    return Grads{mul(g, mask)};
  });
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  if (is_identity("dropout", x, p, training)) return x;
  return masked("dropout", x, x.shape(), p, gen);
}

Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen) {
  SOFT_CHECK(x.dim() >= 1, "drop_path: input must have a batch dim, got shape ", shape_str(x.shape()));
  if (is_identity("drop_path", x, p, training)) return x;
  Shape mask_shape(x.dim(), 1);  // [B, 1, 1, ...]: one draw per sample
  mask_shape[0] = x.shape()[0];
  return masked("drop_path", x, mask_shape, p, gen);
}

}  // namespace soft
