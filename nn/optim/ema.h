#pragma once
// Exponential moving average of a model's weights (timm ModelEmaV2, as the official training
// uses with decay 0.99996): ema = decay * ema + (1 - decay) * param after each optimiser step;
// evaluate with the averaged state by loading state() into a model of the same architecture.
#include <vector>

#include "nn/module.h"

namespace soft::nn::optim {

class ModelEma {
 public:
  // Copies the model's parameters and buffers (same names, dtypes and device).
  // average_buffers: false copies buffers at each update (BatchNorm running statistics follow
  // the model); true averages floating buffers too, as timm's state_dict-wide update does
  // (integer buffers such as num_batches_tracked are always copied).
  explicit ModelEma(const Module& model, double decay = 0.99996, bool average_buffers = false);

  // Averages the model's current parameters into the copy. The model must have the same names.
  void update(const Module& model);
  // Parameters then buffers, named as model.state().
  const std::vector<NamedTensor>& state() const { return state_; }

  double decay;
  bool average_buffers;

 private:
  std::vector<NamedTensor> state_;
  size_t num_params_ = 0;  // state_[0, num_params_) are parameters, the rest buffers
};

}  // namespace soft::nn::optim
