#pragma once
// Optimisers with PyTorch's update rules (AdamW, SGD with momentum), parameter groups as timm's
// create_optimizer builds them, and a state that checkpoints under names.
//
// Each step updates a parameter group with one fused kernel call (weight decay, moment updates and
// the parameter update in a single pass over memory; ops/optim_kernels.h): a loop per tensor
// on the CPU, one multi-tensor kernel launch on the GPU (cuda/optim.cu). Parameters without a
// gradient are skipped, as in PyTorch.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nn/module.h"

namespace soft::nn::optim {

struct ParamGroup {
  std::vector<NamedTensor> params;
  double weight_decay = 0.0;
};

// timm's param_groups_weight_decay: no decay for parameters with <= 1 dims, names ending in
// ".bias" and names in `no_decay_names` (exact qualified names, e.g. the model's
// no_weight_decay() set); everything else (pos_embed included) gets `weight_decay`.
// Returns {decay group, no-decay group}.
std::vector<ParamGroup> param_groups(const Module& module, double weight_decay,
                                     const std::set<std::string>& no_decay_names = {"cls_token"});

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  void zero_grad();  // drops every parameter's gradient

  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }  // e.g. from a schedule, before each step
  int64_t steps() const { return step_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // Checkpoint state: "step" (int64 scalar) and "<param name>.<buffer>" for every buffer created
  // so far (exp_avg, exp_avg_sq for AdamW; momentum_buffer for SGD).
  std::vector<NamedTensor> state() const;
  // Restores what state() saved; unknown names or wrong shapes throw.
  void load_state(const std::vector<NamedTensor>& state);

 protected:
  // The buffer `name` of parameter i of group g: undefined until first assigned.
  Tensor& buffer(size_t g, size_t i, const std::string& name) { return buffers_[g][i][name]; }
  // The names a subclass keeps per parameter (what load_state accepts).
  virtual std::vector<std::string> buffer_names() const = 0;

  std::vector<ParamGroup> groups_;
  double lr_;
  int64_t step_ = 0;  // completed steps (one count for all parameters)

 private:
  // buffers_[g][i]: the named buffers of parameter i of group g.
  std::vector<std::vector<std::map<std::string, Tensor>>> buffers_;
};

// torch.optim.AdamW: p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);
  void step() override;
  double beta1, beta2, eps;

 protected:
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }
};

// torch.optim.SGD (dampening 0): g += wd p; buf = mu buf + g (buf = g on its first step);
// p -= lr * (nesterov ? g + mu buf : buf). Without momentum no buffer is kept.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, double lr, double momentum = 0.0, bool nesterov = false);
  void step() override;
  double momentum;
  bool nesterov;

 protected:
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }
};

}  // namespace soft::nn::optim
