// Activations: tanh, sigmoid, relu, gelu (exact erf form and the tanh approximation). Their
// math, forward and backward, is in ops/pointwise_math.h.
#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

namespace soft {

Tensor tanh(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Tanh, x);
  return record("tanh", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::TanhBackward, g, y)};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Sigmoid, x);
  return record("sigmoid", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::SigmoidBackward, g, y)};
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = map_unary(UnaryOp::Relu, x);
  return record("relu", y, {x}, [y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(BinaryOp::ReluBackward, g, y)};
  });
}

Tensor gelu(const Tensor& x, GeluApprox approx) {
  bool exact = approx == GeluApprox::None;
  Tensor y = map_unary(exact ? UnaryOp::Gelu : UnaryOp::GeluTanh, x);
  return record(exact ? "gelu" : "gelu_tanh", y, {x}, [x = x.detach(), exact](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary(exact ? BinaryOp::GeluBackward : BinaryOp::GeluTanhBackward, g, x)};
  });
}

}  // namespace soft
