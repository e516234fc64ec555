#pragma once
// Per-op checks. Each is a doctest test case that also records its op's name, so that
// test_op_registry.cpp can fail for any op of ops/registry.cpp without one. Each differentiable
// op needs a GRADCHECK (float64 central differences) and every op a FORWARD_CHECK against a
// naive loop written in the test (the spec).
//
//   FORWARD_CHECK(exp) { ... CHECK(...) ... }
//   GRADCHECK(exp) { expect_gradcheck([](auto& in) { return soft::exp(in[0]); }, {rand_input({3, 4})}); }
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/random.h"
#include "ops/ops.h"

namespace soft::test {

enum class CheckKind { Forward, Gradcheck };
std::map<std::string, std::set<CheckKind>>& op_checks();
bool register_op_check(const char* op, CheckKind kind);

// A float64 (or `dtype`) tensor of uniform values in [lo, hi), seeded so each call differs.
Tensor rand_input(const Shape& shape, double lo = -1.0, double hi = 1.0, DType dtype = DType::Float64,
                  bool requires_grad = true);

// CHECKs that every element of `actual` is within atol + rtol*|expected| of `expected`.
void expect_close(const Tensor& actual, const std::vector<double>& expected, double atol = 1e-6,
                  double rtol = 1e-5);

// CHECKs that gradcheck passes, printing the worst element when it does not.
void expect_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                      const std::vector<Tensor>& inputs, GradcheckOptions options = {});

// Applies f elementwise to x's values (a naive reference for pointwise ops).
std::vector<double> map_values(const Tensor& x, const std::function<double(double)>& f);

// A pointwise op's two checks. Forward: op on random [3, 5] inputs in [lo, hi), float32 and
// float64, against f applied to each element (the naive reference). Gradient: float64 gradcheck
// on [3, 4] inputs in [lo, hi) (keep the range inside the domain and away from kinks).
void check_unary_forward(const std::function<Tensor(const Tensor&)>& op, const std::function<double(double)>& f,
                         double lo = -2, double hi = 2);
void check_unary_grad(const std::function<Tensor(const Tensor&)>& op, double lo = -2, double hi = 2);

}  // namespace soft::test

#define SOFT_OP_CHECK_(kind, title, op)                                                       \
  [[maybe_unused]] static const bool DOCTEST_ANONYMOUS(op_check_registered_) =                 \
      ::soft::test::register_op_check(#op, ::soft::test::CheckKind::kind);                     \
  TEST_CASE(title #op)

#define FORWARD_CHECK(op) SOFT_OP_CHECK_(Forward, "forward matches a naive loop: ", op)
#define GRADCHECK(op) SOFT_OP_CHECK_(Gradcheck, "float64 gradcheck: ", op)
