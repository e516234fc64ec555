#include "models/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace soft::models {
namespace {

using json = nlohmann::json;

// v for an error message: dumped when it is a scalar or a flat list or object, else only its type
// (dump() recurses, so a deeply nested value would overflow the stack), at most 80 characters.
std::string shown(const json& v) {
  if (v.is_structured())
    for (const json& e : v)
      if (e.is_structured()) return std::string("a nested ") + v.type_name();
  std::string s = v.dump();
  return s.size() <= 80 ? s : s.substr(0, 77) + "...";
}

// Integers are bounded when read: every size and count has a range (below) that keeps the
// arithmetic on them (token grids, parameter counts, info's loops) small and inside int64.
struct Range {
  int64_t lo, hi;  // 0 <= lo <= hi
};

bool in_range(const json& v, Range r) {
  if (v.is_number_unsigned())
    return v.get<uint64_t>() >= static_cast<uint64_t>(r.lo) && v.get<uint64_t>() <= static_cast<uint64_t>(r.hi);
  return v.is_number_integer() && v.get<int64_t>() >= r.lo && v.get<int64_t>() <= r.hi;
}

int64_t get_int(const json& v, const std::string& key, const std::string& what, Range r) {
  SOFT_CHECK(v.is_number_integer(), what, ": key '", key, "' must be an integer, got ", shown(v));
  SOFT_CHECK(in_range(v, r), what, ": key '", key, "' must be in [", r.lo, ", ", r.hi, "], got ", shown(v));
  return v.get<int64_t>();
}

double get_number(const json& v, const std::string& key, const std::string& what) {
  SOFT_CHECK(v.is_number(), what, ": key '", key, "' must be a number, got ", shown(v));
  return v.get<double>();
}

template <size_t N>
std::array<int64_t, N> get_ints(const json& v, const std::string& key, const std::string& what, Range r) {
  SOFT_CHECK(v.is_array() && v.size() == N, what, ": key '", key, "' must be a list of ", N, " integers, got ",
             shown(v));
  std::array<int64_t, N> out{};
  for (size_t i = 0; i < N; ++i) {
    SOFT_CHECK(v[i].is_number_integer(), what, ": key '", key, "' must be a list of ", N, " integers, got ", shown(v));
    SOFT_CHECK(in_range(v[i], r), what, ": key '", key, "' entries must be in [", r.lo, ", ", r.hi, "], got ",
               shown(v));
    out[i] = v[i].get<int64_t>();
  }
  return out;
}

constexpr Range kSide{1, 65536};          // img_size, pos_embed_grids (soft info's --img limit too)
constexpr Range kWidth{1, 65536};         // in_chans, embed_dims, num_heads, stem_width
constexpr Range kClasses{1, 1 << 24};     // num_classes (soft infer's --num-classes limit too)
constexpr Range kDepth{0, 1024};          // depths
constexpr Range kStride{1, 8};            // stem_strides, patch_strides
constexpr Range kLandmarkStride{2, 64};   // landmark_strides
constexpr Range kKernel{1, 63};           // local_kernels (odd)
constexpr Range kIterations{0, 1000};     // newton_iterations
constexpr Range kMlpRatio{1, 64};         // mlp_ratio_stage4
constexpr Range kZooSize{1, 65536};       // num_landmarks, linformer_k, performer_features
constexpr Range kRedraw{0, 1 << 30};      // performer_redraw

// The relations between keys; each key's own range was checked when it was read.
void validate(const SoftConfig& c, const std::string& what) {
  for (int s = 0; s < 4; ++s)
    SOFT_CHECK(c.embed_dims[s] % c.num_heads[s] == 0, what, ": stage ", s + 1, ": embed_dims ", c.embed_dims[s],
               " is not divisible by num_heads ", c.num_heads[s]);
  for (int s = 0; s < 3; ++s)
    SOFT_CHECK(c.local_kernels[s] % 2 == 1, what, ": local_kernels must be odd, stage ", s + 1, " has ",
               c.local_kernels[s]);
  SOFT_CHECK(c.nystrom_conv_kernel % 2 == 1, what, ": nystrom_conv_kernel must be odd, got ", c.nystrom_conv_kernel);
  SOFT_CHECK(c.drop_rate >= 0 && c.drop_rate < 1 && c.drop_path_rate >= 0 && c.drop_path_rate < 1, what,
             ": drop_rate and drop_path_rate must be in [0, 1)");
}

// Parses text, refusing a key that appears twice in the top-level object (JSON parsers differ on
// which one wins).
json parse_strict(const std::string& text, const std::string& what) {
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && !seen.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json j;
  try {
    j = json::parse(text, on_event);
  } catch (const json::exception& e) {
    throw Error(what + ": not valid JSON: " + e.what());
  }
  SOFT_CHECK(duplicate.empty(), what, ": key '", duplicate, "' appears twice in the model config");
  return j;
}

std::string config_dir() {
  if (const char* env = std::getenv("SOFT_CONFIG_DIR")) return env;
  return SOFT_DEFAULT_CONFIG_DIR;  // the source tree's configs/, set by CMake
}

}  // namespace

std::array<std::array<int64_t, 2>, 4> SoftConfig::grids(int64_t h, int64_t w) const {
  // A 3x3 conv with padding 1 and stride s maps n to ceil(n / s).
  auto down = [](int64_t n, int64_t s) { return (n + s - 1) / s; };
  std::array<std::array<int64_t, 2>, 4> g{};
  for (int64_t s : stem_strides) h = down(h, s), w = down(w, s);
  g[0] = {h, w};
  for (int i = 0; i < 3; ++i) {
    h = down(h, patch_strides[i]);
    w = down(w, patch_strides[i]);
    g[i + 1] = {h, w};
  }
  return g;
}

SoftConfig parse_config(const std::string& text, const std::string& what) {
  const json j = parse_strict(text, what);
  SOFT_CHECK(j.is_object(), what, ": a model config must be a JSON object");
  SoftConfig c;
  const std::map<std::string, std::function<void(const json&)>> keys = {
      {"name", [&](const json& v) {
         SOFT_CHECK(v.is_string(), what, ": key 'name' must be a string");
         c.name = v.get<std::string>();
       }},
      {"img_size", [&](const json& v) { c.img_size = get_int(v, "img_size", what, kSide); }},
      {"in_chans", [&](const json& v) { c.in_chans = get_int(v, "in_chans", what, kWidth); }},
      {"num_classes", [&](const json& v) { c.num_classes = get_int(v, "num_classes", what, kClasses); }},
      {"embed_dims", [&](const json& v) { c.embed_dims = get_ints<4>(v, "embed_dims", what, kWidth); }},
      {"num_heads", [&](const json& v) { c.num_heads = get_ints<4>(v, "num_heads", what, kWidth); }},
      {"depths", [&](const json& v) { c.depths = get_ints<4>(v, "depths", what, kDepth); }},
      {"stem_strides", [&](const json& v) { c.stem_strides = get_ints<3>(v, "stem_strides", what, kStride); }},
      {"patch_strides", [&](const json& v) { c.patch_strides = get_ints<3>(v, "patch_strides", what, kStride); }},
      {"landmark_strides",
       [&](const json& v) { c.landmark_strides = get_ints<3>(v, "landmark_strides", what, kLandmarkStride); }},
      {"local_kernels", [&](const json& v) { c.local_kernels = get_ints<3>(v, "local_kernels", what, kKernel); }},
      {"pos_embed_grids", [&](const json& v) { c.pos_embed_grids = get_ints<4>(v, "pos_embed_grids", what, kSide); }},
      {"stem_width", [&](const json& v) { c.stem_width = get_int(v, "stem_width", what, kWidth); }},
      {"newton_iterations",
       [&](const json& v) { c.newton_iterations = get_int(v, "newton_iterations", what, kIterations); }},
      {"newton_form", [&](const json& v) {
         SOFT_CHECK(v.is_string() && (v == "journal" || v == "neurips"), what,
                    ": key 'newton_form' must be \"journal\" or \"neurips\", got ", shown(v));
         c.newton_form = v == "journal" ? NewtonForm::Journal : NewtonForm::NeurIPS;
       }},
      {"soft_norm", [&](const json& v) {
         SOFT_CHECK(v.is_boolean(), what, ": key 'soft_norm' must be true or false");
         c.soft_norm = v.get<bool>();
       }},
      {"attention", [&](const json& v) {
         SOFT_CHECK(v.is_string(), what, ": key 'attention' must be a string, got ", shown(v));
         try {
           c.attention = nn::parse_attention_kind(v.get<std::string>());
         } catch (const Error& e) {
           throw Error(what + ": key 'attention': " + e.what());
         }
       }},
      {"landmarks", [&](const json& v) {
         SOFT_CHECK(v == "conv" || v == "pool", what, ": key 'landmarks' must be \"conv\" or \"pool\", got ",
                    shown(v));
         c.landmarks = v == "conv" ? nn::LandmarkKind::Conv : nn::LandmarkKind::Pool;
       }},
      {"num_landmarks", [&](const json& v) { c.num_landmarks = get_int(v, "num_landmarks", what, kZooSize); }},
      {"linformer_k", [&](const json& v) { c.linformer_k = get_int(v, "linformer_k", what, kZooSize); }},
      {"performer_features",
       [&](const json& v) { c.performer_features = get_int(v, "performer_features", what, kZooSize); }},
      {"performer_redraw",
       [&](const json& v) { c.performer_redraw = get_int(v, "performer_redraw", what, kRedraw); }},
      {"nystrom_pinv_iterations",
       [&](const json& v) { c.nystrom_pinv_iterations = get_int(v, "nystrom_pinv_iterations", what, kIterations); }},
      {"nystrom_conv_kernel",
       [&](const json& v) { c.nystrom_conv_kernel = get_int(v, "nystrom_conv_kernel", what, kKernel); }},
      {"mlp_ratio_stage4",
       [&](const json& v) { c.mlp_ratio_stage4 = get_int(v, "mlp_ratio_stage4", what, kMlpRatio); }},
      {"drop_rate", [&](const json& v) { c.drop_rate = get_number(v, "drop_rate", what); }},
      {"drop_path_rate", [&](const json& v) { c.drop_path_rate = get_number(v, "drop_path_rate", what); }},
  };
  for (const auto& [key, value] : j.items()) {
    auto it = keys.find(key);
    SOFT_CHECK(it != keys.end(), what, ": unknown key '", key, "' in the model config");
    it->second(value);
  }
  if (!j.contains("pos_embed_grids")) {  // sized for an img_size x img_size input, as the official code
    auto g = c.grids(c.img_size, c.img_size);
    for (int s = 0; s < 4; ++s) c.pos_embed_grids[s] = g[s][0];
  }
  validate(c, what);
  return c;
}

SoftConfig load_config(const std::string& path) {
  std::ifstream in(path);
  SOFT_CHECK(in, path, ": cannot open the model config");
  std::stringstream s;
  s << in.rdbuf();
  return parse_config(s.str(), path);
}

SoftConfig resolve_config(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  if (fs::exists(name_or_path) && fs::is_regular_file(name_or_path)) return load_config(name_or_path);
  fs::path builtin = fs::path(config_dir()) / "models" / (name_or_path + ".json");
  SOFT_CHECK(name_or_path.find('/') == std::string::npos && fs::exists(builtin), "unknown model '", name_or_path,
             "': not a file and not a built-in model (", (fs::path(config_dir()) / "models").string(), ")");
  return load_config(builtin.string());
}

std::string config_to_json(const SoftConfig& c) {
  json j = {{"name", c.name},
            {"img_size", c.img_size},
            {"in_chans", c.in_chans},
            {"num_classes", c.num_classes},
            {"embed_dims", c.embed_dims},
            {"num_heads", c.num_heads},
            {"depths", c.depths},
            {"stem_strides", c.stem_strides},
            {"patch_strides", c.patch_strides},
            {"landmark_strides", c.landmark_strides},
            {"local_kernels", c.local_kernels},
            {"pos_embed_grids", c.pos_embed_grids},
            {"stem_width", c.stem_width},
            {"newton_iterations", c.newton_iterations},
            {"newton_form", c.newton_form == NewtonForm::Journal ? "journal" : "neurips"},
            {"soft_norm", c.soft_norm},
            {"attention", nn::attention_kind_name(c.attention)},
            {"landmarks", c.landmarks == nn::LandmarkKind::Conv ? "conv" : "pool"},
            {"num_landmarks", c.num_landmarks},
            {"linformer_k", c.linformer_k},
            {"performer_features", c.performer_features},
            {"performer_redraw", c.performer_redraw},
            {"nystrom_pinv_iterations", c.nystrom_pinv_iterations},
            {"nystrom_conv_kernel", c.nystrom_conv_kernel},
            {"mlp_ratio_stage4", c.mlp_ratio_stage4},
            {"drop_rate", c.drop_rate},
            {"drop_path_rate", c.drop_path_rate}};
  return j.dump(2);
}

}  // namespace soft::models
