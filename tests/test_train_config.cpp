// tools/train/train_config: training configs over the defaults, dotted --set overrides, and the
// one-line errors for unknown keys, wrong types and impossible values.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "tests/error_text.h"
#include "tools/train/data_setup.h"
#include "tools/train/train_config.h"

using namespace soft;
using namespace soft::tools::train;
using soft::test::error_of;

namespace {

const char* kConfig = R"({
  "name": "cfg_test",
  "model": {"config": "soft_fmnist", "drop_path_rate": 0.2},
  "data": {"kind": "mnist", "path": "/data/fmnist"},
  "optim": {"lr": 0.004},
  "augmentation": {"mixup": 0.8, "cutmix": 1.0},
  "epochs": 7,
  "batch": 64
})";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("train config: the file's keys over the defaults") {
  TrainConfig c = parse_train_config(kConfig, "test.json");
  CHECK(c.name == "cfg_test");
  CHECK(c.model.config == "soft_fmnist");
  REQUIRE(c.model.drop_path_rate.has_value());
  CHECK(*c.model.drop_path_rate == 0.2);
  CHECK_FALSE(c.model.drop_rate.has_value());  // null default: the model config's own
  CHECK(c.data.kind == "mnist");
  CHECK(c.optim.lr == 0.004);
  CHECK(c.optim.name == "adamw");       // default
  CHECK(c.optim.weight_decay == 0.05);  // default
  CHECK(c.augmentation.mixup == 0.8);
  CHECK(c.epochs == 7);
  CHECK(c.batch == 64);
  CHECK(c.accum_steps == 1);
  // The resolved JSON holds every key, the file's values where given.
  CHECK(c.json["optim"]["lr"].get<double>() == 0.004);
  CHECK(c.json["optim"]["beta2"].get<double>() == 0.999);
  CHECK(c.json.contains("debug"));
  // Every default key is in the resolved JSON, in the defaults' order.
  std::vector<std::string> keys, default_keys;
  for (const auto& [k, v] : c.json.items()) keys.push_back(k);
  for (const auto& [k, v] : default_config_json().items()) default_keys.push_back(k);
  CHECK(keys == default_keys);
}

TEST_CASE("train config: the loaders' options: pinned batches on CUDA runs only, two batches ahead per worker") {
  TrainConfig cpu = parse_train_config(kConfig, "test.json", {"data.workers=8"});
  CHECK(cpu.data.pin_memory);  // the default; it applies to CUDA runs
  data::LoaderOptions train = loader_options(cpu, true, {1, 4}), test = loader_options(cpu, false);
  CHECK_FALSE(train.pin_memory);
  CHECK(train.workers == 8);
  CHECK(train.prefetch == 16);
  CHECK((train.shuffle && train.drop_last && train.batch_size == 64 && train.rank == 1 && train.world_size == 4));
  CHECK_FALSE((test.shuffle || test.drop_last));
  CHECK(test.batch_size == 256);
  TrainConfig cuda = parse_train_config(kConfig, "test.json", {"device=cuda"});
  CHECK(loader_options(cuda, true).pin_memory);
  CHECK(loader_options(cuda, false).pin_memory);
  CHECK(loader_options(cuda, true).prefetch == 2);
  TrainConfig unpinned = parse_train_config(kConfig, "test.json", {"device=cuda:1", "data.pin_memory=false"});
  CHECK_FALSE(loader_options(unpinned, true).pin_memory);
  CHECK(contains(error_of([] { parse_train_config(kConfig, "test.json", {"data.pin_memory=3"}); }), "pin_memory"));
}

TEST_CASE("train config: --set overrides by dotted key, values as JSON or else strings") {
  TrainConfig c = parse_train_config(kConfig, "test.json",
                                     {"optim.lr=0.002", "epochs=3", "augmentation.hflip=true", "device=cpu",
                                      "name=123", "data.mean=[0.5]", "data.std=[0.25]", "model.drop_rate=0.1",
                                      "optim.lr=0.003"});
  CHECK(c.optim.lr == 0.003);  // the last of two wins
  CHECK(c.epochs == 3);
  CHECK(c.augmentation.hflip);
  CHECK(c.device == "cpu");
  CHECK(c.name == "123");  // a string key keeps the text of a number
  CHECK(c.data.mean == std::vector<double>{0.5});
  CHECK(c.data.std == std::vector<double>{0.25});
  REQUIRE(c.model.drop_rate.has_value());
  CHECK(*c.model.drop_rate == 0.1);
  CHECK(c.json["epochs"].get<int64_t>() == 3);
  // An integer is a valid number; a whole section can be set as an object.
  TrainConfig d = parse_train_config(kConfig, "t", {"optim.lr=1", "schedule={\"min_lr\": 0.0}"});
  CHECK(d.optim.lr == 1.0);
  CHECK(d.schedule.min_lr == 0.0);
  CHECK(d.schedule.warmup_lr == 1e-6);  // the rest of the section keeps its values
}

TEST_CASE("train config: unknown keys and wrong types are one-line errors naming the key") {
  struct Case {
    std::string file;
    std::vector<std::string> sets;
    std::vector<std::string> parts;  // each must be in the message
  };
  const std::vector<Case> cases = {
      {R"({"epochz": 3})", {}, {"test.json", "unknown key 'epochz'", "epochs"}},
      {R"({"optim": {"lrr": 3}})", {}, {"unknown key 'optim.lrr'", "optim keys: name, lr"}},
      {R"({"epochs": 1.5})", {}, {"'epochs' must be an integer", "1.5"}},
      {R"({"optim": {"lr": "fast"}})", {}, {"'optim.lr' must be a number", "\"fast\""}},
      {R"({"optim": 3})", {}, {"'optim' must be an object"}},
      {R"({"augmentation": {"hflip": 1}})", {}, {"'augmentation.hflip' must be true or false"}},
      {R"({"data": {"mean": [0.1, "a"]}})", {}, {"'data.mean' must be an array of numbers"}},
      {R"([1, 2])", {}, {"must be a JSON object"}},
      {R"({"epochs": 3)", {}, {"test.json", "not valid JSON"}},
      {"", {"optim.lrr=0.1"}, {"--set optim.lrr=0.1", "unknown key 'optim.lrr'"}},
      {"", {"optim.lr.x=0.1"}, {"unknown key 'optim.lr.x'", "has no sub-keys"}},
      {"", {"epochs=three"}, {"--set epochs=three", "'epochs' must be an integer", "\"three\""}},
      {"", {"epochs"}, {"--set epochs", "expected key=value"}},
      {"", {"optim.lr=-1"}, {"'optim.lr' = -1 is outside (0, 1000]"}},
      {"", {"optim.name=adam"}, {"'optim.name' = \"adam\" is not one of: adamw, sgd"}},
      {"", {"data.kind=imagenet"}, {"'data.kind'", "mnist, cifar10, folder, synthetic"}},
      {"", {"epochs=0"}, {"'epochs' = 0 must be in [1,"}},
      {"", {"seed=-3"}, {"'seed' = -3 must be a non-negative integer"}},
      {"", {"name=a/b"}, {"'name' = \"a/b\" must be a folder name"}},
      {"", {"device=tpu"}, {"'device'", "tpu"}},
      {"", {"precision=fp16"}, {"'precision' = \"fp16\" is not one of: fp32, bf16, fp64"}},
      {"", {"precision=bf16", "device=cpu"}, {"'precision' = \"bf16\" needs a CUDA device", "\"cpu\""}},
      {"", {"schedule.warmup_epochs=-1"}, {"'schedule.warmup_epochs' = -1 is outside [0, 1e+06]"}},
      {"", {"augmentation.mixup=0.8", "batch=7"}, {"'batch' = 7 must be even with mixup/cutmix"}},
      {"", {"data.mean=[0.5]"}, {"'data.mean' has 1 values but 'data.std' has 0"}},
      {"", {"data.path="}, {"'data.path' is empty"}},
  };
  for (const Case& c : cases) {
    INFO(c.file);
    // An empty file stands for kConfig, a valid config the overrides then break.
    std::string message = error_of([&] { parse_train_config(c.file.empty() ? kConfig : c.file, "test.json", c.sets); });
    INFO(message);
    for (const std::string& part : c.parts) CHECK(contains(message, part));
    CHECK_FALSE(contains(message, "\n"));
  }
}

TEST_CASE("train config: a missing file is an error naming it") {
  std::string message = error_of([] { load_train_config("/nonexistent/train.json"); });
  CHECK(contains(message, "/nonexistent/train.json"));
}
