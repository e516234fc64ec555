// AdamW and SGD: one fused update call per parameter group (ops/optim_kernels.h); parameter
// groups as timm.
#include "nn/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "autograd/grad_mode.h"
#include "core/parallel.h"
#include "ops/optim_kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft::nn::optim {

std::vector<ParamGroup> param_groups(const Module& module, double weight_decay,
                                     const std::set<std::string>& no_decay_names) {
  ParamGroup decay{{}, weight_decay}, no_decay{{}, 0.0};
  for (const auto& [name, p] : module.named_parameters()) {
    if (!p.requires_grad()) continue;  // frozen parameters are not optimised (as timm)
    bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (p.dim() <= 1 || is_bias || no_decay_names.count(name))
      no_decay.params.emplace_back(name, p);
    else
      decay.params.emplace_back(name, p);
  }
  return {decay, no_decay};
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr) : groups_(std::move(groups)), lr_(lr) {
  for (const auto& g : groups_) {
    for (const auto& [name, p] : g.params) {
      SOFT_CHECK(p.defined() && is_floating(p.dtype()), "optimizer: parameter ", name,
                 " must be a defined floating tensor");
      SOFT_CHECK(p.is_contiguous(), "optimizer: parameter ", name, " must be contiguous");
    }
    buffers_.emplace_back(g.params.size());
  }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& np : g.params) np.second.set_grad(Tensor());
}

std::vector<NamedTensor> Optimizer::state() const {
  std::vector<NamedTensor> out;
  out.emplace_back("step", Tensor::from_vector({static_cast<double>(step_)}, {}, DType::Int64));
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i)
      for (const auto& [bname, t] : buffers_[g][i])
        if (t.defined()) out.emplace_back(groups_[g].params[i].first + "." + bname, t);
  return out;
}

void Optimizer::load_state(const std::vector<NamedTensor>& state) {
  std::unordered_map<std::string, std::pair<size_t, size_t>> where;
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i) where[groups_[g].params[i].first] = {g, i};
  std::vector<std::string> known = buffer_names();
  NoGradGuard no_grad;
  for (const auto& [name, t] : state) {
    if (name == "step") {
      step_ = static_cast<int64_t>(t.item());
      continue;
    }
    size_t dot = name.rfind('.');
    std::string pname = dot == std::string::npos ? "" : name.substr(0, dot);
    std::string bname = dot == std::string::npos ? name : name.substr(dot + 1);
    auto it = where.find(pname);
    bool buffer_known = std::find(known.begin(), known.end(), bname) != known.end();
    SOFT_CHECK(it != where.end() && buffer_known, "optimizer load_state: unexpected entry ", name);
    const Tensor& p = groups_[it->second.first].params[it->second.second].second;
    SOFT_CHECK(t.shape() == p.shape(), "optimizer load_state: ", name, " has shape ", shape_str(t.shape()),
               ", parameter has ", shape_str(p.shape()));
    Tensor copy = Tensor::empty(p.shape(), p.dtype(), p.device());
    copy_(copy, t.to(p.device()));
    buffer(it->second.first, it->second.second, bname) = copy;
  }
}

namespace {

void cpu_adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avg,
               const std::vector<Tensor>& exp_avg_sq, const AdamWCoeffs& c) {
  for (size_t k = 0; k < params.size(); ++k) {
    dispatch_float(params[k].dtype(), "adamw", [&](auto tag) {
      using T = decltype(tag);
      T* pp = params[k].data<T>();
      const T* gp = grads[k].data<T>();
      T* mp = exp_avg[k].data<T>();
      T* vp = exp_avg_sq[k].data<T>();
      const T decay = static_cast<T>(1.0 - c.lr * c.weight_decay);
      const T b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2);
      const T one_b1 = static_cast<T>(1.0 - c.beta1), one_b2 = static_cast<T>(1.0 - c.beta2);
      const T step_size = static_cast<T>(c.lr / c.bias_correction1);
      const T bc2_sqrt = static_cast<T>(std::sqrt(c.bias_correction2));
      const T eps = static_cast<T>(c.eps);
      parallel_for(0, params[k].numel(), 1 << 15, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          T gi = gp[i];
          T mi = b1 * mp[i] + one_b1 * gi;
          T vi = b2 * vp[i] + one_b2 * gi * gi;
          mp[i] = mi;
          vp[i] = vi;
          pp[i] = pp[i] * decay - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
        }
      });
    });
  }
}

void cpu_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
             const std::vector<Tensor>& momentum_buffers, const SgdCoeffs& c) {
  for (size_t k = 0; k < params.size(); ++k) {
    dispatch_float(params[k].dtype(), "sgd", [&](auto tag) {
      using T = decltype(tag);
      T* pp = params[k].data<T>();
      const T* gp = grads[k].data<T>();
      T* bp = momentum_buffers.empty() ? nullptr : momentum_buffers[k].data<T>();
      const T lr = static_cast<T>(c.lr), wd = static_cast<T>(c.weight_decay), mu = static_cast<T>(c.momentum);
      parallel_for(0, params[k].numel(), 1 << 15, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          T d = gp[i] + wd * pp[i];
          if (bp) {
            T bi = mu * bp[i] + d;
            bp[i] = bi;
            d = c.nesterov ? d + mu * bi : bi;
          }
          pp[i] -= lr * d;
        }
      });
    });
  }
}

DispatchStub<AdamWStep> adamw_stub("adamw_step", cpu_adamw);
DispatchStub<SgdStep> sgd_stub("sgd_step", cpu_sgd);

// The gradient of p, checked and made contiguous.
Tensor grad_of(const std::string& name, const Tensor& p) {
  Tensor g = p.grad();
  SOFT_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(), "optimizer: gradient of ",
             name, " (", shape_str(g.shape()), ", ", dtype_name(g.dtype()), ") does not match the parameter (",
             shape_str(p.shape()), ", ", dtype_name(p.dtype()), ")");
  return g.contiguous();
}

}  // namespace

AdamW::AdamW(std::vector<ParamGroup> groups, double lr, double beta1, double beta2, double eps)
    : Optimizer(std::move(groups), lr), beta1(beta1), beta2(beta2), eps(eps) {}

void AdamW::step() {
  NoGradGuard no_grad;
  ++step_;
  double t = static_cast<double>(step_);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    AdamWCoeffs c{lr_, groups_[gi].weight_decay, beta1, beta2, eps, 1.0 - std::pow(beta1, t),
                  1.0 - std::pow(beta2, t)};
    std::vector<Tensor> params, grads, exp_avg, exp_avg_sq;  // the parameters with a gradient
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      auto& [name, p] = groups_[gi].params[i];
      if (!p.grad().defined()) continue;
      Tensor& m = buffer(gi, i, "exp_avg");
      Tensor& v = buffer(gi, i, "exp_avg_sq");
      if (!m.defined()) m = zeros_like(p);
      if (!v.defined()) v = zeros_like(p);
      params.push_back(p);
      grads.push_back(grad_of(name, p));
      exp_avg.push_back(m);
      exp_avg_sq.push_back(v);
    }
    if (!params.empty()) adamw_stub(params[0].device(), params, grads, exp_avg, exp_avg_sq, c);
  }
}

SGD::SGD(std::vector<ParamGroup> groups, double lr, double momentum, bool nesterov)
    : Optimizer(std::move(groups), lr), momentum(momentum), nesterov(nesterov) {
  SOFT_CHECK(!nesterov || momentum > 0, "SGD: nesterov needs momentum > 0");
}

void SGD::step() {
  NoGradGuard no_grad;
  ++step_;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    std::vector<Tensor> params, grads, buffers;  // the parameters with a gradient
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      auto& [name, p] = groups_[gi].params[i];
      if (!p.grad().defined()) continue;
      params.push_back(p);
      grads.push_back(grad_of(name, p));
      if (momentum != 0.0) {
        Tensor& buf = buffer(gi, i, "momentum_buffer");
        if (!buf.defined()) buf = zeros_like(p);
        buffers.push_back(buf);
      }
    }
    if (!params.empty())
      sgd_stub(params[0].device(), params, grads, buffers, SgdCoeffs{lr_, groups_[gi].weight_decay, momentum, nesterov});
  }
}

}  // namespace soft::nn::optim
