// PyTorch checkpoints (nn/torch_checkpoint.h): the fixtures of tests/data/pth/make_pth.py, written
// by python3-torch, against tests/golden's safetensors weights and logits and against the values
// the generator put in; every hostile file of tests/data/bad/torch/ against its exact error.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/safetensors.h"
#include "models/config.h"
#include "models/soft.h"
#include "nn/state.h"
#include "nn/torch_checkpoint.h"
#include "nn/torch_pickle.h"
#include "ops/ops.h"
#include "tests/cli_runner.h"
#include "tests/temp_dir.h"

using namespace soft;

namespace {

const std::string kPth = std::string(SOFT_SOURCE_DIR) + "/tests/data/pth/";
const std::string kBad = std::string(SOFT_SOURCE_DIR) + "/tests/data/bad/torch/";
const std::string kGolden = std::string(SOFT_SOURCE_DIR) + "/tests/golden/";

Tensor golden_logits(const Safetensors& weights) {
  models::SoftModel model(models::load_config(kGolden + "golden_config.json"));
  nn::load_state(model, weights, weights.source);
  model.eval();
  NoGradGuard no_grad;
  return model.forward(load_safetensors(kGolden + "golden_input.safetensors").at("input"));
}

std::string error_of(const std::string& path, bool ema = false) {
  try {
    nn::load_weights(path, ema);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("an official-style training checkpoint gives the safetensors weights' logits") {
  Safetensors golden = load_safetensors(kGolden + "golden_weights.safetensors");
  Safetensors pth = nn::load_weights(kPth + "official.pth");
  REQUIRE(pth.tensors.size() == golden.tensors.size());
  Tensor expected = golden_logits(golden);
  Tensor logits = golden_logits(pth);
  CHECK(logits.to_vector() == expected.to_vector());  // the same weights, bit for bit
  CHECK(max(abs(logits - load_safetensors(kGolden + "golden_eval.safetensors").at("logits").to(DType::Float32)).reshape({-1}), 0).item() <
        1e-4);
  // --ema takes model_ema, whose head.bias the generator raised by 1: every logit is 1 higher.
  Tensor ema_logits = golden_logits(nn::load_weights(kPth + "official.pth", true));
  for (double d : (ema_logits - logits).to_vector()) CHECK(d == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("a bare state_dict of views into one shared storage, transposed, 'module.'-prefixed, loads") {
  Safetensors golden = load_safetensors(kGolden + "golden_weights.safetensors");
  Safetensors pth = nn::load_weights(kPth + "bare_views.pth");
  REQUIRE(pth.tensors.size() == golden.tensors.size());
  for (const auto& [name, t] : golden.tensors) {
    const Tensor* got = pth.find(name);  // the module. prefix is gone
    REQUIRE_MESSAGE(got, name);
    CHECK(got->shape() == t.shape());
    CHECK_MESSAGE(got->to(DType::Float32).to_vector() == t.to(DType::Float32).to_vector(), name);
  }
  CHECK(golden_logits(pth).to_vector() == golden_logits(golden).to_vector());
}

TEST_CASE("dtypes, a strided slice sharing its base's storage, 0-d and empty tensors; stored or deflated") {
  for (const char* file : {"dtypes.pth", "deflated.pth"}) {
    CAPTURE(file);
    Safetensors f = nn::load_weights(kPth + file);
    CHECK(f.metadata.at("format") == "pytorch");
    CHECK(f.at("half").dtype() == DType::Float32);
    std::vector<double> half = f.at("half").to_vector();
    CHECK(half[0] == 1.5);
    CHECK(half[1] == -2.25);
    CHECK(half[2] == 65504.0);
    CHECK(half[3] == doctest::Approx(5.9604644775390625e-8));  // the float16 subnormal nearest 6e-8
    CHECK(f.at("bf16").dtype() == DType::BFloat16);
    CHECK(f.at("bf16").to_vector()[1] == -3.5);
    CHECK(f.at("f64").dtype() == DType::Float64);
    CHECK(f.at("f64").to_vector() == std::vector<double>{1, 2, 3, 4});
    CHECK(f.at("i32").dtype() == DType::Int64);
    CHECK(f.at("i32").to_vector() == std::vector<double>{-7, 0, 2147483647});
    CHECK(f.at("u8").to_vector() == std::vector<double>{0, 200, 255});
    CHECK(f.at("flag").to_vector() == std::vector<double>{1, 0});
    CHECK(f.at("steps").dim() == 0);
    CHECK(f.at("steps").item() == 5);
    CHECK(f.at("slice").shape() == Shape{3, 3});  // base[1:, ::2]: offset 6, strides [6, 2]
    CHECK(f.at("slice").to_vector() == std::vector<double>{6, 8, 10, 12, 14, 16, 18, 20, 22});
    CHECK(f.at("base").to_vector()[23] == 23);
    CHECK(f.at("empty").shape() == Shape{0, 3});
  }
}

TEST_CASE("the legacy format and a missing EMA are refused with what to do") {
  CHECK(error_of(kPth + "legacy.pth").find("legacy format (before PyTorch 1.6)") != std::string::npos);
  CHECK(error_of(kPth + "legacy.pth").find("torch.save(torch.load(") != std::string::npos);
  CHECK(error_of(kPth + "dtypes.pth", true).find("no model_ema or state_dict_ema entry for --ema") != std::string::npos);
  // Each hostile file of tests/data/bad/torch/ has its exact error in tests/test_bad_files.cpp; here,
  // that the CLI turns one into exit status 1 and a message.
  auto bad = soft::test::run_binary("eval --config " + std::string(SOFT_SOURCE_DIR) +
                                    "/configs/train/fmnist.json --weights " + kBad + "nested_million.pth");
  CHECK(bad.first == 1);
  CHECK(bad.second.find("containers nested more than 1000 deep") != std::string::npos);
}

TEST_CASE("the unpickler keeps memo cycles and refuses what torch.save never writes") {
  // A list appended to itself through the memo: held in the arena, no recursion, no leak.
  const std::string cycle = std::string("\x80\x02]q\x00h\x00" "a.", 9);
  nn::pickle::Pickle p = nn::pickle::unpickle(cycle, "cycle");
  CHECK(p.at(p.root).items.size() == 1);
  CHECK(p.at(p.root).items[0] == p.root);
  auto refused = [](const std::string& bytes) {
    try {
      nn::pickle::unpickle(bytes, "x");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(refused(std::string("\x80\x02h\x05.", 5)).find("memo key 5 read before it was written") != std::string::npos);
  CHECK(refused("\x80\x02(.").find("STOP with 0 values") != std::string::npos);
  CHECK(refused(std::string("\x80\x02}K\x01s.", 7)).find("stack underflow") != std::string::npos);
  CHECK(refused("\x80\x02" "ccollections\nOrderedDict\n" "ctorch\nFloatStorage\n" ")R.")
            .find("refuses to call torch.FloatStorage") != std::string::npos);
  CHECK(nn::pickle::allowed_global("collections.OrderedDict"));
  CHECK(!nn::pickle::allowed_global("torch.load"));
}

TEST_CASE("soft convert, and .pth weights in soft infer, match the safetensors path") {
  soft::test::TempDir dir;
  const std::string converted = dir.path + "/w.safetensors";
  auto r = soft::test::soft_cli({"convert", kPth + "official.pth", converted});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("137 tensors") != std::string::npos);
  Safetensors golden = load_safetensors(kGolden + "golden_weights.safetensors");
  Safetensors back = load_safetensors(converted);
  for (const auto& [name, t] : golden.tensors) CHECK(back.at(name).to_vector() == t.to_vector());

  std::vector<std::vector<double>> logits;
  for (const std::string& weights : {kPth + "official.pth", converted, kPth + "bare_views.pth"}) {
    const std::string out = dir.path + "/y.safetensors";
    auto run = soft::test::soft_cli({"infer", "--model", kGolden + "golden_config.json", "--weights", weights, "--input",
                                     kGolden + "golden_input.safetensors", "--output", out});
    REQUIRE_MESSAGE(run.code == 0, run.err);
    logits.push_back(load_safetensors(out).at("logits").to_vector());
  }
  CHECK(logits[0] == logits[1]);
  CHECK(logits[0] == logits[2]);
  auto ema = soft::test::soft_cli({"infer", "--model", kGolden + "golden_config.json", "--weights", converted, "--ema",
                                   "--input", kGolden + "golden_input.safetensors", "--output", dir.path + "/z.safetensors"});
  CHECK(ema.code == 1);
  CHECK(ema.err.find("--ema applies to .pth training checkpoints") != std::string::npos);

  auto bad = soft::test::run_binary("convert " + kBad + "global_os_system.pth " + dir.path + "/x.safetensors");
  CHECK(bad.first == 1);
  CHECK(bad.second.find("refuses the global 'os.system'") != std::string::npos);
}
