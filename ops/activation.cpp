// Activations: tanh, sigmoid, relu, gelu (exact erf form and the tanh approximation).
#include <cmath>

#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

namespace soft {

Tensor tanh(const Tensor& x) {
  Tensor y = map_unary("tanh", x, [](auto v) { return std::tanh(v); });
  return record("tanh", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("tanh_backward", g, y, [](auto gv, auto yv) { return gv * (1 - yv * yv); })};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = map_unary("sigmoid", x, [](auto v) { return 1 / (1 + std::exp(-v)); });
  return record("sigmoid", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("sigmoid_backward", g, y, [](auto gv, auto yv) { return gv * yv * (1 - yv); })};
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = map_unary("relu", x, [](auto v) { return v > 0 ? v : decltype(v)(0); });
  return record("relu", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("relu_backward", g, y, [](auto gv, auto yv) { return yv > 0 ? gv : decltype(gv)(0); })};
  });
}

namespace {

// Exact: x * Phi(x). Tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <class T> T gelu_erf(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2))); }
template <class T> T gelu_erf_grad(T x) {
  T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
  T pdf = std::exp(T(-0.5) * x * x) * T(0.3989422804014327);  // 1/sqrt(2 pi)
  return cdf + x * pdf;
}
constexpr double kSqrt2OverPi = 0.7978845608028654;
template <class T> T gelu_tanh(T x) {
  return T(0.5) * x * (T(1) + std::tanh(T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x)));
}
template <class T> T gelu_tanh_grad(T x) {
  T inner = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
  T t = std::tanh(inner);
  T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner;
}

}  // namespace

Tensor gelu(const Tensor& x, GeluApprox approx) {
  bool exact = approx == GeluApprox::None;
  const char* op = exact ? "gelu" : "gelu_tanh";
  Tensor y = exact ? map_unary(op, x, [](auto v) { return gelu_erf(v); })
                   : map_unary(op, x, [](auto v) { return gelu_tanh(v); });
  return record(op, y, {x}, [x = x.detach(), exact](const Tensor& g, const std::vector<bool>&) {
    if (exact) return Grads{map_binary("gelu_backward", g, x, [](auto gv, auto xv) { return gv * gelu_erf_grad(xv); })};
    return Grads{map_binary("gelu_tanh_backward", g, x, [](auto gv, auto xv) { return gv * gelu_tanh_grad(xv); })};
  });
}

}  // namespace soft
