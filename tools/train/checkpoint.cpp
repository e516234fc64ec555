#include "tools/train/checkpoint.h"

#include "core/safetensors.h"

namespace soft::tools::train {
namespace {

constexpr const char* kFormat = "soft.cpp training checkpoint v1";
const char* const kPrefixes[] = {"model.", "ema.", "optim."};

}  // namespace

Json TrainerState::to_json() const {
  return Json{{"epoch", epoch},
              {"batch", batch},
              {"step", step},
              {"rng_seed", rng_seed},
              {"rng_offset", rng_offset},
              {"best_top1", best_top1},
              {"best_source", best_source},
              {"best_step", best_step},
              {"window_loss", window_loss},
              {"window_grad_norm", window_grad_norm},
              {"window_steps", window_steps},
              {"window_images", window_images},
              {"metrics_bytes", metrics_bytes},
              {"threads", threads},
              {"world_size", world_size}};
}

TrainerState TrainerState::from_json(const Json& j, const std::string& what) {
  try {
    TrainerState s;
    s.epoch = j.at("epoch").get<int64_t>();
    s.batch = j.at("batch").get<int64_t>();
    s.step = j.at("step").get<int64_t>();
    s.rng_seed = j.at("rng_seed").get<uint64_t>();
    s.rng_offset = j.at("rng_offset").get<uint64_t>();
    s.best_top1 = j.at("best_top1").get<double>();
    s.best_source = j.at("best_source").get<std::string>();
    s.best_step = j.at("best_step").get<int64_t>();
    s.window_loss = j.at("window_loss").get<double>();
    s.window_grad_norm = j.at("window_grad_norm").get<double>();
    s.window_steps = j.at("window_steps").get<int64_t>();
    s.window_images = j.at("window_images").get<int64_t>();
    s.metrics_bytes = j.at("metrics_bytes").get<int64_t>();
    s.threads = j.value("threads", int64_t{0});  // absent in checkpoints written before it was recorded
    s.world_size = j.value("world_size", int64_t{1});
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::concat(what, ": malformed trainer state (", e.what(), ")"));
  }
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  NamedTensors tensors;
  const std::vector<nn::NamedTensor>* parts[] = {&c.model, &c.ema, &c.optimizer};
  for (int p = 0; p < 3; ++p)
    for (const auto& [name, t] : *parts[p]) tensors.emplace_back(kPrefixes[p] + name, t);
  save_safetensors(path, tensors,
                   {{"format", kFormat},
                    {"trainer", c.state.to_json().dump()},
                    {"config", c.config.dump()},
                    {"model_config", c.model_config.dump()}});
}

Checkpoint load_checkpoint(const std::string& path) {
  Safetensors file = load_safetensors(path);
  auto meta = [&](const char* key) -> const std::string& {
    auto it = file.metadata.find(key);
    SOFT_CHECK(it != file.metadata.end(), path, ": not a training checkpoint (no '", key,
               "' in its metadata); model weights are read with --weights");
    return it->second;
  };
  SOFT_CHECK(meta("format") == kFormat, path, ": unknown checkpoint format '", meta("format"), "'");
  auto parse = [&](const char* key) {
    Json j = Json::parse(meta(key), nullptr, /*allow_exceptions=*/false);
    SOFT_CHECK(!j.is_discarded(), path, ": metadata '", key, "' is not valid JSON");
    return j;
  };
  Checkpoint c;
  c.state = TrainerState::from_json(parse("trainer"), path);
  c.config = parse("config");
  c.model_config = parse("model_config");
  std::vector<nn::NamedTensor>* parts[] = {&c.model, &c.ema, &c.optimizer};
  for (auto& [name, t] : file.tensors) {
    bool placed = false;
    for (int p = 0; p < 3 && !placed; ++p) {
      const std::string prefix = kPrefixes[p];
      if (name.compare(0, prefix.size(), prefix) == 0) {
        parts[p]->emplace_back(name.substr(prefix.size()), t);
        placed = true;
      }
    }
    SOFT_CHECK(placed, path, ": unexpected tensor '", name, "' (expected model., ema. or optim. names)");
  }
  SOFT_CHECK(!c.model.empty(), path, ": holds no model tensors");
  return c;
}

}  // namespace soft::tools::train
