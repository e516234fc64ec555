// How far the journal Newton inverse's one-step backward, dL/dk = -V^T G V^T (ops/newton_inverse.cpp,
// derived in docs/MODEL.md), is from two exact gradients, at the model's 20 iterations and m = 49,
// in float64, on Gaussian kernel matrices of landmarks spread as in the model (scale s):
// - the gradient of the exact regularised inverse (k + 0.01 I)^-1, for the converged inverse;
// - the derivative of the 20-iteration map actually computed (alpha included), by central
//   differences along random symmetric directions.
// The measured numbers are printed (docs/MODEL.md quotes them). When 20 iterations have not
// converged (landmarks bunched together: k nearly singular) neither gradient is matched.
#include <cmath>
#include <cstdio>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "ops/ops.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

constexpr int64_t kM = 49, kD = 32, kIterations = 20;

double norm(const Tensor& t) { return std::sqrt(sum(t * t).item()); }
double dot(const Tensor& a, const Tensor& b) { return sum(a * b).item(); }

struct Errors {
  double vs_exact_inverse, vs_iterations, residual;  // relative errors, and ||I - P V||_F
};

Errors measure(double scale, Generator& gen) {
  Tensor L = normal({1, kM, kD}, 0.0, scale, gen, DType::Float64);
  Tensor k = gaussian_kernel(L, L).detach();  // [1, m, m], symmetric, unit diagonal
  Tensor G = normal({1, kM, kM}, 0.0, 1.0, gen, DType::Float64);
  Tensor P = k + eye(kM, DType::Float64) * 0.01;

  Tensor kg = k.clone().requires_grad_();
  Tensor V = newton_inverse(kg, kIterations);
  sum(V * G).backward();
  Tensor closed = kg.grad();  // -V^T G V^T

  NoGradGuard no_grad;
  Tensor exact_inv = newton_inverse(k, 200);  // converged: checked by its residual below
  Tensor it = transpose(exact_inv, -1, -2);
  Tensor exact = neg(matmul(matmul(it, G), it));
  Errors e{};
  e.vs_exact_inverse = norm(closed - exact) / norm(exact);
  e.residual = norm(eye(kM, DType::Float64) - matmul(P, V));
  REQUIRE(norm(eye(kM, DType::Float64) - matmul(P, exact_inv)) < 1e-8);

  // Directional derivatives of k -> sum(newton_inverse(k, 20) * G), symmetric directions.
  double worst = 0;
  const double eps = 1e-6;
  for (int trial = 0; trial < 4; ++trial) {
    Tensor E = normal({1, kM, kM}, 0.0, 1.0, gen, DType::Float64);
    E = (E + transpose(E, -1, -2)) * 0.5;
    double fd = (dot(newton_inverse(k + E * eps, kIterations), G) - dot(newton_inverse(k - E * eps, kIterations), G)) /
                (2 * eps);
    worst = std::max(worst, std::abs(dot(closed, E) - fd) / std::abs(fd));
  }
  e.vs_iterations = worst;
  return e;
}

}  // namespace

TEST_CASE("newton_inverse's closed-form backward at 20 iterations, against the exact gradients") {
  Generator gen(2026);
  for (double scale : {0.5, 0.2, 0.15, 0.1}) {
    Errors e = measure(scale, gen);
    MESSAGE("landmark scale ", scale, ": ||I - P V||_F = ", e.residual, ", relative error vs the exact inverse's ",
            "gradient ", e.vs_exact_inverse, ", vs the derivative of the 20 iterations ", e.vs_iterations);
    // V is a polynomial in P, so R = I - P V commutes with P and the error of -V^T G V^T is at most
    // (2 ||R|| + ||R||^2) times the exact gradient (docs/MODEL.md).
    CHECK(e.vs_exact_inverse <= 2 * e.residual + e.residual * e.residual + 1e-12);
    if (e.residual < 1e-8) {  // converged: the closed form is the gradient of what was computed
      CHECK(e.vs_exact_inverse < 1e-10);
      CHECK(e.vs_iterations < 1e-6);
    }
  }
}
