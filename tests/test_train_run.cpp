// The training loop (tools/train/trainer): a tiny SOFT model on synthetic data overfits; a run
// stopped and resumed writes exactly the metrics and weights of an uninterrupted one (with every
// random draw switched on: loader order, crop/flip, random erasing, mixup/cutmix, dropout,
// drop-path); gradient accumulation averages the micro-batches' gradients; a NaN loss stops the
// run and keeps the last good checkpoint; run-folder files are replaced atomically.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/atomic_file.h"
#include "models/soft.h"
#include "nn/data/loader.h"
#include "nn/data/synthetic.h"
#include "ops/ops.h"
#include "tests/train_test_util.h"
#include "tools/train/checkpoint.h"

using namespace soft;
using namespace soft::test;
namespace fs = std::filesystem;

namespace {

std::vector<double> values(const Tensor& t) { return t.contiguous().to_vector(); }


}  // namespace

TEST_CASE("train: a tiny model overfits synthetic data, and the run folder holds everything") {
  TempDir dir;
  const std::string run = dir.file("run");
  std::string config = tiny_train_config(dir, {{"epochs", 12}, {"log", {{"every_steps", 4}}}});
  CliResult r = soft_cli({"train", "--config", config, "--run-dir", run});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  for (const char* f : {"config.json", "model.json", "metrics.jsonl", "curves.svg", "latest.safetensors",
                        "best.safetensors"})
    CHECK(fs::exists(run + "/" + f));
  std::vector<Json> lines = metrics_without_timing(run);
  std::vector<double> losses;
  Json last_eval;
  for (const Json& line : lines) {
    if (line["kind"] == "train") {
      losses.push_back(line["loss"].get<double>());
      for (const char* key : {"epoch", "step", "loss", "lr", "grad_norm"}) CHECK(line.contains(key));
    } else {
      last_eval = line;
    }
  }
  REQUIRE(losses.size() == 12);  // 4 batches per epoch, one line per 4 steps
  CHECK(losses.front() > 1.0);   // about ln 4 = 1.39 at the start
  CHECK(losses.back() < 0.25 * losses.front());
  CHECK(last_eval["epoch"].get<int64_t>() == 12);
  CHECK(last_eval["top1"].get<double>() >= 0.9);
  CHECK(last_eval["top5"].get<double>() == 1.0);  // 4 classes: always within the top 5
  // The resolved config: the file's values, the defaults, and the normalisation computed.
  Json resolved = Json::parse(std::ifstream(run + "/config.json"));
  CHECK(resolved["epochs"].get<int64_t>() == 12);
  CHECK(resolved["optim"]["beta1"].get<double>() == 0.9);
  CHECK(resolved["data"]["mean"].size() == 1);
  std::ifstream svg(run + "/curves.svg");
  std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  CHECK(contains(text, "<svg"));
  CHECK(contains(text, "test top-1"));
  CHECK(contains(r.out, "epoch 12/12: test top-1"));
  CHECK(contains(r.out, "done: 48 steps"));
}

TEST_CASE("train: a run stopped and resumed reproduces the uninterrupted run exactly") {
  // Every random draw on: loader order, crop + flip, random erasing, mixup/cutmix, dropout,
  // drop-path; EMA; accumulation over 3 of the 4 batches per epoch (steps of 3, then 1 batch).
  const Json recipe = {
      {"model", {{"drop_rate", 0.1}, {"drop_path_rate", 0.2}}},
      {"data", {{"workers", 2}}},
      {"augmentation",
       {{"crop_padding", 1}, {"hflip", true}, {"random_erase", 0.5}, {"mixup", 0.8}, {"cutmix", 1.0},
        {"label_smoothing", 0.1}}},
      {"ema", {{"enabled", true}, {"decay", 0.9}}},
      {"schedule", {{"warmup_epochs", 1.0}}},
      {"accum_steps", 3},
      {"epochs", 3},
      {"log", {{"every_steps", 3}}}};
  TempDir dir;
  const std::string full = dir.file("full");
  CliResult a = soft_cli({"train", "--config", tiny_train_config(dir, recipe), "--run-dir", full});
  INFO(a.out << a.err);
  REQUIRE(a.code == 0);
  const std::vector<Json> expected = metrics_without_timing(full);
  REQUIRE(expected.size() == 5);  // train lines at steps 3, 6; evaluations after epochs 1, 2, 3

  // Steps 1, 3, 5 end mid-epoch (3 of 4 batches), 2 and 4 end an epoch (before its evaluation);
  // 1 and 5 are inside a logging window, 3 is a logging step. One run is stopped twice (1, then 4).
  for (const std::vector<int64_t>& stops : {std::vector<int64_t>{1}, {2}, {3}, {4}, {5}, {1, 4}}) {
    INFO("stops at " << stops[0] << (stops.size() > 1 ? " and " + std::to_string(stops[1]) : ""));
    const std::string run = dir.file("stopped");
    Json changes = recipe;
    changes["debug"]["stop_at_step"] = stops[0];
    CliResult b = soft_cli({"train", "--config", tiny_train_config(dir, changes, "stop.json"), "--run-dir", run,
                            "--force"});
    INFO(b.out << b.err);
    REQUIRE(b.code == 0);
    CHECK(contains(b.out, "stopped after step " + std::to_string(stops[0])));
    CHECK(tools::train::load_checkpoint(run + "/latest.safetensors").state.step == stops[0]);
    if (stops.size() > 1) {
      // A second stop: a resumed run reads its config from the checkpoint, so the later stop goes there.
      tools::train::Checkpoint c = tools::train::load_checkpoint(run + "/latest.safetensors");
      c.config["debug"]["stop_at_step"] = stops[1];
      tools::train::save_checkpoint(run + "/latest.safetensors", c);
      CliResult c1 = soft_cli({"train", "--resume", run});
      INFO(c1.out << c1.err);
      REQUIRE(c1.code == 0);
      CHECK(contains(c1.out, "stopped after step " + std::to_string(stops[1])));
    }
    CliResult c = soft_cli({"train", "--resume", run});
    INFO(c.out << c.err);
    REQUIRE(c.code == 0);
    CHECK(contains(c.out, "resuming after step"));
    CHECK(metrics_without_timing(run) == expected);
    check_same_checkpoint(full + "/latest.safetensors", run + "/latest.safetensors");
    check_same_checkpoint(full + "/best.safetensors", run + "/best.safetensors");
  }
}

TEST_CASE("train: gradient accumulation steps with the mean of the micro-batches' gradients") {
  // One SGD step (no momentum, decay or clipping) over two accumulated batches of 8, checked
  // against the same two batches run here through a model built from the same seed.
  TempDir dir;
  const std::string run = dir.file("run");
  std::string config = tiny_train_config(
      dir, {{"optim", {{"name", "sgd"}, {"lr", 0.5}, {"momentum", 0.0}, {"weight_decay", 0.0}}},
            {"batch", 8}, {"accum_steps", 2}, {"epochs", 1}, {"debug", {{"stop_at_step", 1}}}});
  CliResult r = soft_cli({"train", "--config", config, "--run-dir", run});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  tools::train::Checkpoint after = tools::train::load_checkpoint(run + "/latest.safetensors");

  // The trainer's data: the synthetic train split, normalised by its own statistics.
  data::Dataset all = data::synthetic_dataset(96, 1, 8, 8, 4, 1);
  data::Dataset train = all;
  train.images = slice(all.images, 0, 0, 64).contiguous();
  train.labels = slice(all.labels, 0, 0, 64).contiguous();
  data::ChannelStats stats = data::channel_stats(train);
  data::normalize_(train, stats.mean, stats.std);
  data::DataLoader loader(train, {.batch_size = 8, .shuffle = true, .drop_last = true, .seed = 5});
  loader.start_epoch(0);

  manual_seed(5);
  models::SoftModel model(models::load_config(run + "/model.json"));
  std::vector<nn::NamedTensor> before;
  for (const auto& [name, p] : model.named_parameters()) before.emplace_back(name, p.detach().clone());
  for (int k = 0; k < 2; ++k) {
    data::Batch b = *loader.next();
    Tensor loss = cross_entropy(model.forward(b.images), b.labels);
    (loss * 0.5).backward();
  }
  std::map<std::string, Tensor> trained(after.model.begin(), after.model.end());
  double moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    const auto& [name, p0] = before[i];
    INFO(name);
    const Tensor& g = model.named_parameters()[i].second.grad();
    REQUIRE(g.defined());
    std::vector<double> want = values(p0 - g * 0.5), got = values(trained.at(name));
    std::vector<double> start = values(p0);
    REQUIRE(want.size() == got.size());
    for (size_t j = 0; j < want.size(); ++j) {
      CHECK(std::fabs(got[j] - want[j]) <= 1e-5 + 1e-4 * std::fabs(want[j]));
      moved = std::max(moved, std::fabs(got[j] - start[j]));
    }
  }
  CHECK(moved > 1e-3);  // the step did move the weights
}

TEST_CASE("train: a NaN loss stops the run naming the step and keeps the last good checkpoint") {
  TempDir dir;
  const std::string run = dir.file("run");
  // 4 steps per epoch: checkpoints after steps 4 (epoch 1) and 8 (epoch 2); NaN at step 10.
  std::string config = tiny_train_config(dir, {{"epochs", 4}, {"debug", {{"nan_at_step", 10}}}});
  CliResult r = soft_cli({"train", "--config", config, "--run-dir", run});
  CHECK(r.code == 1);
  INFO(r.err);
  CHECK(contains(r.err, "step 10 (epoch 3, batch 2): the training loss is nan; stopping."));
  CHECK(contains(r.err, "latest.safetensors (step 8), is kept"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line
  tools::train::Checkpoint c = tools::train::load_checkpoint(run + "/latest.safetensors");
  CHECK(c.state.step == 8);
  CHECK(c.state.epoch == 2);
  for (const auto& [name, t] : c.model)
    for (double v : values(t)) REQUIRE(std::isfinite(v));
  // The metrics stop at the last good step: no line mentions step 10.
  for (const Json& line : metrics_without_timing(run)) CHECK(line["step"].get<int64_t>() < 10);

  // Before any checkpoint the message says so.
  CliResult early = soft_cli({"train", "--config", tiny_train_config(dir, {{"debug", {{"nan_at_step", 1}}}}),
                              "--run-dir", dir.file("early")});
  CHECK(early.code == 1);
  CHECK(contains(early.err, "step 1 (epoch 1, batch 1): the training loss is nan"));
  CHECK(contains(early.err, "No checkpoint was written yet."));
}

TEST_CASE("write_file_atomic: replaces the whole file and leaves no temporary behind") {
  TempDir dir;
  const std::string path = dir.file("config.json");
  write_file_atomic(path, "first version, longer than the second");
  write_file_atomic(path, "second");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "second");
  CHECK(dir.entries() == std::vector<std::string>{"config.json"});
  CHECK_THROWS_WITH_AS(write_file_atomic(dir.file("no/such/dir/x.json"), "x"),
                       doctest::Contains("no/such/dir/x.json: cannot write"), Error);
  CHECK(dir.entries() == std::vector<std::string>{"config.json"});
}
