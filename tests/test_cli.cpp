// The `soft` command (tools/): `soft info` (parameters, grids, landmarks, MACs), `soft infer`
// (golden logits, error cases), help and exit statuses. Subcommands run in-process through
// tools::run(); the last case runs the built binary (SOFT_CLI_PATH) to see main()'s exit codes.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "models/info.h"
#include "models/soft.h"
#include "tests/cli_runner.h"
#include "tests/temp_dir.h"
#ifdef SOFT_HAS_CUDA
#include "cuda/device.h"
#endif

using namespace soft;
using soft::test::CliResult;
using soft::test::soft_cli;
using soft::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kGolden = std::string(SOFT_SOURCE_DIR) + "/tests/golden/";

nlohmann::json info_json(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"info", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CliResult r = soft_cli(args);
  INFO(r.err);
  REQUIRE(r.code == 0);
  return nlohmann::json::parse(r.out);
}

std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The golden model config with some keys replaced.
std::string golden_config_with(const TempDir& dir, const nlohmann::json& changes) {
  std::ifstream in(kGolden + "golden_config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& [k, v] : changes.items()) j[k] = v;
  return write_text(dir.file("config.json"), j.dump());
}

// A config small enough to count its MACs by hand (test "info MACs ..." below).
const char* kHandConfig = R"({
  "name": "hand", "img_size": 8, "in_chans": 1, "num_classes": 3,
  "embed_dims": [8, 8, 8, 8], "num_heads": [2, 1, 1, 2], "depths": [1, 0, 0, 1],
  "stem_strides": [1, 1, 1], "patch_strides": [2, 2, 2], "landmark_strides": [2, 2, 2],
  "local_kernels": [3, 3, 3], "stem_width": 2, "newton_iterations": 3, "mlp_ratio_stage4": 2})";

}  // namespace

TEST_CASE("cli: info parameter counts of the official models equal the official code's") {
  const std::map<std::string, int64_t> expected = {{"soft_tiny", 13069056},
                                                   {"soft_small", 38858462},
                                                   {"soft_medium", 45812707},
                                                   {"soft_large", 64700646},
                                                   {"soft_huge", 87108273}};
  for (const auto& [name, params] : expected) {
    nlohmann::json j = info_json({"--model", name});
    INFO(name);
    CHECK(j["parameters"].get<int64_t>() == params);
    int64_t sum = j["head"]["parameters"].get<int64_t>();  // the stages and the head partition the parameters
    for (const auto& s : j["stages"]) sum += s["parameters"].get<int64_t>();
    CHECK(sum == params);
  }
  CliResult text = soft_cli({"info", "--model", "soft_tiny"});
  CHECK(text.code == 0);
  CHECK(contains(text.out, "13,069,056"));
  CHECK(contains(text.out, "How MACs are counted"));
}

TEST_CASE("cli: info parameter counts equal the built models', stage by stage") {
  TempDir dir;
  std::string hand = write_text(dir.file("hand.json"), kHandConfig);
  // (The five official models' built counts are checked against the official code's in test_models.cpp.)
  for (const std::string& name : {std::string("soft_fmnist"), std::string("soft_cifar"),
                                  kGolden + "golden_config.json", hand}) {
    INFO(name);
    models::SoftModel model(models::resolve_config(name));
    nlohmann::json j = info_json({"--model", name});
    CHECK(j["parameters"].get<int64_t>() == model.num_parameters());
    // Each stage owns patch_embed{s}, pos_embed{s}, block{s} (stage 4 also cls_token); the head
    // owns norm and head.
    std::array<int64_t, 5> owned{};
    for (const auto& [param, t] : model.named_parameters()) {
      int part = param.rfind("norm.", 0) == 0 || param.rfind("head.", 0) == 0 ? 4
                 : param == "cls_token"                                      ? 3
                                                                             : param[param.find_first_of("1234")] - '1';
      owned[part] += t.numel();
    }
    for (int s = 0; s < 4; ++s) CHECK(j["stages"][s]["parameters"].get<int64_t>() == owned[s]);
    CHECK(j["head"]["parameters"].get<int64_t>() == owned[4]);
  }
}

TEST_CASE("cli: info token grids and landmarks of soft_tiny at 224") {
  nlohmann::json j = info_json({"--model", "soft_tiny", "--img", "224"});
  const int64_t grid[4] = {56, 28, 14, 7}, tokens[4] = {3136, 784, 196, 49}, landmarks[4] = {49, 49, 49, 0};
  for (int s = 0; s < 4; ++s) {
    const auto& st = j["stages"][s];
    CHECK(st["grid"] == nlohmann::json::array({grid[s], grid[s]}));
    CHECK(st["tokens"].get<int64_t>() == tokens[s]);
    CHECK(st["landmarks"].get<int64_t>() == landmarks[s]);
    CHECK(st["cls_token"].get<bool>() == (s == 3));  // 49 + 1 tokens in stage 4
    CHECK(st["attention"] == (s < 3 ? "soft" : "softmax"));
    CHECK(st["head_dim"].get<int64_t>() == 32);
  }
  CHECK(j["image"] == nlohmann::json::array({224, 224}));
  // Default size = the config's img_size; a non-square size gives non-square grids.
  CHECK(info_json({"--model", "soft_tiny"})["macs"] == j["macs"]);
  nlohmann::json wide = info_json({"--model", "soft_tiny", "--img", "224x448"});
  CHECK(wide["stages"][0]["grid"] == nlohmann::json::array({56, 112}));
  CHECK(wide["stages"][0]["landmarks"].get<int64_t>() == 7 * 14);
}

TEST_CASE("cli: info MACs of a small config, counted by hand") {
  TempDir dir;
  std::string hand = write_text(dir.file("hand.json"), kHandConfig);
  // Input 1 x 8 x 12. Stem strides 1: stage-1 grid 8x12 (96 tokens); patch strides 2: 4x6, 2x3,
  // 1x2. Stages 2 and 3 have no blocks, only their patch embedding.
  const int64_t stem = 2 * 1 * 9 * 96     // conv 1 -> 2, 3x3, at 8x12
                       + 2 * 2 * 9 * 96   // conv 2 -> 2
                       + 8 * 2 * 9 * 96;  // conv 2 -> 8
  const int64_t patches = 8 * 8 * 9 * 24 + 8 * 8 * 9 * 6 + 8 * 8 * 9 * 2;  // 8 -> 8 convs at 4x6, 2x3, 1x2
  // Stage-1 SOFT block: N = 96, C = 8, h = 2 heads of d = 4, r = 2 so m = 4 * 6 = 24, k = 3, 3 Newton iterations.
  const int64_t linears1 = 96 * (3 * 8 * 8)  // W_q, W_v, ff
                           + 96 * 8 * 32     // ff1 (8 -> 32)
                           + 96 * 32 * 8;    // ff2
  const int64_t landmark = 2 * (4 * 4 * 2 * 2 * 24);         // per head: d x d x r x r conv at 24 outputs
  const int64_t local = 2 * (3 * 3 * 96 * 4);                // per head: 3x3 per token per channel
  const int64_t gaussian = 2 * (96 * 24 * 4 + 24 * 24 * 4);  // per head: K1 N*m*d, K2 m*m*d
  const int64_t newton = 2 * (3 * 2 * 24 * 24 * 24);         // per head: 3 iterations of V P and (V P) V
  const int64_t products = 2 * (96 * 24 * 24 + 96 * 24 * 4 + 96 * 24 * 4);  // K1 K2inv, K1^T V, product
  // Stage-4 block: 1 * 2 tokens + cls = 3, C = 8, 2 heads of 4, MLP 8 -> 16 -> 8.
  const int64_t linears4 = 3 * (8 * 8 + 8 * 16 + 8 * 8 + 8 * 16 + 16 * 8);  // q, kv, proj, fc1, fc2
  const int64_t softmax = 2 * (3 * 3 * 4 + 3 * 3 * 4);                      // per head: Q K^T, A V
  const int64_t head = 8 * 3;                                                // classifier on the cls token
  nlohmann::json j = info_json({"--model", hand, "--img", "8x12"});
  const auto& macs = j["macs"];
  CHECK(macs["embed_convs"].get<int64_t>() == stem + patches);
  CHECK(macs["linears"].get<int64_t>() == linears1 + linears4 + head);
  CHECK(macs["landmark_convs"].get<int64_t>() == landmark);
  CHECK(macs["local_convs"].get<int64_t>() == local);
  CHECK(macs["gaussian_kernels"].get<int64_t>() == gaussian);
  CHECK(macs["newton"].get<int64_t>() == newton);
  CHECK(macs["soft_products"].get<int64_t>() == products);
  CHECK(macs["softmax_products"].get<int64_t>() == softmax);
  CHECK(macs["total"].get<int64_t>() == 453096);  // the sum of all the above
  CHECK(j["stages"][0]["landmarks"].get<int64_t>() == 24);
  // The NeurIPS form adds one residual product P V (m^3) per head per block.
  std::string neurips = hand.substr(0, hand.size() - 5) + "_neurips.json";
  nlohmann::json nj = nlohmann::json::parse(kHandConfig);
  nj["newton_form"] = "neurips";
  write_text(neurips, nj.dump());
  CHECK(info_json({"--model", neurips, "--img", "8x12"})["macs"]["newton"].get<int64_t>() == newton + 2 * 24 * 24 * 24);
}

TEST_CASE("cli: info usage and runtime errors") {
  CliResult r = soft_cli({"info", "--model", "no_such_model"});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "soft: error: unknown model 'no_such_model'"));
  for (std::string img : {"0", "-3", "abc", "12x", "x12", "70000"}) {
    r = soft_cli({"info", "--model", "soft_tiny", "--img", img});
    CHECK(r.code == 2);
    CHECK(contains(r.err, "--img " + img));
  }
  r = soft_cli({"info", "--model", "soft_tiny", "--img", "28"});  // stage-1 grid 7x7 < r = 8
  CHECK(r.code == 2);
  CHECK(contains(r.err, "7x7 token grid, smaller than its landmark stride 8"));
  CHECK(contains(r.err, "smallest square image this model takes is 29x29"));
  CHECK(soft_cli({"info", "--model", "soft_tiny", "--img", "29"}).code == 0);
  r = soft_cli({"info", "--model", "soft_tiny", "--verbose"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "unknown flag '--verbose'"));
  CHECK(contains(r.err, "soft info --help"));
  r = soft_cli({"info", "--json"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "missing required flag '--model NAME'"));
  r = soft_cli({"info", "--model", "--json"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "'--model' needs a value"));
  r = soft_cli({"info", "--model", "soft_tiny", "--model", "soft_huge"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "given twice"));
}

TEST_CASE("cli: help and unknown commands") {
  CliResult r = soft_cli({"--help"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "info"));
  CHECK(contains(r.out, "infer"));
  CHECK(contains(r.out, "Exit status"));
  CHECK(soft_cli({"help"}).out == r.out);
  r = soft_cli({"help", "infer"});
  CHECK(r.code == 0);
  for (const char* flag : {"--model", "--weights", "--input", "--output", "--num-classes", "--threads"})
    CHECK(contains(r.out, flag));
  CHECK(soft_cli({"infer", "--help"}).out == r.out);
  r = soft_cli({"info", "-h"});
  CHECK(r.code == 0);
  for (const char* flag : {"--model", "--img", "--json", "MAC"}) CHECK(contains(r.out, flag));
  r = soft_cli({"frobnicate"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "unknown command 'frobnicate'"));
  CHECK(contains(r.err, "soft --help"));
  r = soft_cli({"--frobnicate"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "unknown flag '--frobnicate'"));
  CHECK(soft_cli({}).code == 2);
  CHECK(soft_cli({"help", "frobnicate"}).code == 2);
}

TEST_CASE("cli: infer reproduces the golden logits") {
  TempDir dir;
  std::string output = dir.file("logits.safetensors");
  CliResult r = soft_cli({"infer", "--model", kGolden + "golden_config.json", "--weights",
                       kGolden + "golden_weights.safetensors", "--input", kGolden + "golden_input.safetensors",
                       "--output", output});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, "batch 2"));
  Tensor logits = load_safetensors(output).at("logits");
  Tensor expected = load_safetensors(kGolden + "golden_eval.safetensors").at("logits");
  CHECK(logits.dtype() == DType::Float32);
  REQUIRE(logits.shape() == Shape{2, 10});
  std::vector<double> a = logits.to_vector(), b = expected.to_vector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  INFO("normwise error ", diff / scale);
  CHECK(diff / scale <= 1e-4);
}

TEST_CASE("cli: infer --device runs where asked, and names a missing GPU or an unknown device") {
  TempDir dir;
  auto infer_on = [&](const std::string& device) {
    return soft_cli({"infer", "--model", kGolden + "golden_config.json", "--weights",
                     kGolden + "golden_weights.safetensors", "--input", kGolden + "golden_input.safetensors",
                     "--output", dir.file(device + ".safetensors"), "--device", device});
  };
  CliResult r = infer_on("tpu");
  CHECK(r.code == 1);
  CHECK(contains(r.err, "'tpu'"));
  r = infer_on("cpu");
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, "on cpu"));
  bool gpu = false;
#ifdef SOFT_HAS_CUDA
  gpu = cuda::device_count() > 0;
#endif
  r = infer_on("cuda:0");
  if (!gpu) {  // no backend or no GPU: exit 1 with a message about CUDA
    CHECK(r.code == 1);
    CHECK(contains(r.err, "cuda"));
    return;
  }
  REQUIRE(r.code == 0);
  std::vector<double> a = load_safetensors(dir.file("cuda:0.safetensors")).at("logits").to_vector();
  std::vector<double> b = load_safetensors(dir.file("cpu.safetensors")).at("logits").to_vector();
  for (size_t i = 0; i < a.size(); ++i) CHECK(std::fabs(a[i] - b[i]) <= 1e-4 * (1 + std::fabs(b[i])));
}

TEST_CASE("cli: infer errors name the problem") {
  TempDir dir;
  const std::string config = kGolden + "golden_config.json", weights = kGolden + "golden_weights.safetensors",
                    input = kGolden + "golden_input.safetensors", output = dir.file("out.safetensors");
  auto infer = [&](const std::string& model, const std::string& w, const std::string& x,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"infer", "--model", model, "--weights", w, "--input", x, "--output", output};
    args.insert(args.end(), extra.begin(), extra.end());
    return soft_cli(args);
  };
  auto write_input = [&](const std::string& name, const std::string& key, const Tensor& t) {
    save_safetensors(dir.file(name), {{key, t}});
    return dir.file(name);
  };

  SUBCASE("missing weights file") {
    CliResult r = infer(config, dir.file("nope.safetensors"), input);
    CHECK(r.code == 1);
    CHECK(contains(r.err, "nope.safetensors: cannot open"));
  }
  SUBCASE("weights of another model: the strict load lists the differences") {
    CliResult r = infer("soft_cifar", weights, input);
    CHECK(r.code == 1);
    CHECK(contains(r.err, "the weights do not match the model"));
    CHECK(contains(r.err, "missing: block3.1."));
    CHECK(contains(r.err, "wrong shape: pos_embed1 [1, 256, 16] in the file, [1, 256, 64] in the model"));
    r = infer(golden_config_with(dir, {{"depths", {1, 1, 1, 1}}}), weights, input);
    CHECK(r.code == 1);
    CHECK(contains(r.err, "unexpected: block2.1."));
  }
  SUBCASE("weights with another number of classes") {
    CliResult r = infer(golden_config_with(dir, {{"num_classes", 100}}), weights, input);
    CHECK(r.code == 1);
    CHECK(contains(r.err, "weights have 10 classes (head.weight [10, 40])"));
    CHECK(contains(r.err, "pass --num-classes 10"));
    r = infer(golden_config_with(dir, {{"num_classes", 100}}), weights, input, {"--num-classes", "10"});
    CHECK(r.code == 0);
    fs::remove(output);
    r = infer(config, weights, input, {"--num-classes", "7"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "--num-classes is 7; pass --num-classes 10"));
  }
  SUBCASE("wrong input channels, rank, dtype, size") {
    CliResult r = infer(config, weights, write_input("c1.safetensors", "input", uniform({2, 1, 64, 56}, -1, 1)));
    CHECK(r.code == 1);
    CHECK(contains(r.err, "'input' has shape [2, 1, 64, 56]; soft_golden needs float32 [B, 3, H, W]"));
    r = infer(config, weights, write_input("rank3.safetensors", "input", uniform({3, 64, 56}, -1, 1)));
    CHECK(r.code == 1);
    CHECK(contains(r.err, "'input' has shape [3, 64, 56]"));
    Tensor f64 = uniform({1, 3, 64, 56}, -1, 1).to(DType::Float64);
    r = infer(config, weights, write_input("f64.safetensors", "input", f64));
    CHECK(r.code == 1);
    CHECK(contains(r.err, "'input' has dtype float64; soft infer needs float32"));
    r = infer(config, weights, write_input("small.safetensors", "input", uniform({1, 3, 8, 8}, -1, 1)));
    CHECK(r.code == 1);
    CHECK(contains(r.err, "smaller than its landmark stride"));
  }
  SUBCASE("no 'input' key") {
    CliResult r = infer(config, weights, write_input("images.safetensors", "images", uniform({1, 3, 64, 56}, -1, 1)));
    CHECK(r.code == 1);
    CHECK(contains(r.err, "no tensor named 'input' (the file holds: images)"));
  }
  SUBCASE("corrupt safetensors") {
    std::ifstream in(input, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string truncated = dir.file("truncated.safetensors");
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    CliResult r = infer(config, weights, truncated);
    CHECK(r.code == 1);
    CHECK(contains(r.err, "soft: error: " + truncated + ": "));
    std::ofstream(truncated, std::ios::binary) << "garbage";
    r = infer(config, truncated, input);
    CHECK(r.code == 1);
    CHECK(contains(r.err, truncated + ": "));
  }
  SUBCASE("usage errors") {
    CHECK(infer(config, weights, input, {"--threads", "0"}).code == 2);
    CHECK(infer(config, weights, input, {"--num-classes", "ten"}).code == 2);
    CHECK(infer(config, weights, input, {"--batch", "4"}).code == 2);
    CHECK(soft_cli({"infer", "--model", config, "--weights", weights, "--input", input}).code == 2);  // no --output
  }
  CHECK(!fs::exists(output));  // nothing is written when anything fails
}

#ifdef SOFT_CLI_PATH
using soft::test::run_binary;

TEST_CASE("cli: the soft binary's exit statuses") {
  auto [code, out] = run_binary("--help");
  CHECK(code == 0);
  CHECK(contains(out, "Usage: soft"));
  std::tie(code, out) = run_binary("frobnicate");
  CHECK(code == 2);
  CHECK(contains(out, "soft: error: unknown command 'frobnicate'"));
  std::tie(code, out) = run_binary("info --model no_such_model");
  CHECK(code == 1);
  CHECK(contains(out, "soft: error: unknown model"));
  std::tie(code, out) = run_binary("info --model soft_tiny --img 28");
  CHECK(code == 2);
  TempDir dir;
  std::tie(code, out) = run_binary("infer --model " + kGolden + "golden_config.json --weights " + kGolden +
                                   "golden_weights.safetensors --input " + kGolden +
                                   "golden_input.safetensors --output " + dir.file("logits.safetensors"));
  INFO(out);
  CHECK(code == 0);
  CHECK(fs::exists(dir.file("logits.safetensors")));
  std::tie(code, out) = run_binary("infer --model " + kGolden + "golden_config.json --weights " + dir.file("no") +
                                   " --input " + kGolden + "golden_input.safetensors --output " + dir.file("x"));
  CHECK(code == 1);
  CHECK(contains(out, "cannot open"));
}
#endif
