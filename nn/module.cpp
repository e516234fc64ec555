#include "nn/module.h"

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft::nn {

Tensor Module::forward(const Tensor&) {
  throw Error("this module has no single-tensor forward(); call its own forward overload");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  SOFT_CHECK(t.defined(), "register_parameter: '", name, "' is undefined");
  SOFT_CHECK(t.is_leaf(), "register_parameter: '", name, "' must be a leaf tensor (detach it first)");
  t.requires_grad_(true);
  parameters_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  SOFT_CHECK(t.defined(), "register_buffer: '", name, "' is undefined");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  SOFT_CHECK(m, "register_module: '", name, "' is null");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool parameters, std::vector<NamedTensor>& out) const {
  for (const auto& [name, t] : parameters ? parameters_ : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", parameters, out);
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  collect("", true, out);
  return out;
}

std::vector<NamedTensor> Module::named_buffers() const {
  std::vector<NamedTensor> out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

std::vector<NamedTensor> Module::state() const {
  std::vector<NamedTensor> out = named_parameters();
  for (auto& b : named_buffers()) out.push_back(b);
  return out;
}

void Module::train(bool on) {
  apply([on](const std::string&, Module& m) { m.training_ = on; });
}

void Module::zero_grad() {
  for (Tensor& t : parameters()) t.set_grad(Tensor());
}

namespace {

// Points t's TensorImpl at `replacement`'s data, so every handle to t sees the new tensor.
void replace_data(Tensor& t, const Tensor& replacement) {
  TensorImpl& impl = *t.impl();
  impl.storage = replacement.storage();
  impl.offset = replacement.storage_offset();
  impl.strides = replacement.strides();
  impl.dtype = replacement.dtype();
  impl.grad = Tensor();
}

}  // namespace

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto& [name, t] : state())
    if (t.device() != device) replace_data(t, to_device(t.detach(), device));
}

void Module::to(DType dtype) {
  SOFT_CHECK(is_floating(dtype), "Module::to: ", dtype_name(dtype), " is not a floating dtype");
  NoGradGuard no_grad;
  for (auto& [name, t] : state())
    if (is_floating(t.dtype()) && t.dtype() != dtype) replace_data(t, to_dtype(t.detach(), dtype));
}

void Module::apply(const std::function<void(const std::string&, Module&)>& fn, const std::string& prefix) {
  fn(prefix, *this);
  for (auto& [name, child] : children_) child->apply(fn, prefix.empty() ? name : prefix + "." + name);
}

}  // namespace soft::nn
