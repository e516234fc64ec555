// add, sub, mul, div with broadcasting, the scalar forms, and map_binary, the launcher of every
// binary op. Backward sums each gradient back to its input's shape (sum_to), undoing the
// broadcast.
#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

namespace soft {
namespace {

// y contiguous with the broadcast shape; a and b any strides. One instantiation per op.
void cpu_map_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y, double p0, double p1) {
  dispatch_float(a.dtype(), op_name(op), [&](auto tag) {
    using T = decltype(tag);
    visit_op(op, [&](auto c) {
      constexpr BinaryOp kOp = decltype(c)::value;
      cpu_binary_loop<T>(a, b, y, [p0, p1](T u, T v) { return cpu_binary_fn<kOp>(u, v, p0, p1); });
    });
  });
}

DispatchStub<void(BinaryOp, const Tensor&, const Tensor&, Tensor&, double, double)> map_binary_stub(
    "map_binary", cpu_map_binary);

}  // namespace

Tensor map_binary(BinaryOp op, const Tensor& a, const Tensor& b, double p0, double p1) {
  const char* name = op_name(op);
  check_same_device(name, {&a, &b});
  check_same_dtype(name, {&a, &b});
  Tensor y = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.dtype(), a.device());
  map_binary_stub(a.device(), op, a, b, y, p0, p1);
  return y;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary(BinaryOp::Add, a, b);
  return record("add", y, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
    return Grads{needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary(BinaryOp::Sub, a, b);
  return record("sub", y, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
    return Grads{needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(neg(g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary(BinaryOp::Mul, a, b);
  return record("mul", y, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& needs) {
    return Grads{needs[0] ? sum_to(mul(g, b), a.shape()) : Tensor(),
                 needs[1] ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary(BinaryOp::Div, a, b);
  return record("div", y, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& needs) {
    Tensor ga, gb;
    if (needs[0]) ga = sum_to(div(g, b), a.shape());
    if (needs[1]) gb = sum_to(neg(div(mul(g, a), mul(b, b))), b.shape());
    return Grads{ga, gb};
  });
}

Tensor add_scalar(const Tensor& a, double s) {
  Tensor y = map_unary(UnaryOp::AddScalar, a, s);
  return record("add_scalar", y, {a}, [](const Tensor& g, const std::vector<bool>&) { return Grads{g}; });
}

Tensor mul_scalar(const Tensor& a, double s) {
  Tensor y = map_unary(UnaryOp::MulScalar, a, s);
  return record("mul_scalar", y, {a}, [s](const Tensor& g, const std::vector<bool>&) {
    return Grads{mul_scalar(g, s)};
  });
}

}  // namespace soft
