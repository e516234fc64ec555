#include "dist/functional.h"

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/ops.h"

namespace soft::dist {

Tensor all_reduce_sum(const Tensor& x, Communicator& comm) {
  Tensor y = x.detach().contiguous().clone();
  comm.all_reduce_sum_(y);
  return record("all_reduce_sum", y, {x}, [&comm](const Tensor& g, const std::vector<bool>&) -> Grads {
    Tensor gx = g.contiguous().clone();
    comm.all_reduce_sum_(gx);
    return {gx};
  });
}

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                       Tensor& running_var, double momentum, double eps, Communicator& comm) {
  SOFT_CHECK(x.dim() >= 2, "sync_batch_norm: x must be [B, C, ...], got ", shape_str(x.shape()));
  const int64_t C = x.size(1);
  Shape reduced{0}, per_channel(static_cast<size_t>(x.dim()), 1);  // dims summed; [1, C, 1, ...]
  for (int64_t d = 2; d < x.dim(); ++d) reduced.push_back(d);
  per_channel[1] = C;
  // Two passes, as batch_norm: the mean, then the squared deviations from it. The first
  // all-reduce carries the value count per channel with the sums: [C + 1].
  Tensor count = full({1}, static_cast<double>(x.numel() / C), x.dtype(), x.device());  // B * H * W here
  Tensor sums = all_reduce_sum(cat({sum(x, reduced), count}, 0), comm);
  const double n = slice(sums, 0, C, C + 1).item();
  SOFT_CHECK(n > 1, "sync_batch_norm: ", n, " values per channel over all ranks; training needs more than one");
  Tensor mean = slice(sums, 0, 0, C) / n;  // [C]
  Tensor centred = x - reshape(mean, per_channel);
  Tensor var = all_reduce_sum(sum(centred * centred, reduced), comm) / n;  // [C], biased
  Tensor y = centred * reshape(rsqrt(var + eps), per_channel);
  if (weight.defined()) y = y * reshape(weight, per_channel);
  if (bias.defined()) y = y + reshape(bias, per_channel);
  {
    NoGradGuard no_grad;
    mul_(running_mean, 1 - momentum);
    add_(running_mean, to_dtype(mean.detach(), running_mean.dtype()), momentum);
    mul_(running_var, 1 - momentum);
    add_(running_var, to_dtype(var.detach(), running_var.dtype()), momentum * n / (n - 1));
  }
  return y;
}

}  // namespace soft::dist
