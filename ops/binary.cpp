// add, sub, mul, div with broadcasting, and the scalar forms. Backward sums each gradient
// back to its input's shape (sum_to), undoing the broadcast.
#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

namespace soft {

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary("add", a, b, [](auto x, auto z) { return x + z; });
  return record("add", y, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
    return Grads{needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary("sub", a, b, [](auto x, auto z) { return x - z; });
  return record("sub", y, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
    return Grads{needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(neg(g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary("mul", a, b, [](auto x, auto z) { return x * z; });
  return record("mul", y, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& needs) {
    return Grads{needs[0] ? sum_to(mul(g, b), a.shape()) : Tensor(),
                 needs[1] ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = map_binary("div", a, b, [](auto x, auto z) { return x / z; });
  return record("div", y, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& needs) {
    Tensor ga, gb;
    if (needs[0]) ga = sum_to(div(g, b), a.shape());
    if (needs[1]) gb = sum_to(neg(div(mul(g, a), mul(b, b))), b.shape());
    return Grads{ga, gb};
  });
}

Tensor add_scalar(const Tensor& a, double s) {
  Tensor y = map_unary("add_scalar", a, [s](auto x) { return x + static_cast<decltype(x)>(s); });
  return record("add_scalar", y, {a}, [](const Tensor& g, const std::vector<bool>&) { return Grads{g}; });
}

Tensor mul_scalar(const Tensor& a, double s) {
  Tensor y = map_unary("mul_scalar", a, [s](auto x) { return x * static_cast<decltype(x)>(s); });
  return record("mul_scalar", y, {a}, [s](const Tensor& g, const std::vector<bool>&) {
    return Grads{mul_scalar(g, s)};
  });
}

}  // namespace soft
