#include "tests/op_check.h"

#include <cmath>

namespace soft::test {

std::map<std::string, std::set<CheckKind>>& op_checks() {
  static std::map<std::string, std::set<CheckKind>> checks;
  return checks;
}

bool register_op_check(const char* op, CheckKind kind) {
  op_checks()[op].insert(kind);
  return true;
}

Tensor rand_input(const Shape& shape, double lo, double hi, DType dtype, bool requires_grad) {
  static Generator gen(1234);
  Tensor t = uniform(shape, lo, hi, gen, dtype);
  if (requires_grad) t.requires_grad_(true);
  return t;
}

void expect_close(const Tensor& actual, const std::vector<double>& expected, double atol, double rtol) {
  std::vector<double> a = actual.to_vector();
  REQUIRE(a.size() == expected.size());
  size_t bad = 0, worst = 0;
  double worst_err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::fabs(a[i] - expected[i]);
    bool ok = err <= atol + rtol * std::fabs(expected[i]) || (std::isnan(a[i]) && std::isnan(expected[i]));
    if (!ok) {
      ++bad;
      if (!(err <= worst_err)) worst_err = err, worst = i;
    }
  }
  INFO("worst element ", worst, ": got ", a.empty() ? 0 : a[worst], ", expected ",
       expected.empty() ? 0 : expected[worst]);
  CHECK_MESSAGE(bad == 0, bad, " of ", a.size(), " elements differ");
}

void expect_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                      const std::vector<Tensor>& inputs, GradcheckOptions options) {
  GradcheckResult r = gradcheck(fn, inputs, options);
  CHECK_MESSAGE(r.ok, "gradcheck failed: ", r.report, " (error ratio ", r.worst_error, ")");
}

std::vector<double> map_values(const Tensor& x, const std::function<double(double)>& f) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = f(e);
  return v;
}

void check_unary_forward(const std::function<Tensor(const Tensor&)>& op, const std::function<double(double)>& f,
                         double lo, double hi) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 5}, lo, hi, dtype, false);
    double tol = dtype == DType::Float32 ? 1e-5 : 1e-12;
    expect_close(op(x), map_values(x, f), tol, tol);
  }
}

void check_unary_grad(const std::function<Tensor(const Tensor&)>& op, double lo, double hi) {
  expect_gradcheck([op](const std::vector<Tensor>& in) { return op(in[0]); }, {rand_input({3, 4}, lo, hi)});
}

}  // namespace soft::test
