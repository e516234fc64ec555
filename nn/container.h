#pragma once
// Sequential (children named "0", "1", ... and applied in order) and ModuleList (the same
// naming, no forward of its own).
#include "nn/module.h"

namespace soft::nn {

class ModuleList : public Module {
 public:
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    items_.push_back(m);
    return register_module(std::to_string(items_.size() - 1), std::move(m));
  }
  size_t size() const { return items_.size(); }
  Module& operator[](size_t i) const { return *items_.at(i); }
  template <class M> M& at(size_t i) const { return dynamic_cast<M&>(*items_.at(i)); }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

class Sequential : public ModuleList {
 public:
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (size_t i = 0; i < size(); ++i) y = (*this)[i].forward(y);
    return y;
  }
};

}  // namespace soft::nn
