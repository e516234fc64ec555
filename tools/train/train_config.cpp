#include "tools/train/train_config.h"

#include <fstream>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "nn/data/rand_augment.h"

namespace soft::tools::train {
namespace {

// What a key accepts, read off its default value.
enum class Kind { Integer, Number, OptionalNumber, Bool, String, NumberArray, Object };

Kind kind_of(const Json& def) {
  if (def.is_null()) return Kind::OptionalNumber;
  if (def.is_number_integer()) return Kind::Integer;
  if (def.is_number()) return Kind::Number;
  if (def.is_boolean()) return Kind::Bool;
  if (def.is_string()) return Kind::String;
  if (def.is_array()) return Kind::NumberArray;
  return Kind::Object;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Integer: return "an integer";
    case Kind::Number: return "a number";
    case Kind::OptionalNumber: return "a number or null";
    case Kind::Bool: return "true or false";
    case Kind::String: return "a string";
    case Kind::NumberArray: return "an array of numbers";
    case Kind::Object: return "an object";
  }
  return "";
}

bool accepts(Kind k, const Json& v) {
  switch (k) {
    case Kind::Integer: return v.is_number_integer();
    case Kind::Number: return v.is_number();
    case Kind::OptionalNumber: return v.is_null() || v.is_number();
    case Kind::Bool: return v.is_boolean();
    case Kind::String: return v.is_string();
    case Kind::NumberArray:
      if (!v.is_array()) return false;
      for (const Json& e : v)
        if (!e.is_number()) return false;
      return true;
    case Kind::Object: return v.is_object();
  }
  return false;
}

std::string shown(const Json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

std::string known_keys(const Json& level) {
  std::string keys;
  for (const auto& [k, v] : level.items()) keys += (keys.empty() ? "" : ", ") + k;
  return keys;
}

void merge_level(Json& base, const Json& defaults, const Json& overrides, const std::string& what,
                 const std::string& prefix) {
  for (const auto& [key, value] : overrides.items()) {
    const std::string path = prefix + key;
    SOFT_CHECK(defaults.contains(key), what, ": unknown key '", path, "' (",
               prefix.empty() ? "top-level" : prefix.substr(0, prefix.size() - 1), " keys: ", known_keys(defaults), ")");
    const Json& def = defaults.at(key);
    const Kind kind = kind_of(def);
    SOFT_CHECK(accepts(kind, value), what, ": '", path, "' must be ", kind_name(kind), ", got ", shown(value));
    if (kind == Kind::Object) merge_level(base[key], def, value, what, path + ".");
    else base[key] = value;
  }
}

// The default at a dotted key, or an error naming the first unknown part.
const Json& default_at(const std::string& dotted, const std::string& what) {
  const Json* node = &default_config_json();
  std::string prefix;
  std::stringstream parts(dotted);
  std::string part;
  while (std::getline(parts, part, '.')) {
    SOFT_CHECK(node->is_object() && node->contains(part), what, ": unknown key '", prefix + part, "'",
               node->is_object() ? " (" + (prefix.empty() ? std::string("top-level") : prefix.substr(0, prefix.size() - 1)) +
                                       " keys: " + known_keys(*node) + ")"
                                 : " ('" + prefix.substr(0, prefix.size() - 1) + "' has no sub-keys)");
    node = &node->at(part);
    prefix += part + ".";
  }
  return *node;
}

// Typed reads of the resolved JSON (types were checked when merging).
struct Reader {
  const Json& root;
  const std::string& what;

  const Json& at(const std::string& dotted) const {
    const Json* node = &root;
    std::stringstream parts(dotted);
    std::string part;
    while (std::getline(parts, part, '.')) node = &node->at(part);
    return *node;
  }
  template <class T>
  T get(const std::string& key) const {
    return at(key).get<T>();
  }
  double number(const std::string& key, double lo, double hi, bool lo_open = false, bool hi_open = false) const {
    double v = get<double>(key);
    bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    SOFT_CHECK(ok, what, ": '", key, "' = ", v, " is outside ", lo_open ? "(" : "[", lo, ", ", hi, hi_open ? ")" : "]");
    return v;
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi = INT64_MAX) const {
    int64_t v = get<int64_t>(key);
    SOFT_CHECK(v >= lo && v <= hi, what, ": '", key, "' = ", v, " must be ",
               hi == INT64_MAX ? detail::concat("at least ", lo) : detail::concat("in [", lo, ", ", hi, "]"));
    return v;
  }
  uint64_t seed(const std::string& key) const {
    const Json& v = at(key);
    SOFT_CHECK(v.is_number_unsigned() || v.get<int64_t>() >= 0, what, ": '", key, "' = ", v.dump(),
               " must be a non-negative integer");
    return v.get<uint64_t>();
  }
  std::string choice(const std::string& key, const std::vector<std::string>& allowed) const {
    std::string v = get<std::string>(key);
    std::string list;
    for (const auto& a : allowed) {
      if (v == a) return v;
      list += (list.empty() ? "" : ", ") + a;
    }
    throw Error(detail::concat(what, ": '", key, "' = \"", v, "\" is not one of: ", list));
  }
};

}  // namespace

const Json& default_config_json() {
  static const Json defaults = Json::parse(R"({
    "name": "run",
    "model": {"config": "soft_tiny", "drop_path_rate": null, "drop_rate": null, "num_classes": null},
    "data": {
      "kind": "folder", "path": "", "image_size": 224, "mean": [], "std": [],
      "train_limit": 0, "test_limit": 0, "workers": 1, "pin_memory": true, "skip_bad_files": false,
      "synthetic": {"train": 512, "test": 128, "channels": 1, "size": 8, "classes": 4, "seed": 1}
    },
    "optim": {
      "name": "adamw", "lr": 0.001, "weight_decay": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
      "momentum": 0.9, "nesterov": false, "clip_grad": 0.0
    },
    "schedule": {"warmup_epochs": 0.0, "warmup_lr": 1e-6, "min_lr": 1e-5},
    "augmentation": {
      "crop_padding": 0, "hflip": false, "scale_min": 0.08, "interpolation": "bilinear", "auto_augment": "",
      "color_jitter": 0.0, "random_erase": 0.0, "erase_mode": "pixel", "repeated_aug": 1,
      "mixup": 0.0, "cutmix": 0.0, "mixup_prob": 1.0, "switch_prob": 0.5, "label_smoothing": 0.0
    },
    "ema": {"enabled": false, "decay": 0.9998},
    "dist": {"sync_bn": false, "bucket_mib": 25.0, "world_size": 1},
    "epochs": 1, "batch": 128, "accum_steps": 1, "seed": 0, "threads": 0, "device": "cpu", "precision": "fp32",
    "eval": {"batch": 256, "every_epochs": 1},
    "log": {"every_steps": 50, "checkpoint_every_steps": 0},
    "debug": {"nan_at_step": -1, "nan_rank": -1, "stop_at_step": -1}
  })");
  return defaults;
}

void merge_config(Json& base, const Json& overrides, const std::string& what) {
  SOFT_CHECK(overrides.is_object(), what, ": a training config must be a JSON object, got ", shown(overrides));
  merge_level(base, default_config_json(), overrides, what, "");
}

void apply_override(Json& config, const std::string& assignment) {
  const std::string what = "--set " + assignment;
  const size_t eq = assignment.find('=');
  SOFT_CHECK(eq != std::string::npos && eq > 0, what, ": expected key=value (e.g. optim.lr=0.002)");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  const Json& def = default_at(key, what);
  Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || (kind_of(def) == Kind::String && !value.is_string())) value = text;
  // Nest the value under its key's parts and merge it like a file.
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) value = Json{{*it, value}};
  merge_config(config, value, what);
}

TrainConfig config_from_json(const Json& resolved, const std::string& what) {
  Reader r{resolved, what};
  TrainConfig c;
  c.json = resolved;
  c.name = r.get<std::string>("name");
  SOFT_CHECK(!c.name.empty() && c.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789._-") == std::string::npos &&
                 c.name[0] != '.',
             what, ": 'name' = \"", c.name, "\" must be a folder name (letters, digits, '.', '_', '-')");

  c.model.config = r.get<std::string>("model.config");
  SOFT_CHECK(!c.model.config.empty(), what, ": 'model.config' is empty (a built-in model name or a JSON path)");
  for (auto [key, field] : {std::pair{"model.drop_path_rate", &c.model.drop_path_rate},
                            std::pair{"model.drop_rate", &c.model.drop_rate}})
    if (!r.at(key).is_null()) *field = r.number(key, 0.0, 1.0, false, true);
  if (!r.at("model.num_classes").is_null()) c.model.num_classes = r.integer("model.num_classes", 1, int64_t(1) << 24);

  c.data.kind = r.choice("data.kind", {"mnist", "cifar10", "folder", "synthetic"});
  c.data.path = r.get<std::string>("data.path");
  SOFT_CHECK(c.data.kind == "synthetic" || !c.data.path.empty(), what, ": 'data.path' is empty (the ",
             c.data.kind, " dataset's directory)");
  c.data.image_size = r.integer("data.image_size", 1, 65536);
  c.data.mean = r.get<std::vector<double>>("data.mean");
  c.data.std = r.get<std::vector<double>>("data.std");
  SOFT_CHECK(c.data.mean.size() == c.data.std.size(), what, ": 'data.mean' has ", c.data.mean.size(),
             " values but 'data.std' has ", c.data.std.size());
  for (double s : c.data.std) SOFT_CHECK(s > 0, what, ": 'data.std' holds ", s, "; every value must be positive");
  c.data.train_limit = r.integer("data.train_limit", 0);
  c.data.test_limit = r.integer("data.test_limit", 0);
  c.data.workers = r.integer("data.workers", 1, 256);
  c.data.pin_memory = r.get<bool>("data.pin_memory");
  c.data.skip_bad_files = r.get<bool>("data.skip_bad_files");
  c.data.synthetic.train = r.integer("data.synthetic.train", 1);
  c.data.synthetic.test = r.integer("data.synthetic.test", 1);
  c.data.synthetic.channels = r.integer("data.synthetic.channels", 1, 64);
  c.data.synthetic.size = r.integer("data.synthetic.size", 1, 4096);
  c.data.synthetic.classes = r.integer("data.synthetic.classes", 1, 1 << 20);
  c.data.synthetic.seed = r.seed("data.synthetic.seed");

  c.optim.name = r.choice("optim.name", {"adamw", "sgd"});
  c.optim.lr = r.number("optim.lr", 0.0, 1e3, true);
  c.optim.weight_decay = r.number("optim.weight_decay", 0.0, 1e3);
  c.optim.beta1 = r.number("optim.beta1", 0.0, 1.0, false, true);
  c.optim.beta2 = r.number("optim.beta2", 0.0, 1.0, false, true);
  c.optim.eps = r.number("optim.eps", 0.0, 1.0, true);
  c.optim.momentum = r.number("optim.momentum", 0.0, 1.0, false, true);
  c.optim.nesterov = r.get<bool>("optim.nesterov");
  c.optim.clip_grad = r.number("optim.clip_grad", 0.0, 1e12);

  c.schedule.warmup_lr = r.number("schedule.warmup_lr", 0.0, 1e3);
  c.schedule.min_lr = r.number("schedule.min_lr", 0.0, 1e3);

  c.augmentation.crop_padding = r.integer("augmentation.crop_padding", 0, 4096);
  c.augmentation.hflip = r.get<bool>("augmentation.hflip");
  c.augmentation.scale_min = r.number("augmentation.scale_min", 0.0, 1.0, true);
  c.augmentation.interpolation = r.choice("augmentation.interpolation", {"bilinear", "bicubic"});
  c.augmentation.auto_augment = r.get<std::string>("augmentation.auto_augment");
  if (!c.augmentation.auto_augment.empty()) {
    try {
      data::parse_rand_augment(c.augmentation.auto_augment, {128, 128, 128});
    } catch (const Error& e) {
      throw Error(detail::concat(what, ": 'augmentation.auto_augment': ", e.what()));
    }
  }
  c.augmentation.color_jitter = r.number("augmentation.color_jitter", 0.0, 1.0);
  c.augmentation.repeated_aug = r.integer("augmentation.repeated_aug", 1, 64);
  c.augmentation.random_erase = r.number("augmentation.random_erase", 0.0, 1.0);
  c.augmentation.erase_mode = r.choice("augmentation.erase_mode", {"const", "rand", "pixel"});
  c.augmentation.mixup = r.number("augmentation.mixup", 0.0, 1e3);
  c.augmentation.cutmix = r.number("augmentation.cutmix", 0.0, 1e3);
  c.augmentation.mixup_prob = r.number("augmentation.mixup_prob", 0.0, 1.0);
  c.augmentation.switch_prob = r.number("augmentation.switch_prob", 0.0, 1.0);
  c.augmentation.label_smoothing = r.number("augmentation.label_smoothing", 0.0, 1.0, false, true);

  c.ema.enabled = r.get<bool>("ema.enabled");
  c.ema.decay = r.number("ema.decay", 0.0, 1.0, false, true);

  c.dist.sync_bn = r.get<bool>("dist.sync_bn");
  c.dist.bucket_mib = r.number("dist.bucket_mib", 0.0, 1e6, true);
  c.dist.world_size = r.integer("dist.world_size", 1, 1 << 20);

  c.epochs = r.integer("epochs", 1, 1000000);
  c.batch = r.integer("batch", 1, 1 << 20);
  c.accum_steps = r.integer("accum_steps", 1, 1 << 20);
  c.seed = r.seed("seed");
  c.threads = r.integer("threads", 0, 4096);
  c.device = r.get<std::string>("device");
  bool cuda = false;
  try {
    cuda = parse_device(c.device).is_cuda();
  } catch (const Error& e) {
    throw Error(detail::concat(what, ": 'device': ", e.what()));
  }
  c.precision = r.get<std::string>("precision");
  SOFT_CHECK(c.precision == "fp32" || c.precision == "bf16" || c.precision == "fp64", what, ": 'precision' = \"",
             c.precision, "\" is not one of: fp32, bf16, fp64");
  SOFT_CHECK(c.precision != "bf16" || cuda, what, ": 'precision' = \"bf16\" needs a CUDA device ('device' is \"",
             c.device, "\")");
  c.schedule.warmup_epochs = r.number("schedule.warmup_epochs", 0.0, 1e6);
  if (c.schedule.warmup_epochs >= static_cast<double>(c.epochs)) {  // a quick try of a long recipe (epochs=1)
    const double shortened = static_cast<double>(c.epochs) / 10.0;
    c.notes.push_back(detail::concat("note: the warm-up of ", c.schedule.warmup_epochs, " epochs is not shorter than the ",
                                     c.epochs, "-epoch run; shortened to ", shortened, " epochs"));
    c.schedule.warmup_epochs = shortened;
  }
  bool mixing = (c.augmentation.mixup > 0 || c.augmentation.cutmix > 0) && c.augmentation.mixup_prob > 0;
  SOFT_CHECK(!mixing || c.batch % 2 == 0, what, ": 'batch' = ", c.batch,
             " must be even with mixup/cutmix (each sample is mixed with its mirror in the batch)");

  c.eval.batch = r.integer("eval.batch", 1, 1 << 20);
  c.eval.every_epochs = r.integer("eval.every_epochs", 1);
  c.log.every_steps = r.integer("log.every_steps", 1);
  c.log.checkpoint_every_steps = r.integer("log.checkpoint_every_steps", 0);
  c.debug.nan_at_step = r.integer("debug.nan_at_step", -1);
  c.debug.nan_rank = r.integer("debug.nan_rank", -1);
  c.debug.stop_at_step = r.integer("debug.stop_at_step", -1);
  return c;
}

namespace {

Json resolve_text(const std::string& text, const std::string& what) {
  Json file = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  SOFT_CHECK(!file.is_discarded(), what, ": not valid JSON");
  Json resolved = default_config_json();
  merge_config(resolved, file, what);
  return resolved;
}

}  // namespace

TrainConfig parse_train_config(const std::string& text, const std::string& what,
                               const std::vector<std::string>& overrides) {
  Json resolved = resolve_text(text, what);
  for (const std::string& o : overrides) apply_override(resolved, o);
  return config_from_json(resolved, what);
}

Json load_train_config_json(const std::string& path) {
  std::ifstream in(path);
  SOFT_CHECK(in.good(), path, ": cannot read the training config (no such file?)");
  std::stringstream text;
  text << in.rdbuf();
  return resolve_text(text.str(), path);
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  Json resolved = load_train_config_json(path);
  for (const std::string& o : overrides) apply_override(resolved, o);
  return config_from_json(resolved, path);
}

}  // namespace soft::tools::train
