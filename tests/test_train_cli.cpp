// soft train / eval / export on the command line: export and eval round trip (eval's top-1 checked
// against logits from soft infer), exit statuses, and one-line errors for bad commands, configs
// and data (missing, corrupt, not fitting the model).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "core/safetensors.h"
#include "nn/data/synthetic.h"
#include "ops/ops.h"
#include "tests/train_test_util.h"
#include "tools/train/checkpoint.h"

using namespace soft;
using namespace soft::test;
namespace fs = std::filesystem;

namespace {

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * fraction);
  return buf;
}

// The evaluation line of metrics.jsonl written at `step`.
Json eval_line(const std::string& run, int64_t step) {
  for (const Json& line : metrics_without_timing(run))
    if (line["kind"] == "eval" && line["step"].get<int64_t>() == step) return line;
  FAIL("no evaluation at step " << step);
  return {};
}

// An MNIST-layout directory of `n` plain IDX images of rows x cols (pixel bytes i + j) and labels i % 10.
std::string write_mnist_dir(const TempDir& dir, const std::string& name, int n, int rows, int cols) {
  const std::string root = dir.file(name);
  fs::create_directories(root);
  auto be32 = [](std::string& s, uint32_t v) {
    for (int k = 24; k >= 0; k -= 8) s.push_back(static_cast<char>(v >> k));
  };
  for (const char* split : {"train", "t10k"}) {
    std::string images, labels;
    be32(images, 0x803), be32(images, n), be32(images, rows), be32(images, cols);
    be32(labels, 0x801), be32(labels, n);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < rows * cols; ++j) images.push_back(static_cast<char>((i + j) % 256));
      labels.push_back(static_cast<char>(i % 10));
    }
    write_text(root + "/" + split + "-images-idx3-ubyte", images);
    write_text(root + "/" + split + "-labels-idx1-ubyte", labels);
  }
  return root;
}

}  // namespace

TEST_CASE("train cli: export and eval read back what training measured; infer's logits agree") {
  TempDir dir;
  const std::string run = dir.file("run");
  const std::string config = tiny_train_config(dir, {{"epochs", 3}, {"ema", {{"enabled", true}, {"decay", 0.5}}}});
  CliResult r = soft_cli({"train", "--config", config, "--run-dir", run});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  tools::train::Checkpoint best = tools::train::load_checkpoint(run + "/best.safetensors");
  const Json line = eval_line(run, best.state.step);

  // eval of the run folder: the model and the EMA of its best checkpoint.
  CliResult e = soft_cli({"eval", run});
  INFO(e.out << e.err);
  REQUIRE(e.code == 0);
  CHECK(contains(e.out, "top-1 " + percent(line["top1"].get<double>())));
  CHECK(contains(e.out, "on 32 test images"));
  CliResult ee = soft_cli({"eval", run, "--ema"});
  REQUIRE(ee.code == 0);
  CHECK(contains(ee.out, "top-1 " + percent(line["ema_top1"].get<double>())));
  CliResult latest = soft_cli({"eval", run, "--checkpoint", "latest"});
  REQUIRE(latest.code == 0);
  CHECK(contains(latest.out, "top-1 " + percent(eval_line(run, 12)["top1"].get<double>())));

  // export, then eval --weights and infer read the file.
  const std::string weights = dir.file("w.safetensors");
  CliResult x = soft_cli({"export", run, "--out", weights});
  INFO(x.out << x.err);
  REQUIRE(x.code == 0);
  Safetensors file = load_safetensors(weights);
  REQUIRE(file.tensors.size() == best.model.size());
  for (size_t k = 0; k < file.tensors.size(); ++k) CHECK(file.tensors[k].first == best.model[k].first);
  CliResult ew = soft_cli({"eval", "--config", config, "--weights", weights});
  INFO(ew.out << ew.err);
  REQUIRE(ew.code == 0);
  CHECK(contains(ew.out, "top-1 " + percent(line["top1"].get<double>())));

  // The test split as the trainer sees it: images 64..95 of the synthetic draw, normalised with
  // the statistics recorded in config.json. Top-1 by hand from infer's logits.
  Json resolved = Json::parse(std::ifstream(run + "/config.json"));
  data::Dataset all = data::synthetic_dataset(96, 1, 8, 8, 4, 1);
  data::Dataset test = all;
  test.images = slice(all.images, 0, 64, 96).contiguous();
  test.labels = slice(all.labels, 0, 64, 96).contiguous();
  data::normalize_(test, resolved["data"]["mean"].get<std::vector<double>>(),
                   resolved["data"]["std"].get<std::vector<double>>());
  save_safetensors(dir.file("x.safetensors"), {{"input", test.images}});
  CliResult inf = soft_cli({"infer", "--model", run + "/model.json", "--weights", weights, "--input",
                            dir.file("x.safetensors"), "--output", dir.file("y.safetensors")});
  INFO(inf.err);
  REQUIRE(inf.code == 0);
  std::vector<double> logits = load_safetensors(dir.file("y.safetensors")).at("logits").to_vector();
  int correct = 0;
  for (int i = 0; i < 32; ++i) {
    int arg = 0;
    for (int k = 1; k < 4; ++k)
      if (logits[i * 4 + k] > logits[i * 4 + arg]) arg = k;
    correct += arg == test.labels.data<int64_t>()[i];
  }
  CHECK(contains(ew.out, "top-1 " + percent(correct / 32.0)));
}

TEST_CASE("train cli: usage errors exit 2, runtime errors exit 1, each one line") {
  TempDir dir;
  const std::string config = tiny_train_config(dir);
  const std::string run = dir.file("run");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string part;
  };
  const std::vector<Case> cases = {
      {{"train"}, 2, "give either --config FILE"},
      {{"train", "--config", config, "--resume", run}, 2, "give either --config FILE"},
      {{"train", "--resume", run, "--set", "epochs=3"}, 2, "--resume continues a run with its own config"},
      {{"train", "--config", config, "--set", "optim.lrr=1"}, 2, "unknown key 'optim.lrr'"},
      {{"train", "--config", config, "--set", "epochs=many"}, 2, "'epochs' must be an integer"},
      {{"train", "--config", config, "--set", "epochs"}, 2, "expected key=value"},
      {{"train", "--config", dir.file("missing.json")}, 1, "missing.json: cannot read the training config"},
      {{"train", "--resume", dir.file("nothing")}, 1, "no such run folder"},
      {{"train", "--config", config, "--set", "optim.lr=-2"}, 1, "'optim.lr' = -2 is outside"},
      {{"eval"}, 2, "give either RUN_DIR or --config FILE --weights"},
      {{"eval", "--config", config}, 2, "--config and --weights go together"},
      {{"eval", run, "--checkpoint", "middle"}, 2, "expected best or latest"},
      {{"eval", dir.file("nothing")}, 1, "not a run folder (no config.json)"},
      {{"export", "--out", dir.file("w.safetensors")}, 2, "missing RUN_DIR"},
      {{"export", run}, 2, "missing required flag '--out"},
  };
  for (const Case& c : cases) {
    CliResult r = soft_cli(c.args);
    INFO(c.args[0] << " " << (c.args.size() > 1 ? c.args[1] : "") << ": " << r.err);
    CHECK(r.code == c.code);
    CHECK(contains(r.err, c.part));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
#ifndef SOFT_HAS_CUDA
  CliResult cuda = soft_cli({"train", "--config", config, "--device", "cuda"});
  CHECK(cuda.code == 1);
  CHECK(contains(cuda.err, "device cuda: this build has no CUDA backend"));
#endif

  // A finished run: starting it again needs --force; eval --ema needs an EMA; resume finishes at once.
  REQUIRE(soft_cli({"train", "--config", config, "--run-dir", run}).code == 0);
  CliResult again = soft_cli({"train", "--config", config, "--run-dir", run});
  CHECK(again.code == 1);
  CHECK(contains(again.err, "already holds a run; continue it with 'soft train --resume"));
  CliResult no_ema = soft_cli({"eval", run, "--ema"});
  CHECK(no_ema.code == 1);
  CHECK(contains(no_ema.err, "the run kept no EMA"));
  CHECK(soft_cli({"train", "--config", config, "--run-dir", run, "--force"}).code == 0);
  CHECK(soft_cli({"train", "--resume", run}).code == 0);
}

TEST_CASE("train cli: missing, corrupt and ill-fitting data are one-line errors") {
  TempDir dir;
  // The tiny model with 10 classes and 4x4 landmark windows, for MNIST-layout data.
  Json model = Json::parse(kTinyModel);
  model["num_classes"] = 10;
  model["landmark_strides"] = {4, 4, 4};
  const std::string model10 = write_text(dir.file("model10.json"), model.dump());
  const std::string good = write_mnist_dir(dir, "good", 40, 8, 8);
  auto config = [&](const Json& data) {
    return tiny_train_config(dir, {{"model", {{"config", model10}}}, {"data", data}}, "data.json");
  };
  auto train = [&](const Json& data) {
    return soft_cli({"train", "--config", config(data), "--run-dir", dir.file("run"), "--force"});
  };
  CliResult ok = train({{"kind", "mnist"}, {"path", good}});
  INFO(ok.out << ok.err);
  CHECK(ok.code == 0);

  struct Case {
    Json data;
    std::string part;
  };
  const std::string corrupt = write_mnist_dir(dir, "corrupt", 40, 8, 8);
  fs::resize_file(corrupt + "/train-images-idx3-ubyte", 100);
  const std::string small = write_mnist_dir(dir, "small", 40, 3, 3);
  const std::string cifar = dir.file("cifar");
  fs::create_directories(cifar);
  write_text(cifar + "/data_batch_1.bin", std::string(3073 * 2 + 5, '\1'));
  const std::string cifar_missing = dir.file("cifar_missing");
  fs::create_directories(cifar_missing);
  const std::vector<Case> cases = {
      {{{"kind", "mnist"}, {"path", dir.file("nowhere")}}, "data.path " + dir.file("nowhere") + ": no such directory"},
      {{{"kind", "mnist"}, {"path", corrupt}}, "train-images-idx3-ubyte: truncated"},
      {{{"kind", "mnist"}, {"path", small}}, "the data's 3x3 images do not fit the model"},
      {{{"kind", "cifar10"}, {"path", cifar}}, "data_batch_1.bin: size 6151 bytes is not a multiple"},
      {{{"kind", "cifar10"}, {"path", cifar_missing}}, "data_batch_1.bin: no such file"},
      {{{"kind", "synthetic"}, {"synthetic", {{"classes", 4}}}}, "model tiny has 10 classes but the data"},
      {{{"kind", "synthetic"}, {"synthetic", {{"channels", 3}, {"classes", 10}}}}, "takes 1-channel images"},
      {{{"kind", "folder"}, {"path", dir.file("nowhere")}}, "no such directory"},
  };
  for (const Case& c : cases) {
    CliResult r = train(c.data);
    INFO(c.data.dump() << ": " << r.err);
    CHECK(r.code == 1);
    CHECK(contains(r.err, c.part));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

#ifdef SOFT_CLI_PATH
TEST_CASE("train cli: the built binary's exit statuses") {
  TempDir dir;
  const std::string config = tiny_train_config(dir);
  auto [usage, usage_out] = run_binary("train --config " + config + " --set optim.lrr=1");
  CHECK(usage == 2);
  CHECK(contains(usage_out, "soft: error: --set optim.lrr=1: unknown key 'optim.lrr'"));
  auto [fine, fine_out] = run_binary("train --config " + config + " --run-dir " + dir.file("run"));
  INFO(fine_out);
  CHECK(fine == 0);
  CHECK(contains(fine_out, "epoch 2/2: test top-1"));  // plain lines: stdout is a pipe
  CHECK_FALSE(contains(fine_out, "\r"));
  auto [nan, nan_out] = run_binary("train --config " + config + " --run-dir " + dir.file("nan") +
                                   " --set debug.nan_at_step=3");
  CHECK(nan == 1);
  CHECK(contains(nan_out, "soft: error: step 3"));
}
#endif
