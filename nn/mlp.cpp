#include "nn/mlp.h"

namespace soft::nn {

Mlp::Mlp(int64_t dim, int64_t hidden, GeluApprox approx, double p) : approx(approx) {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim));
  drop = register_module("drop", std::make_shared<Dropout>(p));
}

Tensor Mlp::forward(const Tensor& x) {
  Tensor h = drop->forward(gelu(fc1->forward(x), approx));
  return drop->forward(fc2->forward(h));
}

}  // namespace soft::nn
