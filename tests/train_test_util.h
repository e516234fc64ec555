#pragma once
// Shared by the trainer's tests (tests/test_train_*.cpp): a tiny model and training config on
// synthetic data, the `soft` command run in-process, metrics.jsonl without its timings, and the
// comparison of two checkpoints.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli_runner.h"
#include "tests/temp_dir.h"
#include "tools/train/checkpoint.h"
#include "tools/train/metrics_log.h"
#include "tools/train/train_config.h"

namespace soft::test {

using tools::train::Json;

// 8x8 grey images, 4 classes; SOFT attention in stage 1 (8x8 tokens, 16 landmarks), softmax in stage 4.
inline const char* kTinyModel = R"({
  "name": "tiny", "img_size": 8, "in_chans": 1, "num_classes": 4,
  "embed_dims": [8, 8, 8, 16], "num_heads": [1, 1, 1, 2], "depths": [1, 0, 0, 1],
  "stem_strides": [1, 1, 1], "patch_strides": [2, 2, 2], "landmark_strides": [2, 2, 2],
  "local_kernels": [3, 3, 3], "stem_width": 4, "newton_iterations": 4})";

inline std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// A training config on synthetic data (64 train, 32 test images) for the tiny model, with
// `changes` merged over it.
inline std::string tiny_train_config(const TempDir& dir, const Json& changes = Json::object(),
                                     const std::string& file = "train.json") {
  const std::string model = write_text(dir.file("tiny_model.json"), kTinyModel);
  Json j = Json::parse(R"({
    "name": "tiny_run",
    "data": {"kind": "synthetic", "synthetic": {"train": 64, "test": 32, "channels": 1, "size": 8, "classes": 4}},
    "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.01},
    "schedule": {"warmup_epochs": 0.0, "min_lr": 0.0001},
    "epochs": 2, "batch": 16, "seed": 5, "threads": 1,
    "eval": {"batch": 32}, "log": {"every_steps": 1}
  })");
  j["model"]["config"] = model;
  j.merge_patch(changes);
  return write_text(dir.file(file), j.dump(2));
}

// The run's metrics lines without what depends on the clock.
inline std::vector<Json> metrics_without_timing(const std::string& run_dir) {
  std::vector<Json> lines = tools::train::read_metrics(run_dir + "/metrics.jsonl");
  for (Json& line : lines) {
    line.erase("images_per_s");
    line.erase("time_s");
  }
  return lines;
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Two checkpoints hold the same position (step, epoch, best top-1, random stream) and the same
// model, EMA and optimiser tensors, bit for bit.
inline void check_same_checkpoint(const std::string& a, const std::string& b) {
  tools::train::Checkpoint x = tools::train::load_checkpoint(a), y = tools::train::load_checkpoint(b);
  CHECK(x.state.step == y.state.step);
  CHECK(x.state.epoch == y.state.epoch);
  CHECK(x.state.best_top1 == y.state.best_top1);
  CHECK(x.state.rng_offset == y.state.rng_offset);
  for (auto [p, q] : {std::pair{&x.model, &y.model}, std::pair{&x.ema, &y.ema},
                      std::pair{&x.optimizer, &y.optimizer}}) {
    REQUIRE(p->size() == q->size());
    for (size_t k = 0; k < p->size(); ++k) {
      INFO((*p)[k].first);
      CHECK((*p)[k].first == (*q)[k].first);
      CHECK((*p)[k].second.contiguous().to_vector() == (*q)[k].second.contiguous().to_vector());
    }
  }
}

}  // namespace soft::test
