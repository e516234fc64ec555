#include "nn/optim/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft::nn::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  // sum(g^2) per gradient on its device and dtype, added up there in float64 and read back once:
  // on a GPU a read per parameter would wait for the device that many times per step.
  Tensor sq;
  for (const Tensor& p : params) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    Tensor s = to_dtype(sum(mul(g, g)), DType::Float64);
    sq = sq.defined() ? add(sq, s) : s;
  }
  double total = sq.defined() ? std::sqrt(sq.item()) : 0.0;
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
