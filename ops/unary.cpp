// Pointwise math: neg, exp, log, sqrt, rsqrt, abs, pow, clamp, and map_unary, the launcher of
// every unary op. Each backward is one more pointwise pass over the gradient and a saved input
// or output (map_binary with the op's *Backward).
#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

namespace soft {
namespace {

// x, y contiguous, same shape. One instantiation per op: the op is a constant in the loop.
void cpu_map_unary(UnaryOp op, const Tensor& x, Tensor& y, double p0, double p1) {
  dispatch_float(x.dtype(), op_name(op), [&](auto tag) {
    using T = decltype(tag);
    visit_op(op, [&](auto c) {
      constexpr UnaryOp kOp = decltype(c)::value;
      cpu_unary_loop(x.data<T>(), y.data<T>(), y.numel(), [p0, p1](T v) { return cpu_unary_fn<kOp>(v, p0, p1); });
    });
  });
}

DispatchStub<void(UnaryOp, const Tensor&, Tensor&, double, double)> map_unary_stub("map_unary", cpu_map_unary);

}  // namespace

Tensor map_unary(UnaryOp op, const Tensor& x, double p0, double p1) {
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  map_unary_stub(x.device(), op, xc, y, p0, p1);
  return y;
}

Tensor neg(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Neg, x);
  return record("neg", y, {x}, [](const Tensor& g, const std::vector<bool>&) { return Grads{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Exp, x);
  return record("exp", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{mul(g, y)};
  });
}

Tensor log(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Log, x);
  return record("log", y, {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{div(g, x)};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Sqrt, x);
  return record("sqrt", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::SqrtBackward, g, y)};
  });
}

Tensor rsqrt(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Rsqrt, x);
  return record("rsqrt", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::RsqrtBackward, g, y)};
  });
}

Tensor abs(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Abs, x);
  return record("abs", y, {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::AbsBackward, g, x)};
  });
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor y = map_unary(UnaryOp::Pow, x, exponent);
  return record("pow", y, {x}, [x = x.detach(), exponent](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::PowBackward, g, x, exponent)};
  });
}

Tensor clamp(const Tensor& x, double min, double max) {
  SOFT_CHECK(min <= max, "clamp: min ", min, " is greater than max ", max);
  Tensor y = map_unary(UnaryOp::Clamp, x, min, max);
  return record("clamp", y, {x}, [x = x.detach(), min, max](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::ClampBackward, g, x, min, max)};
  });
}

}  // namespace soft
