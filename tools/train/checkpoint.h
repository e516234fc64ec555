#pragma once
// Training checkpoints (runs/NAME/latest.safetensors, best.safetensors): one safetensors file
// holding the model ("model.<name>"), its EMA ("ema.<name>"), the optimiser state
// ("optim.<name>") and, in the metadata, the trainer state (position in the data, optimiser step,
// generator, best top-1, the open logging window, metrics.jsonl's size) and the resolved configs.
// Written atomically (save_safetensors), so a crash leaves the previous checkpoint whole.
#include <cstdint>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tools/train/train_config.h"

namespace soft::tools::train {

struct TrainerState {
  int64_t epoch = 0;  // the epoch in progress (epochs when the run is complete)
  int64_t batch = 0;  // batches of that epoch already consumed
  int64_t step = 0;   // optimiser steps done
  uint64_t rng_seed = 0, rng_offset = 0;  // the default generator (dropout, drop-path, mixup)
  double best_top1 = -1;  // best test top-1 so far (model or EMA); -1 before the first evaluation
  std::string best_source;  // "model" or "ema"
  int64_t best_step = -1;
  // The logging window in progress: sums over its steps.
  double window_loss = 0, window_grad_norm = 0;
  int64_t window_steps = 0, window_images = 0;
  int64_t metrics_bytes = 0;  // metrics.jsonl's size when this was saved
  // How the sums of a step were split when this was saved: threads per process (0: unknown) and
  // processes. Resuming with others continues correctly, but not bit for bit.
  int64_t threads = 0, world_size = 1;

  Json to_json() const;
  static TrainerState from_json(const Json& j, const std::string& what);
};

struct Checkpoint {
  std::vector<nn::NamedTensor> model, ema, optimizer;  // names without their prefix
  TrainerState state;
  Json config;        // the resolved training config
  Json model_config;  // the model's config (models/config.h's JSON)
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Throws naming `path` when the file is not a training checkpoint.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace soft::tools::train
