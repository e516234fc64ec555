#include "tools/train/init_weights.h"

#include <filesystem>
#include <map>

#include "autograd/grad_mode.h"
#include "nn/torch_checkpoint.h"
#include "ops/ops.h"
#include "tools/train/run_folder.h"

namespace soft::tools::train {
namespace {

// "a, b, c (and 4 more)"
std::string names(const std::vector<std::string>& list) {
  constexpr size_t kShown = 6;
  std::string s;
  for (size_t i = 0; i < list.size() && i < kShown; ++i) s += (i ? ", " : "") + list[i];
  if (list.size() > kShown) s += detail::concat(" and ", list.size() - kShown, " more");
  return s;
}

NamedTensors read_weights(const std::string& path, std::string& what) {
  if (std::filesystem::is_directory(path)) {
    RunFolder run{path};
    return checkpoint_weights(run.checkpoint("best"), false, what);
  }
  what = path;
  Safetensors file = nn::load_weights(path);
  if (file.metadata.count("trainer")) return checkpoint_weights(path, false, what);
  return file.tensors;
}

// A position embedding [1, (cls +) g*g, C] resized to [1, (cls +) h*h, C].
Tensor resize_pos_embed(const Tensor& from, const Shape& to, bool with_cls, const std::string& what,
                        const std::string& name) {
  const int64_t extra = with_cls ? 1 : 0, C = to[2];
  auto side = [&](int64_t tokens) {
    int64_t g = 0;
    while ((g + 1) * (g + 1) <= tokens - extra) ++g;
    return g * g == tokens - extra ? g : -1;
  };
  const int64_t g = from.dim() == 3 && from.size(0) == 1 && from.size(2) == C ? side(from.size(1)) : -1;
  SOFT_CHECK(g > 0, what, ": ", name, " has shape ", shape_str(from.shape()), ", not a square grid of ", C,
             "-wide position embeddings for ", shape_str(to));
  const int64_t h = side(to[1]);
  Tensor pe = from.to(DType::Float32);
  Tensor cls;
  if (with_cls) {
    cls = slice(pe, 1, 0, 1);
    pe = slice(pe, 1, 1, 1 + g * g);
  }
  Tensor grid = permute(reshape(pe, {1, g, g, C}), {0, 3, 1, 2}).contiguous();  // [1, C, g, g]
  Tensor out = transpose(flatten(interpolate_bilinear(grid, h, h), 2), 1, 2);   // [1, h*h, C]
  return with_cls ? cat({cls, out}, 1) : out;
}

}  // namespace

InitReport init_from_weights(models::SoftModel& model, const std::string& path) {
  InitReport r;
  NamedTensors file = read_weights(path, r.source);
  std::map<std::string, Tensor> by_name(file.begin(), file.end());
  std::vector<std::string> missing, wrong;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (model tensor, value)
  std::map<std::string, bool> used;
  for (auto& [name, t] : model.state()) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      missing.push_back(name);
      continue;
    }
    used[name] = true;
    const Tensor& src = it->second;
    if (src.shape() == t.shape()) {
      copies.emplace_back(t, src);
      r.loaded.push_back(name);
    } else if (name == "head.weight" || name == "head.bias") {
      r.reinitialised.push_back(name + " " + shape_str(src.shape()) + " -> " + shape_str(t.shape()));
    } else if (name.rfind("pos_embed", 0) == 0 && t.dim() == 3 && src.dim() == 3 && src.size(2) == t.size(2)) {
      copies.emplace_back(t, resize_pos_embed(src, t.shape(), name == "pos_embed4", r.source, name));
      r.resized.push_back(name + " " + shape_str(src.shape()) + " -> " + shape_str(t.shape()));
    } else {
      wrong.push_back(name + " " + shape_str(src.shape()) + " in the file, " + shape_str(t.shape()) + " in the model");
    }
  }
  for (const auto& [name, t] : file)
    if (!used.count(name)) r.left_out.push_back(name);
  if (!missing.empty() || !wrong.empty()) {
    std::string msg = r.source + ": cannot initialise " + model.config().name + " from these weights";
    if (!missing.empty()) msg += "\n  missing in the file: " + names(missing);
    if (!wrong.empty()) msg += "\n  other shapes: " + names(wrong);
    throw Error(msg);
  }
  NoGradGuard no_grad;
  for (auto& [dst, src] : copies) copy_(dst, to_device(src, dst.device()));
  return r;
}

std::string describe(const InitReport& r) {
  std::string s = detail::concat("init from ", r.source, ": ", r.loaded.size(), " tensors loaded");
  if (!r.resized.empty()) s += detail::concat("; ", r.resized.size(), " resized (", names(r.resized), ")");
  if (!r.reinitialised.empty())
    s += detail::concat("; ", r.reinitialised.size(), " re-initialised (", names(r.reinitialised), ")");
  if (!r.left_out.empty()) s += detail::concat("; ", r.left_out.size(), " left out (", names(r.left_out), ")");
  return s;
}

}  // namespace soft::tools::train
