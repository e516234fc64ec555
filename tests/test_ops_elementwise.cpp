// Pointwise ops and broadcasting arithmetic against plain loops, and their float64 gradients.
#include <cmath>

#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// out[i][j][k] for a [2,1,4] and b [3,1] broadcast to [2,3,4], by explicit index arithmetic.
std::vector<double> naive_broadcast(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
  std::vector<double> va = a.to_vector(), vb = b.to_vector(), out;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) out.push_back(f(va[i * 4 + k], vb[j]));
  return out;
}

void check_binary(const std::function<Tensor(const Tensor&, const Tensor&)>& op,
                  const std::function<double(double, double)>& f) {
  Tensor a = rand_input({2, 1, 4}, 0.5, 2.0, DType::Float32, false);
  Tensor b = rand_input({3, 1}, 0.5, 2.0, DType::Float32, false);
  Tensor y = op(a, b);
  CHECK(y.shape() == Shape{2, 3, 4});
  expect_close(y, naive_broadcast(a, b, f), 1e-6, 1e-6);
  // Same shapes, contiguous fast path, and a transposed (strided) operand.
  Tensor c = rand_input({4, 3}, 0.5, 2.0, DType::Float64, false);
  Tensor d = rand_input({3, 4}, 0.5, 2.0, DType::Float64, false);
  std::vector<double> vc = c.to_vector(), vd = d.to_vector(), expected;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) expected.push_back(f(vc[i * 3 + j], vd[j * 4 + i]));
  expect_close(op(c, transpose(d, 0, 1)), expected, 1e-12, 1e-12);
}

void check_binary_grad(const std::function<Tensor(const Tensor&, const Tensor&)>& op) {
  Fn fn = [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); };
  expect_gradcheck(fn, {rand_input({2, 1, 4}, 0.5, 2.0), rand_input({3, 1}, 0.5, 2.0)});
  expect_gradcheck(fn, {rand_input({3, 4}, 0.5, 2.0), rand_input({3, 4}, 0.5, 2.0)});
}

double gelu_exact(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

}  // namespace

FORWARD_CHECK(add) { check_binary(add, [](double a, double b) { return a + b; }); }
FORWARD_CHECK(sub) { check_binary(sub, [](double a, double b) { return a - b; }); }
FORWARD_CHECK(mul) { check_binary(mul, [](double a, double b) { return a * b; }); }
FORWARD_CHECK(div) { check_binary(soft::div, [](double a, double b) { return a / b; }); }
GRADCHECK(add) { check_binary_grad(add); }
GRADCHECK(sub) { check_binary_grad(sub); }
GRADCHECK(mul) { check_binary_grad(mul); }
GRADCHECK(div) { check_binary_grad(soft::div); }

FORWARD_CHECK(add_scalar) { check_unary_forward([](const Tensor& x) { return x + 2.5; }, [](double v) { return v + 2.5; }); }
FORWARD_CHECK(mul_scalar) { check_unary_forward([](const Tensor& x) { return x * -3.0; }, [](double v) { return v * -3.0; }); }
GRADCHECK(add_scalar) { check_unary_grad([](const Tensor& x) { return 1.5 - x; }); }
GRADCHECK(mul_scalar) { check_unary_grad([](const Tensor& x) { return x * 0.75; }); }

FORWARD_CHECK(neg) { check_unary_forward(neg, [](double v) { return -v; }); }
FORWARD_CHECK(exp) { check_unary_forward(soft::exp, [](double v) { return std::exp(v); }); }
FORWARD_CHECK(log) { check_unary_forward(soft::log, [](double v) { return std::log(v); }, 0.1, 3); }
FORWARD_CHECK(sqrt) { check_unary_forward(soft::sqrt, [](double v) { return std::sqrt(v); }, 0.1, 3); }
FORWARD_CHECK(rsqrt) { check_unary_forward(rsqrt, [](double v) { return 1 / std::sqrt(v); }, 0.1, 3); }
FORWARD_CHECK(abs) { check_unary_forward(soft::abs, [](double v) { return std::fabs(v); }); }
FORWARD_CHECK(pow) {
  check_unary_forward([](const Tensor& x) { return soft::pow(x, 2.5); }, [](double v) { return std::pow(v, 2.5); }, 0.1, 3);
}
FORWARD_CHECK(clamp) {
  check_unary_forward([](const Tensor& x) { return clamp(x, -0.5, 0.7); },
                      [](double v) { return std::min(std::max(v, -0.5), 0.7); });
}
GRADCHECK(neg) { check_unary_grad(neg); }
GRADCHECK(exp) { check_unary_grad(soft::exp); }
GRADCHECK(log) { check_unary_grad(soft::log, 0.1, 3); }
GRADCHECK(sqrt) { check_unary_grad(soft::sqrt, 0.1, 3); }
GRADCHECK(rsqrt) { check_unary_grad(rsqrt, 0.1, 3); }
GRADCHECK(abs) { check_unary_grad(soft::abs, 0.1, 2); check_unary_grad(soft::abs, -2, -0.1); }
GRADCHECK(pow) { check_unary_grad([](const Tensor& x) { return soft::pow(x, -1.5); }, 0.2, 3); }
GRADCHECK(clamp) {  // inputs kept away from the kinks at -0.5 and 0.7
  Tensor x = Tensor::from_vector({-1.2, -0.9, -0.3, 0.1, 0.5, 0.9, 1.4, 2.0}, {8}, DType::Float64);
  x.requires_grad_(true);
  expect_gradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, 0.7); }, {x});
}

FORWARD_CHECK(tanh) { check_unary_forward(soft::tanh, [](double v) { return std::tanh(v); }); }
FORWARD_CHECK(sigmoid) { check_unary_forward(sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }); }
FORWARD_CHECK(relu) { check_unary_forward(relu, [](double v) { return v > 0 ? v : 0; }); }
FORWARD_CHECK(gelu) { check_unary_forward([](const Tensor& x) { return gelu(x); }, gelu_exact, -4, 4); }
FORWARD_CHECK(gelu_tanh) {
  check_unary_forward([](const Tensor& x) { return gelu(x, GeluApprox::Tanh); }, gelu_tanh_ref, -4, 4);
}
GRADCHECK(tanh) { check_unary_grad(soft::tanh); }
GRADCHECK(sigmoid) { check_unary_grad(sigmoid); }
GRADCHECK(relu) { check_unary_grad(relu, 0.1, 2); check_unary_grad(relu, -2, -0.1); }
GRADCHECK(gelu) { check_unary_grad([](const Tensor& x) { return gelu(x); }, -4, 4); }
GRADCHECK(gelu_tanh) { check_unary_grad([](const Tensor& x) { return gelu(x, GeluApprox::Tanh); }, -4, 4); }

TEST_CASE("binary ops reject mismatched shapes, dtypes and devices with the op's name") {
  Tensor a = zeros({2, 3}), b = zeros({4});
  CHECK_THROWS_WITH_AS(add(a, b), "add: shapes [2, 3] and [4] do not broadcast", Error);
  CHECK_THROWS_WITH_AS(mul(a, zeros({2, 3}, DType::Float64)), "mul: dtype mismatch (float32 and float64)", Error);
  CHECK_THROWS_AS(exp(zeros({2}, DType::Int64)), Error);
}
