// The SOFT model zoo: official parameter counts and names, configs, and shapes through a forward.
#include <doctest/doctest.h>

#include "autograd/grad_mode.h"
#include "models/info.h"
#include "models/soft.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::models;

namespace {

bool has_key(const nn::Module& m, const std::string& key, const Shape& shape) {
  for (const auto& [name, t] : m.state())
    if (name == key) return t.shape() == shape;
  return false;
}

}  // namespace

TEST_CASE("the five official models have the official code's parameter counts") {
  // Counted on the official PyTorch code (docs/MODEL.md).
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"soft_tiny", 13069056}, {"soft_small", 38858462}, {"soft_medium", 45812707},
      {"soft_large", 64700646}, {"soft_huge", 87108273}};
  for (const auto& [name, count] : expected) {
    INFO(name);
    SoftModel model(resolve_config(name));
    CHECK(model.num_parameters() == count);
  }
}

TEST_CASE("state names and shapes are the official state_dict keys") {
  SoftModel m(resolve_config("soft_tiny"));
  CHECK(has_key(m, "patch_embed1.proj.0.weight", {32, 3, 3, 3}));
  CHECK(has_key(m, "patch_embed1.proj.1.running_mean", {32}));
  CHECK(has_key(m, "patch_embed1.proj.7.num_batches_tracked", {}));
  CHECK(has_key(m, "pos_embed1", {1, 3136, 64}));
  CHECK(has_key(m, "pos_embed4", {1, 50, 512}));
  CHECK(has_key(m, "block1.0.att.mha.W_q.weight", {64, 64}));
  CHECK(has_key(m, "block1.0.att.mha.attn.Qlandmark_op.weight", {32, 32, 8, 8}));
  CHECK(has_key(m, "block1.0.att.mha.attn.Qnorm_act.0.weight", {32}));
  CHECK(has_key(m, "block1.0.att.mha.attn.conv.weight", {2, 1, 9, 9}));
  CHECK(has_key(m, "block1.0.att.mha.ff.bias", {64}));
  CHECK(has_key(m, "block1.0.att.norm1.weight", {64}));
  CHECK(has_key(m, "block1.0.att.ff1.weight", {256, 64}));
  CHECK(has_key(m, "block3.2.att.mha.attn.conv.weight", {10, 1, 3, 3}));
  CHECK(has_key(m, "block4.0.attn.q.weight", {512, 512}));
  CHECK(has_key(m, "block4.0.attn.kv.weight", {1024, 512}));
  CHECK(has_key(m, "block4.1.attn.proj.weight", {512, 512}));
  CHECK(has_key(m, "block4.0.mlp.fc1.weight", {2048, 512}));
  CHECK(has_key(m, "block4.0.norm1.weight", {512}));
  CHECK(has_key(m, "norm.weight", {512}));
  CHECK(has_key(m, "cls_token", {1, 1, 512}));
  CHECK(has_key(m, "head.weight", {1000, 512}));
  CHECK(m.state().size() == 187);  // 169 parameters + 18 BatchNorm buffers, as the official model
}

TEST_CASE("model configs: unknown keys, wrong types and impossible values are named errors") {
  CHECK_THROWS_WITH_AS(parse_config(R"({"embed_dim": [1, 2, 3, 4]})", "c.json"),
                       "c.json: unknown key 'embed_dim' in the model config", Error);
  CHECK_THROWS_WITH_AS(parse_config(R"({"depths": [1, 2, 3]})", "c.json"),
                       "c.json: key 'depths' must be a list of 4 integers, got [1,2,3]", Error);
  CHECK_THROWS_WITH_AS(parse_config(R"({"num_classes": "ten"})", "c.json"),
                       "c.json: key 'num_classes' must be an integer, got \"ten\"", Error);
  CHECK_THROWS_AS(parse_config(R"({"embed_dims": [64, 128, 320, 500]})", "c.json"), Error);
  CHECK_THROWS_AS(parse_config(R"({"newton_form": "exact"})", "c.json"), Error);
  CHECK_THROWS_AS(parse_config("{not json", "c.json"), Error);
  CHECK_THROWS_AS(resolve_config("soft_nonexistent"), Error);
  // The JSON form reads back to the same config.
  SoftConfig tiny = resolve_config("soft_tiny");
  SoftConfig again = parse_config(config_to_json(tiny), "round trip");
  CHECK(config_to_json(again) == config_to_json(tiny));
}

TEST_CASE("model info: MAC counts past int64 are an error, large ones below it stay exact") {
  SoftConfig tiny = resolve_config("soft_tiny");
  // 8192 px: stage 1's grid is 8192 / 4 = 2048, its landmarks m = (2048 / 8)^2 = 2^16; the Newton
  // iterations count depth 1 x 2 heads x 2 x 20 iterations x m^3 = 80 x 2^48 MACs (about 2.3e16).
  ModelInfo big = describe_model(tiny, 8192, 8192);
  CHECK(big.stages[0].macs.newton == 80 * (int64_t(1) << 48));
  CHECK(big.macs.total() > big.stages[0].macs.newton);
  // 65536 px (soft info's largest --img): m = 2^22, so m^3 alone is 2^66.
  CHECK_THROWS_WITH_AS(describe_model(tiny, 65536, 65536),
                       "soft_tiny: the multiply-accumulates of one 65536x65536 image overflow int64 (more than "
                       "9.2e18); a smaller image can be counted",
                       Error);
}

TEST_CASE("the small-image models run forward and backward with SOFT attention in stages 1-3") {
  for (const char* name : {"soft_fmnist", "soft_cifar"}) {
    INFO(name);
    manual_seed(0);
    SoftConfig c = resolve_config(name);
    SoftModel model(c);
    Tensor x = test::rand_input({2, c.in_chans, c.img_size, c.img_size}, -1, 1, DType::Float32, false);
    Tensor logits = model.forward(x);
    CHECK(logits.shape() == Shape{2, c.num_classes});
    Tensor labels = Tensor::from_vector({1, 3}, {2}, DType::Int64);
    cross_entropy(logits, labels).backward();
    for (const auto& [pname, p] : model.named_parameters()) {
      INFO(pname);
      CHECK(p.grad().defined());
    }
  }
}
