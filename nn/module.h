#pragma once
// Module: the base of every layer. Holds named parameters, buffers and child modules, so that a
// model's state has hierarchical names ("block1.0.att.norm1.weight") equal to PyTorch's
// state_dict keys. Parameters are Tensor handles: loading, zeroing or moving one updates the
// tensor in place, so a layer's own members stay valid.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace soft::nn {

using NamedTensor = std::pair<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Modules with a single tensor input (everything a Sequential can hold) override this.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Depth-first, in registration order, names joined with '.'.
  std::vector<NamedTensor> named_parameters() const;
  std::vector<NamedTensor> named_buffers() const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;
  // Parameters then buffers: everything a checkpoint holds.
  std::vector<NamedTensor> state() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Moves every parameter and buffer to `device`, keeping the same Tensor handles.
  void to(Device device);
  // Converts every floating parameter and buffer to `dtype` (integer buffers stay), in place.
  void to(DType dtype);
  // Visits this module and every descendant with its qualified name ("" for this one).
  void apply(const std::function<void(const std::string&, Module&)>& fn, const std::string& prefix = "");

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  // Registers a trainable tensor (its requires_grad is switched on) and returns its handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  // Registers state that is saved but not trained (e.g. BatchNorm running statistics).
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, bool parameters, std::vector<NamedTensor>& out) const;

  bool training_ = true;
  std::vector<NamedTensor> parameters_;
  std::vector<NamedTensor> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace soft::nn
