#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "ops/ops.h"

namespace soft {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  // Fresh contiguous leaves, so that perturbing element k of the data perturbs exactly x[k].
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) {
      leaves.push_back(x);
      continue;
    }
    SOFT_CHECK(x.dtype() == DType::Float64, "gradcheck: input ", i, " has dtype ", dtype_name(x.dtype()),
               "; finite differences need float64");
    Tensor leaf = x.detach().clone();
    leaf.requires_grad_(true);
    leaves.push_back(leaf);
  }

  Tensor out = fn(leaves);
  Generator gen(opt.seed);
  Tensor weights = normal(out.shape(), 0.0, 1.0, gen, DType::Float64);
  auto loss_of = [&](const Tensor& y) { return sum(mul(y, weights)); };
  loss_of(out).backward();

  GradcheckResult result;
  NoGradGuard no_grad;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Tensor& x = leaves[i];
    if (!x.defined() || !x.requires_grad()) continue;
    std::vector<double> analytic = x.grad().defined() ? x.grad().to_vector() : std::vector<double>(x.numel(), 0.0);
    double* data = x.data<double>();
    for (int64_t k = 0; k < x.numel(); ++k) {
      double saved = data[k];
      data[k] = saved + opt.eps;
      double plus = loss_of(fn(leaves)).item();
      data[k] = saved - opt.eps;
      double minus = loss_of(fn(leaves)).item();
      data[k] = saved;
      double numeric = (plus - minus) / (2 * opt.eps);
      double error = std::fabs(analytic[k] - numeric) / (opt.atol + opt.rtol * std::fabs(numeric));
      if (!(error <= result.worst_error)) {  // also catches NaN
        result.worst_error = std::isnan(error) ? INFINITY : error;
        result.report = detail::concat("input ", i, " ", shape_str(x.shape()), " element ", k, ": analytic ",
                                       analytic[k], ", numeric ", numeric);
      }
    }
  }
  result.ok = result.worst_error <= 1.0;
  return result;
}

}  // namespace soft
