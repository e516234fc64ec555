// soft predict (tools/predict_command.cpp): the probabilities it prints for committed images of
// every kind (RGB and grey JPEG; RGB, RGBA, palette, 16-bit grey PNG) equal the softmax of what
// `soft infer` computes on the same preprocessed tensor; an unreadable file gets its own error
// line while the others are predicted; a run folder supplies model, weights and labels.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/safetensors.h"
#include "nn/data/image_folder.h"
#include "ops/ops.h"
#include "tests/train_test_util.h"
#include "tools/train/class_names.h"

using namespace soft;
using namespace soft::test;

namespace {

const std::string kSource = SOFT_SOURCE_DIR;
const std::string kImages = kSource + "/tests/fuzz/corpus/image/";
const std::string kConfig = kSource + "/tests/golden/golden_config.json";
const std::string kWeights = kSource + "/tests/data/pth/official.pth";

std::vector<nlohmann::json> jsonl(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("predict: probabilities equal the softmax of infer's logits on the same preprocessed images") {
  const std::vector<std::string> files = {"colour.jpg", "grey.jpg", "rgb.png", "rgba.png", "palette.png", "grey16.png"};
  std::vector<std::string> args = {"predict", "--model", kConfig, "--weights", kWeights, "--topk", "10",
                                   "--format", "jsonl", "--batch", "4", "--images"};
  std::vector<Tensor> inputs;
  const double mean[3] = {0.485, 0.456, 0.406}, stdev[3] = {0.229, 0.224, 0.225};
  for (const std::string& f : files) {
    args.push_back(kImages + f);
    Tensor x = data::eval_image(data::decode_image(kImages + f), 64, 0.875,
                                data::Interpolation::Bicubic);  // [3, 64, 64]
    std::vector<Tensor> channels;
    for (int64_t c = 0; c < 3; ++c) channels.push_back(mul_scalar(add_scalar(squeeze(slice(x, 0, c, c + 1), 0), -mean[c]), 1.0 / stdev[c]));
    inputs.push_back(stack(channels, 0));
  }
  CliResult r = soft_cli(args);
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  const std::vector<nlohmann::json> lines = jsonl(r.out);
  REQUIRE(lines.size() == files.size());

  TempDir dir;
  save_safetensors(dir.file("x.safetensors"), {{"input", stack(inputs, 0)}});
  CliResult inf = soft_cli({"infer", "--model", kConfig, "--weights", kWeights, "--input", dir.file("x.safetensors"),
                            "--output", dir.file("y.safetensors")});
  REQUIRE(inf.code == 0);
  const std::vector<double> p = softmax(load_safetensors(dir.file("y.safetensors")).at("logits"), 1).to_vector();
  for (size_t n = 0; n < files.size(); ++n) {
    CAPTURE(files[n]);
    CHECK(lines[n]["file"] == kImages + files[n]);
    const auto& top = lines[n]["top"];
    REQUIRE(top.size() == 10);
    for (size_t i = 0; i < top.size(); ++i) {
      const int64_t c = top[i]["class"].get<int64_t>();
      CHECK(top[i]["label"] == std::to_string(c));
      CHECK(top[i]["prob"].get<double>() == doctest::Approx(p[n * 10 + static_cast<size_t>(c)]).epsilon(1e-6));
      if (i > 0) CHECK(top[i]["prob"].get<double>() <= top[i - 1]["prob"].get<double>());
    }
  }
}

TEST_CASE("predict: an unreadable file gets its own error, the others are predicted, the status is 1") {
  TempDir dir;
  write_text(dir.file("labels.txt"), "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n");
  CliResult r = soft_cli({"predict", "--model", kConfig, "--weights", kWeights, "--labels", dir.file("labels.txt"),
                          "--format", "jsonl", "--topk", "2", "--images", kImages + "rgb.png",
                          kSource + "/tests/data/bad/image/empty.png", dir.file("missing.jpg")});
  CHECK(r.code == 1);
  const std::vector<nlohmann::json> lines = jsonl(r.out);
  REQUIRE(lines.size() == 3);
  int errors = 0;
  for (const auto& line : lines) {
    if (line.contains("error")) {
      ++errors;
      CHECK(line["error"].get<std::string>().find(line["file"].get<std::string>()) != std::string::npos);
    } else {
      CHECK(line["top"].size() == 2);
      CHECK(line["top"][0]["label"].get<std::string>().size() >= 3);  // a name from the labels file
    }
  }
  CHECK(errors == 2);
}

TEST_CASE("predict: a run folder gives the model, weights, normalisation and class names") {
  TempDir dir;
  const std::string run = dir.file("run");
  CliResult r = soft_cli({"train", "--config", tiny_train_config(dir), "--run-dir", run});
  REQUIRE(r.code == 0);
  r = soft_cli({"predict", run, "--images", kImages, "--format", "csv"});
  INFO(r.out, r.err);
  CHECK(r.code == 0);
  CHECK(r.out.rfind("file,rank,class,label,prob\n", 0) == 0);
  CHECK(r.out.find(kImages + "grey16.png,4,") != std::string::npos);  // 4 classes, all shown
  CHECK(soft_cli({"predict", run, "--images", dir.file("nothing_here")}).code == 1);
}

TEST_CASE("predict: a run folder keeps its dataset's class names in classes.txt") {
  TempDir dir;
  tools::train::TrainConfig c;
  c.data.kind = "mnist";
  c.data.path = "/usr/share/datasets/Fashion-MNIST";
  CHECK(tools::train::dataset_class_names(c, 10)[3] == "Dress");
  CHECK(tools::train::dataset_class_names(c, 7).empty());  // another class count: numbers only
  c.data.path = "/data/mnist";
  CHECK(tools::train::dataset_class_names(c, 10)[3] == "3");
  c.data.kind = "cifar10";
  CHECK(tools::train::dataset_class_names(c, 10)[9] == "truck");
  c.data.kind = "folder";
  c.data.path = dir.file("photos");
  for (const char* cls : {"zebra", "cat", "dog"}) std::filesystem::create_directories(c.data.path + "/train/" + cls);
  tools::train::RunFolder run{dir.file("run")};
  std::filesystem::create_directories(run.dir);
  tools::train::write_class_names(run, c, 3);
  std::filesystem::remove_all(c.data.path);  // the names stay with the run
  CHECK(tools::train::run_class_names(run, c, 3) == std::vector<std::string>{"cat", "dog", "zebra"});
  c.data.kind = "synthetic";
  tools::train::write_class_names(run, c, 3);
  CHECK(!std::filesystem::exists(tools::train::class_names_file(run)));
}
