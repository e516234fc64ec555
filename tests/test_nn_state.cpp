// nn/: strict state loading and saving (nn/state.h).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "nn/state.h"
#include "tests/nn_test_util.h"
#include "tests/temp_dir.h"

using namespace soft;
using namespace soft::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("nn: save_state/load_state round trip (values, dtypes, int64 buffer, metadata)") {
  TempDir dir;
  std::string path = dir.file("net.safetensors");
  manual_seed(31);
  auto a = small_net();
  for (auto& [name, t] : a->state())
    if (is_floating(t.dtype())) randomize(t, 0.1, 0.9);
  {
    NoGradGuard no_grad;
    Tensor nbt = a->at<nn::BatchNorm2d>(1).num_batches_tracked;
    fill_(nbt, 7);
  }
  nn::save_state(*a, path, {{"format", "pt"}});
  Safetensors file = load_safetensors(path);
  CHECK(file.metadata.at("format") == "pt");
  CHECK(file.at("1.num_batches_tracked").dtype() == DType::Int64);

  manual_seed(32);
  auto b = small_net();
  nn::load_state(*b, path);
  auto sa = a->state(), sb = b->state();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(sb[i].second.dtype() == sa[i].second.dtype());
    CHECK(sb[i].second.shape() == sa[i].second.shape());
    CHECK(sb[i].second.to_vector() == sa[i].second.to_vector());
    CHECK(sb[i].second.requires_grad() == sa[i].second.requires_grad());
  }
  CHECK(b->at<nn::BatchNorm2d>(1).num_batches_tracked.item() == 7);

  // Loading converts the file's dtype to the model's.
  auto c = small_net();
  c->to(DType::Float64);
  nn::load_state(*c, path);
  CHECK(c->at<nn::Linear>(0).weight.dtype() == DType::Float64);
  CHECK(c->at<nn::Linear>(0).weight.to_vector() == a->at<nn::Linear>(0).weight.to_vector());
}

TEST_CASE("nn: strict load_state lists missing, unexpected and mis-shaped tensors in one error, loads nothing") {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  manual_seed(41);
  auto src = small_net();
  NamedTensors tensors;
  for (auto& [name, t] : src->state()) {
    if (name == "0.bias" || name == "1.running_var") continue;                    // missing
    if (name == "0.weight") tensors.emplace_back(name, zeros({4, 2}));           // wrong shape
    else if (is_floating(t.dtype())) tensors.emplace_back(name, add_scalar(t.detach(), 1.0));  // valid, other values
    else tensors.emplace_back(name, full(t.shape(), 5, t.dtype()));
  }
  tensors.emplace_back("extra.weight", ones({2}));  // unexpected
  save_safetensors(path, tensors);

  manual_seed(42);
  auto dst = small_net();
  std::vector<Vec> before;
  for (auto& [name, t] : dst->state()) before.push_back(t.to_vector());
  std::string msg = error_of([&] { nn::load_state(*dst, path); });
  INFO(msg);
  for (const char* part : {"missing", "0.bias", "1.running_var", "unexpected", "extra.weight", "wrong shape", "0.weight",
                           "[4, 2]", "[4, 3]"})
    CHECK(contains(msg, part));
  CHECK(contains(msg, path));
  auto after = dst->state();
  for (size_t i = 0; i < after.size(); ++i) {
    INFO(after[i].first);
    CHECK(after[i].second.to_vector() == before[i]);
  }

  // Many missing names are summarised.
  std::string empty_path = dir.file("empty.safetensors");
  save_safetensors(empty_path, {});
  msg = error_of([&] { nn::load_state(*dst, empty_path); });
  CHECK(contains(msg, "missing"));
  CHECK(contains(msg, "(and 1 more)"));  // 9 entries, 8 shown
}
