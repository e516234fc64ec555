#include "nn/state.h"

#include <cmath>
#include <set>

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft::nn {
namespace {

// "a, b, c (and 4 more)"
std::string list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 8;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > kShown) s += detail::concat(" (and ", names.size() - kShown, " more)");
  return s;
}

// How many values of t are NaN or infinite (0 for integer tensors).
int64_t non_finite_count(const Tensor& t) {
  const Tensor c = to_device(t, Device::cpu()).contiguous();
  const int64_t n = c.numel();
  int64_t bad = 0;
  switch (c.dtype()) {
    case DType::Float32:
      for (int64_t i = 0; i < n; ++i) bad += !std::isfinite(c.data<float>()[i]);
      break;
    case DType::Float64:
      for (int64_t i = 0; i < n; ++i) bad += !std::isfinite(c.data<double>()[i]);
      break;
    case DType::BFloat16:
      for (int64_t i = 0; i < n; ++i) bad += !std::isfinite(static_cast<float>(c.data<bfloat16>()[i]));
      break;
    case DType::Int64: break;
  }
  return bad;
}

}  // namespace

void load_state(Module& module, const Safetensors& file, const std::string& what) {
  std::vector<NamedTensor> state = module.state();
  std::vector<std::string> missing, unexpected, wrong_shape;
  std::set<std::string> known;
  for (const auto& [name, t] : state) {
    known.insert(name);
    const Tensor* src = file.find(name);
    if (!src) missing.push_back(name);
    else if (src->shape() != t.shape())
      wrong_shape.push_back(name + " " + shape_str(src->shape()) + " in the file, " + shape_str(t.shape()) + " in the model");
  }
  for (const auto& [name, t] : file.tensors)
    if (!known.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty() || !wrong_shape.empty()) {
    std::string msg = what + ": the weights do not match the model";
    if (!missing.empty()) msg += "\n  missing: " + list(missing);
    if (!unexpected.empty()) msg += "\n  unexpected: " + list(unexpected);
    if (!wrong_shape.empty()) msg += "\n  wrong shape: " + list(wrong_shape);
    throw Error(msg);
  }
  // Weights with NaN or infinite values (a diverged run, a corrupt export) would only show up as
  // NaN outputs; they are refused here, naming each tensor.
  std::vector<std::string> non_finite;
  for (const auto& [name, t] : state)
    if (const int64_t bad = non_finite_count(*file.find(name)))
      non_finite.push_back(detail::concat(name, " (", bad, " of ", t.numel(), ")"));
  SOFT_CHECK(non_finite.empty(), what, ": NaN or infinite values in ", list(non_finite));
  NoGradGuard no_grad;
  for (auto& [name, t] : state) copy_(t, to_device(*file.find(name), t.device()));
}

void load_state(Module& module, const std::string& path) { load_state(module, load_safetensors(path), path); }

void save_state(const Module& module, const std::string& path, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.state(), metadata);
}

}  // namespace soft::nn
