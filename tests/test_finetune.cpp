// Fine-tuning (tools/train/init_weights.h, soft train --init / --num-classes): matching tensors
// load, the head is re-initialised for another class count, position embeddings are resized for
// another image size (giving the logits the source model computes at that size), other mismatches
// are errors; a run started from a trained run's weights continues at its accuracy.
#include <doctest/doctest.h>

#include "autograd/grad_mode.h"
#include "core/safetensors.h"
#include "models/config.h"
#include "nn/state.h"
#include "nn/torch_checkpoint.h"
#include "ops/ops.h"
#include "tests/train_test_util.h"
#include "tools/train/init_weights.h"

using namespace soft;
using namespace soft::test;

namespace {

const std::string kGolden = std::string(SOFT_SOURCE_DIR) + "/tests/golden/";
const std::string kOfficial = std::string(SOFT_SOURCE_DIR) + "/tests/data/pth/official.pth";

models::SoftConfig golden_config() { return models::load_config(kGolden + "golden_config.json"); }

Tensor state_of(models::SoftModel& model, const std::string& name) {
  for (const auto& [n, t] : model.state())
    if (n == name) return t;
  FAIL("no state ", name);
  return Tensor();
}

std::string error_of(models::SoftModel& model, const std::string& path) {
  try {
    tools::train::init_from_weights(model, path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

double last_eval_top1(const std::string& run) {
  double top1 = -1;
  for (const Json& line : metrics_without_timing(run))
    if (line["kind"] == "eval") top1 = line["top1"].get<double>();
  return top1;
}

}  // namespace

TEST_CASE("init: another class count re-initialises only the head") {
  models::SoftConfig c = golden_config();
  c.num_classes = 7;
  manual_seed(3);
  models::SoftModel model(c);
  const std::vector<double> fresh_head = state_of(model, "head.weight").to_vector();
  tools::train::InitReport r = tools::train::init_from_weights(model, kOfficial);
  REQUIRE(r.reinitialised.size() == 2);
  CHECK(r.reinitialised[0] == "head.weight [10, 40] -> [7, 40]");
  CHECK(r.reinitialised[1] == "head.bias [10] -> [7]");
  CHECK(r.resized.empty());
  CHECK(r.left_out.empty());
  CHECK(state_of(model, "head.weight").to_vector() == fresh_head);
  Safetensors file = nn::load_weights(kOfficial);
  size_t compared = 0;
  for (const auto& [name, t] : model.state()) {
    if (name.rfind("head.", 0) == 0) continue;
    CHECK_MESSAGE(t.to_vector() == file.at(name).to_vector(), name);
    ++compared;
  }
  CHECK(compared == r.loaded.size());
  CHECK(tools::train::describe(r).find("re-initialised (head.weight [10, 40] -> [7, 40]") != std::string::npos);
}

TEST_CASE("init: another image size resizes the position embeddings as the source model's forward does") {
  Json json = Json::parse(models::config_to_json(golden_config()));
  json["img_size"] = 96;
  json.erase("pos_embed_grids");  // derived again from img_size
  models::SoftConfig big = models::parse_config(json.dump(), "96px");
  models::SoftConfig small = golden_config();
  REQUIRE(big.pos_embed_grids[0] != small.pos_embed_grids[0]);
  models::SoftModel source(small), resized(big);
  nn::load_state(source, nn::load_weights(kOfficial), kOfficial);
  tools::train::InitReport r = tools::train::init_from_weights(resized, kOfficial);
  CHECK(r.resized.size() == 4);
  CHECK(r.reinitialised.empty());
  source.eval();
  resized.eval();
  NoGradGuard no_grad;
  Generator gen(9);
  Tensor x = uniform({2, 3, 96, 96}, -1.0, 1.0, gen);
  std::vector<double> a = source.forward(x).to_vector(), b = resized.forward(x).to_vector();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-5));
}

TEST_CASE("init: weights of another architecture are an error listing the tensors") {
  models::SoftConfig c = golden_config();
  c.embed_dims[3] = 48;
  c.num_heads[3] = 6;
  models::SoftModel model(c);
  const std::string err = error_of(model, kOfficial);
  INFO(err);
  CHECK(err.find("cannot initialise soft_golden from these weights") != std::string::npos);
  CHECK(err.find("other shapes: ") != std::string::npos);
  CHECK(err.find("cls_token [1, 1, 40] in the file, [1, 1, 48] in the model") != std::string::npos);
}

TEST_CASE("train --init from a trained run continues at its accuracy; --num-classes re-initialises the head") {
  TempDir dir;
  const std::string trained = dir.file("trained");
  CliResult r = soft_cli({"train", "--config", tiny_train_config(dir, {{"epochs", 12}}), "--run-dir", trained});
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  const double top1 = last_eval_top1(trained);
  REQUIRE(top1 >= 0.9);

  // One epoch at a tiny learning rate: the first evaluation sees (nearly) the trained weights.
  const std::string cont = dir.file("continued");
  r = soft_cli({"train", "--config", tiny_train_config(dir, {{"epochs", 1}, {"optim", {{"lr", 1e-7}}}, {"schedule", {{"min_lr", 0.0}}}}, "c.json"),
                "--run-dir", cont, "--init", trained});
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("init from " + trained + "/best.safetensors, step 20: 83 tensors loaded") != std::string::npos);
  CHECK(r.out.find("re-initialised") == std::string::npos);
  CHECK(std::abs(last_eval_top1(cont) - top1) <= 0.05);

  // Six classes: the head is re-initialised, nothing else.
  const std::string six = dir.file("six");
  r = soft_cli({"train", "--config", tiny_train_config(dir, {{"epochs", 1}}, "six.json"), "--run-dir", six, "--init",
                trained, "--num-classes", "6", "--set", "data.synthetic.classes=6"});
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("2 re-initialised (head.weight [4, 16] -> [6, 16], head.bias [4] -> [6])") != std::string::npos);
  CHECK(Json::parse(std::ifstream(six + "/model.json"))["num_classes"] == 6);
}

TEST_CASE("a warm-up longer than the run is shortened with a note") {
  TempDir dir;
  CliResult r = soft_cli({"train", "--config", tiny_train_config(dir, {{"epochs", 1}}), "--run-dir", dir.file("w"),
                          "--set", "schedule.warmup_epochs=10"});
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("note: the warm-up of 10 epochs is not shorter than the 1-epoch run; shortened to 0.1 epochs") !=
        std::string::npos);
}
