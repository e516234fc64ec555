// The pointwise ops on the GPU against the CPU (the spec): every unary and binary op, forward and
// backward (the backward runs the op's *_backward helper), broadcasting, strided operands,
// float64, the in-place add_ and mul_, and their errors.
#include <set>
#include <string>

#include "ops/pointwise_math.h"
#include "tests/cuda/cuda_test.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  double lo, hi;  // input range: inside the op's domain, away from its kinks by chance only
  Tolerance f32;  // erf, tanh and pow differ between libm and CUDA's math by a few ulp more
};

std::vector<UnaryCase> unary_cases() {
  Tolerance plain{1e-5, 1e-4}, special{3e-5, 3e-4};
  return {
      {"neg", [](const Tensor& x) { return soft::neg(x); }, -2, 2, plain},
      {"exp", [](const Tensor& x) { return soft::exp(x); }, -2, 2, plain},
      {"log", [](const Tensor& x) { return soft::log(x); }, 0.5, 3, plain},
      {"sqrt", [](const Tensor& x) { return soft::sqrt(x); }, 0.5, 3, plain},
      {"rsqrt", [](const Tensor& x) { return soft::rsqrt(x); }, 0.5, 3, plain},
      {"abs", [](const Tensor& x) { return soft::abs(x); }, -2, 2, plain},
      {"pow 2.5", [](const Tensor& x) { return soft::pow(x, 2.5); }, 0.5, 2, special},
      {"pow 3", [](const Tensor& x) { return soft::pow(x, 3.0); }, -2, 2, special},
      {"pow -1.5", [](const Tensor& x) { return soft::pow(x, -1.5); }, 0.5, 2, special},
      {"clamp", [](const Tensor& x) { return soft::clamp(x, -0.5, 0.7); }, -2, 2, plain},
      {"add_scalar", [](const Tensor& x) { return soft::add_scalar(x, 2.5); }, -2, 2, plain},
      {"mul_scalar", [](const Tensor& x) { return soft::mul_scalar(x, -3.0); }, -2, 2, plain},
      {"tanh", [](const Tensor& x) { return soft::tanh(x); }, -2, 2, special},
      {"sigmoid", [](const Tensor& x) { return soft::sigmoid(x); }, -3, 3, plain},
      {"relu", [](const Tensor& x) { return soft::relu(x); }, -2, 2, plain},
      {"gelu", [](const Tensor& x) { return soft::gelu(x); }, -3, 3, special},
      {"gelu_tanh", [](const Tensor& x) { return soft::gelu(x, GeluApprox::Tanh); }, -3, 3, special},
  };
}

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
const std::vector<std::pair<const char*, BinaryFn>> kBinaryOps = {
    {"add", soft::add}, {"sub", soft::sub}, {"mul", soft::mul}, {"div", soft::div}};

Fn binary_fn(BinaryFn op) {
  return [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); };
}

}  // namespace

// Needs no GPU: a new pointwise op (ops/pointwise_math.h) fails here until it has a case above. Its
// *_backward helper is covered by the backward of its op's case.
TEST_CASE("cuda: every SOFT_UNARY_OPS and SOFT_BINARY_OPS op has a GPU-vs-CPU case") {
  std::set<std::string> covered;
  for (const UnaryCase& c : unary_cases()) covered.insert(std::string(c.name).substr(0, std::string(c.name).find(' ')));
  for (const auto& entry : kBinaryOps) covered.insert(entry.first);
  std::vector<std::string> names(std::begin(kUnaryOpNames), std::end(kUnaryOpNames));
  names.insert(names.end(), std::begin(kBinaryOpNames), std::end(kBinaryOpNames));
  const std::string suffix = "_backward";
  for (std::string name : names) {
    if (name.ends_with(suffix)) name.resize(name.size() - suffix.size());
    CHECK_MESSAGE(covered.count(name), "pointwise op '", name, "' has no case in unary_cases() or kBinaryOps");
  }
}

TEST_CASE("cuda: unary pointwise ops match the CPU, forward and backward (float32)") {
  SOFT_SKIP_WITHOUT_GPU();
  for (const UnaryCase& c : unary_cases()) {
    INFO(c.name);
    Tensor x = rand_input({37, 29}, c.lo, c.hi, DType::Float32, true);  // several blocks, a partial last one
    expect_gpu_matches_cpu([&c](const std::vector<Tensor>& in) { return c.op(in[0]); }, {x}, c.f32);
  }
}

TEST_CASE("cuda: unary pointwise ops on a transposed float64 input match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (const UnaryCase& c : unary_cases()) {
    INFO(c.name);
    Tensor x = rand_input({13, 21}, c.lo, c.hi, DType::Float64, true);
    expect_gpu_matches_cpu([&c](const std::vector<Tensor>& in) { return c.op(transpose(in[0], 0, 1)); }, {x},
                           {1e-12, 1e-10});
  }
}

TEST_CASE("cuda: binary ops broadcast like the CPU, forward and backward") {
  SOFT_SKIP_WITHOUT_GPU();
  for (const auto& entry : kBinaryOps) {
    INFO(entry.first);
    BinaryFn op = entry.second;
    // [2,1,4] with [3,1] -> [2,3,4], in float32 and float64.
    expect_gpu_matches_cpu(binary_fn(op), {rand_input({2, 1, 4}, 0.5, 2, DType::Float32, true),
                                           rand_input({3, 1}, 0.5, 2, DType::Float32, true)});
    expect_gpu_matches_cpu(binary_fn(op), {rand_input({2, 1, 4}, 0.5, 2, DType::Float64, true),
                                           rand_input({3, 1}, 0.5, 2, DType::Float64, true)},
                           {1e-12, 1e-10});
    // Same shapes: the contiguous kernel, on more elements than one block.
    expect_gpu_matches_cpu(binary_fn(op), {rand_input({33, 40}, 0.5, 2, DType::Float32, true),
                                           rand_input({33, 40}, 0.5, 2, DType::Float32, true)});
    // A transposed operand: same shape, strided.
    expect_gpu_matches_cpu([op](const std::vector<Tensor>& in) { return op(in[0], transpose(in[1], 0, 1)); },
                           {rand_input({4, 3}, 0.5, 2, DType::Float32, true),
                            rand_input({3, 4}, 0.5, 2, DType::Float32, true)});
    // Broadcasting on both sides over many blocks, and a 0-d operand.
    expect_gpu_matches_cpu(binary_fn(op), {rand_input({17, 1, 33}, 0.5, 2, DType::Float32, true),
                                           rand_input({45, 1}, 0.5, 2, DType::Float32, true)});
    expect_gpu_matches_cpu(binary_fn(op), {rand_input({3, 4}, 0.5, 2, DType::Float32, true),
                                           rand_input({}, 0.5, 2, DType::Float32, true)});
  }
}

TEST_CASE("cuda: in-place add_ and mul_ match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor dst = rand_input({31, 19}, -2, 2, dtype, false);
    Tensor src = rand_input({19, 31}, -2, 2, dtype, false);
    expect_gpu_matches_cpu(
        [](const std::vector<Tensor>& in) {
          Tensor d = in[0].clone();
          add_(d, transpose(in[1], 0, 1), -0.75);  // a strided source
          mul_(d, 1.5);
          add_(d, in[0]);
          return d;
        },
        {dst, src});
  }
}

TEST_CASE("cuda: pointwise ops on the GPU reject other dtypes and mixed devices, naming the op") {
  SOFT_SKIP_WITHOUT_GPU();
  Tensor i = zeros({2, 3}, DType::Int64, Device::cuda(0));
  CHECK_THROWS_WITH_AS(soft::exp(i), doctest::Contains("exp: dtype int64 is not supported"), Error);
  CHECK_THROWS_WITH_AS(soft::add(i, i), doctest::Contains("add: dtype int64 is not supported"), Error);
  Tensor g = zeros({2, 3}, DType::Float32, Device::cuda(0));
  CHECK_THROWS_WITH_AS(soft::mul(g, zeros({2, 3})), doctest::Contains("mul: tensors on different devices"), Error);
  CHECK_THROWS_WITH_AS(add_(i, i), doctest::Contains("add_: dtype int64 is not supported"), Error);
}
