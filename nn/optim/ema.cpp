#include "nn/optim/ema.h"

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft::nn::optim {

ModelEma::ModelEma(const Module& model, double decay, bool average_buffers)
    : decay(decay), average_buffers(average_buffers) {
  NoGradGuard no_grad;
  for (const auto& [name, t] : model.state()) state_.emplace_back(name, t.detach().clone());
  num_params_ = model.named_parameters().size();
}

void ModelEma::update(const Module& model) {
  NoGradGuard no_grad;
  std::vector<NamedTensor> src = model.state();
  SOFT_CHECK(src.size() == state_.size(), "ModelEma::update: the model has ", src.size(), " tensors, the EMA ",
             state_.size());
  for (size_t k = 0; k < src.size(); ++k) {
    auto& [name, ema] = state_[k];
    const Tensor& v = src[k].second;
    SOFT_CHECK(src[k].first == name && v.shape() == ema.shape(), "ModelEma::update: model tensor ", src[k].first,
               " ", shape_str(v.shape()), " does not match EMA tensor ", name, " ", shape_str(ema.shape()));
    bool average = k < num_params_ || (average_buffers && is_floating(v.dtype()) && v.dtype() != DType::BFloat16);
    if (average) {
      mul_(ema, decay);
      add_(ema, v.detach(), 1.0 - decay);
    } else {
      copy_(ema, v.detach());
    }
  }
}

}  // namespace soft::nn::optim
