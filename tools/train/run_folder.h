#pragma once
// A run folder (runs/NAME/) and what the train, eval and export commands share: its file names,
// the model a training config asks for, the check that it fits the data, and the device.
#include <string>
#include <vector>

#include "core/device.h"
#include "models/config.h"
#include "nn/module.h"
#include "tools/train/data_setup.h"
#include "tools/train/train_config.h"

namespace soft::tools::train {

struct RunFolder {
  std::string dir;
  std::string config() const { return dir + "/config.json"; }       // the resolved training config
  std::string model_config() const { return dir + "/model.json"; }  // the model's config
  std::string metrics() const { return dir + "/metrics.jsonl"; }
  std::string latest() const { return dir + "/latest.safetensors"; }
  std::string best() const { return dir + "/best.safetensors"; }
  std::string curves() const { return dir + "/curves.svg"; }
  // --checkpoint's value: "best" or "latest" (anything else is a UsageError).
  std::string checkpoint(const std::string& which) const;
};

// The model config named by config.model.config with the config's drop rates applied.
models::SoftConfig model_config_for(const TrainConfig& config);

// Throws when the model cannot take the data: channels, classes or an image too small.
void check_model_fits(const models::SoftConfig& model, const TrainData& data);

// parse_device plus availability: CUDA must be built in and the GPU present.
Device usable_device(const std::string& text);

// A run folder's training config (config.json over the defaults).
TrainConfig read_run_config(const RunFolder& run);

// The model's (ema: its EMA's) weights in a training checkpoint; `what` becomes a description
// ("PATH (EMA), step N").
std::vector<nn::NamedTensor> checkpoint_weights(const std::string& path, bool ema, std::string& what);

}  // namespace soft::tools::train
