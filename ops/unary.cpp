// Pointwise math: neg, exp, log, sqrt, rsqrt, abs, pow, clamp. Each backward is one more
// pointwise pass over the gradient and a saved input or output.
#include <cmath>

#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

namespace soft {

Tensor neg(const Tensor& x) {
  Tensor y = map_unary("neg", x, [](auto v) { return -v; });
  return record("neg", y, {x}, [](const Tensor& g, const std::vector<bool>&) { return Grads{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor y = map_unary("exp", x, [](auto v) { return std::exp(v); });
  return record("exp", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{mul(g, y)};
  });
}

Tensor log(const Tensor& x) {
  Tensor y = map_unary("log", x, [](auto v) { return std::log(v); });
  return record("log", y, {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{div(g, x)};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = map_unary("sqrt", x, [](auto v) { return std::sqrt(v); });
  return record("sqrt", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("sqrt_backward", g, y, [](auto gv, auto yv) { return gv / (2 * yv); })};
  });
}

Tensor rsqrt(const Tensor& x) {
  Tensor y = map_unary("rsqrt", x, [](auto v) { return 1 / std::sqrt(v); });
  // d/dx x^(-1/2) = -y^3 / 2
  return record("rsqrt", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("rsqrt_backward", g, y, [](auto gv, auto yv) { return gv * (-0.5f) * yv * yv * yv; })};
  });
}

Tensor abs(const Tensor& x) {
  Tensor y = map_unary("abs", x, [](auto v) { return std::abs(v); });
  return record("abs", y, {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("abs_backward", g, x, [](auto gv, auto xv) {
      return xv > 0 ? gv : (xv < 0 ? -gv : decltype(gv)(0));
    })};
  });
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor y = map_unary("pow", x, [exponent](auto v) { return std::pow(v, static_cast<decltype(v)>(exponent)); });
  return record("pow", y, {x}, [x = x.detach(), exponent](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("pow_backward", g, x, [exponent](auto gv, auto xv) {
      using T = decltype(xv);
      return gv * static_cast<T>(exponent) * std::pow(xv, static_cast<T>(exponent - 1));
    })};
  });
}

Tensor clamp(const Tensor& x, double min, double max) {
  SOFT_CHECK(min <= max, "clamp: min ", min, " is greater than max ", max);
  Tensor y = map_unary("clamp", x, [min, max](auto v) {
    using T = decltype(v);
    return std::min(std::max(v, static_cast<T>(min)), static_cast<T>(max));
  });
  return record("clamp", y, {x}, [x = x.detach(), min, max](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("clamp_backward", g, x, [min, max](auto gv, auto xv) {
      return (xv >= min && xv <= max) ? gv : decltype(gv)(0);
    })};
  });
}

}  // namespace soft
