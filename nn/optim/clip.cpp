#include "nn/optim/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft::nn::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  double sq = 0.0;
  for (const Tensor& p : params) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    // sum(g^2) on g's device and dtype, accumulated here in float64.
    sq += sum(mul(g, g)).item();
  }
  double total = std::sqrt(sq);
  double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    for (const Tensor& p : params) {
      if (!p.grad().defined()) continue;
      Tensor g = p.grad().contiguous();
      mul_(g, coef);
      Tensor handle = p;  // same TensorImpl: set_grad reaches the parameter
      if (!g.same(p.grad())) handle.set_grad(g);
    }
  }
  return total;
}

double clip_grad_norm(const Module& module, double max_norm) { return clip_grad_norm(module.parameters(), max_norm); }

}  // namespace soft::nn::optim
