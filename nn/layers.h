#pragma once
// The basic layers, each a thin Module over one op of ops/ops.h, with PyTorch's parameter
// names and the initialisation SOFT uses (Linear: trunc-normal 0.02 and zero bias; Conv2d:
// PyTorch's default; norms: weight 1, bias 0).
#include "dist/communicator.h"
#include "nn/module.h"
#include "ops/ops.h"

namespace soft::nn {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x) override;  // [..., in] -> [..., out]
  Tensor weight, bias;                        // [out, in], [out] or undefined
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0, int64_t groups = 1,
         bool bias = true);
  // A kh x kw kernel, stride 1 (e.g. Nystromformer's (k x 1) depthwise conv along the tokens).
  Conv2d(int64_t in, int64_t out, std::array<int64_t, 2> kernel, std::array<int64_t, 2> padding, int64_t groups,
         bool bias);
  Tensor forward(const Tensor& x) override;  // [B, in, H, W] -> [B, out, Ho, Wo]
  Tensor weight, bias;                        // [out, in/groups, k, k], [out] or undefined
  Conv2dParams params;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;  // [B, C, H, W]
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;
  // When set, training statistics are over the batches of every rank (dist::sync_batch_norm).
  dist::Communicator* sync = nullptr;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;  // [..., dim]
  Tensor weight, bias;
  double eps;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class GELU : public Module {
 public:
  explicit GELU(GeluApprox approx = GeluApprox::None) : approx(approx) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approx); }
  GeluApprox approx;
};

class Dropout : public Module {
 public:
  explicit Dropout(double p) : p(p) {}
  Tensor forward(const Tensor& x) override { return dropout(x, p, is_training()); }
  double p;
};

// Stochastic depth: drops a residual branch for whole samples.
class DropPath : public Module {
 public:
  explicit DropPath(double p) : p(p) {}
  Tensor forward(const Tensor& x) override { return drop_path(x, p, is_training()); }
  double p;
};

}  // namespace soft::nn
