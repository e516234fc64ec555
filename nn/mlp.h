#pragma once
// Transformer MLP: fc1 (C -> hidden), GELU, dropout, fc2 (hidden -> C), dropout.
#include "nn/layers.h"

namespace soft::nn {

class Mlp : public Module {
 public:
  Mlp(int64_t dim, int64_t hidden, GeluApprox approx = GeluApprox::None, double drop = 0.0);
  Tensor forward(const Tensor& x) override;  // [B, N, C] -> [B, N, C]
  std::shared_ptr<Linear> fc1, fc2;
  GeluApprox approx;
  std::shared_ptr<Dropout> drop;
};

}  // namespace soft::nn
