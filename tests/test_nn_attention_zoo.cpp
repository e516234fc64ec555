// The attention zoo as modules and model configs: every kind builds into the SOFT skeleton, runs,
// and has the parameters and per-stage description `soft info` gives; Performer's seeded redraws;
// SOFT's pooled landmarks; the errors of bad configs and wrong token counts.
#include <doctest/doctest.h>

#include <cmath>

#include "models/info.h"
#include "models/soft.h"
#include "nn/linformer_attention.h"
#include "nn/nystrom_attention.h"
#include "nn/performer_attention.h"
#include "tests/nn_test_util.h"

using namespace soft;
using namespace soft::test;

namespace {
models::SoftConfig fmnist_with(nn::AttentionKind kind) {
  models::SoftConfig c = models::resolve_config("soft_fmnist_s");
  c.attention = kind;
  return c;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector(), y = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}
}  // namespace

TEST_CASE("every attention kind builds, runs, trains and matches soft info's parameters and description") {
  for (auto kind : {nn::AttentionKind::Soft, nn::AttentionKind::Softmax, nn::AttentionKind::Linformer,
                    nn::AttentionKind::Performer, nn::AttentionKind::Nystrom}) {
    std::string name = nn::attention_kind_name(kind);
    INFO("attention ", name);
    models::SoftConfig c = fmnist_with(kind);
    models::SoftModel model(c);
    models::ModelInfo info = models::describe_model(c, 28, 28);
    CHECK(model.num_parameters() == info.parameters);
    CHECK(info.stages[0].attention == name);
    CHECK(info.stages[3].attention == "softmax");
    Tensor x = uniform({2, 1, 28, 28}, -1, 1, test_gen());
    Tensor loss = sum(model.forward(x));
    loss.backward();
    CHECK(std::isfinite(loss.item()));
    for (const auto& [pname, p] : model.named_parameters()) {
      INFO(pname);
      CHECK(p.grad().defined());
    }
  }
  models::SoftConfig soft_pool = fmnist_with(nn::AttentionKind::Soft);
  soft_pool.landmarks = nn::LandmarkKind::Pool;
  soft_pool.num_landmarks = 16;
  CHECK(models::SoftModel(soft_pool).num_parameters() == models::describe_model(soft_pool, 28, 28).parameters);
  CHECK(models::describe_model(soft_pool, 28, 28).stages[0].landmarks == 16);  // 14x14 pooled to 4x4
  CHECK(models::describe_model(soft_pool, 28, 28).stages[2].landmarks == 16);  // 4x4 stays 4x4
}

TEST_CASE("MACs of the zoo follow the formulas of models/info.h") {
  // Stage 3 of soft_fmnist_s: 4x4 = 16 tokens, 3 heads of d = 32, one block.
  const int64_t N = 16, h = 3, d = 32;
  CHECK(models::describe_model(fmnist_with(nn::AttentionKind::Softmax), 28, 28).stages[2].macs.zoo_products ==
        h * 2 * N * N * d);
  CHECK(models::describe_model(fmnist_with(nn::AttentionKind::Linformer), 28, 28).stages[2].macs.zoo_products ==
        h * 4 * N * N * d);  // k = min(256, N) = N
  CHECK(models::describe_model(fmnist_with(nn::AttentionKind::Performer), 28, 28).stages[2].macs.zoo_products ==
        h * (4 * N * 256 * d + N * 256));
  const int64_t m = N;  // min(64, N)
  CHECK(models::describe_model(fmnist_with(nn::AttentionKind::Nystrom), 28, 28).stages[2].macs.zoo_products ==
        h * (2 * m * N * d + N * m * d + m * m * d + m * N * d + 4 * 6 * m * m * m + N * m * m + m * N * d +
             N * m * d));
}

TEST_CASE("model config: the attention keys are read, written back and checked") {
  std::string text = R"({"name": "z", "attention": "performer", "performer_features": 64, "performer_redraw": 0,
                         "landmarks": "pool", "num_landmarks": 49, "linformer_k": 32,
                         "nystrom_pinv_iterations": 3, "nystrom_conv_kernel": 9})";
  models::SoftConfig c = models::parse_config(text, "z.json");
  CHECK(c.attention == nn::AttentionKind::Performer);
  CHECK(c.performer_features == 64);
  CHECK(c.performer_redraw == 0);
  CHECK(c.landmarks == nn::LandmarkKind::Pool);
  CHECK(c.num_landmarks == 49);
  CHECK(c.linformer_k == 32);
  CHECK(c.nystrom_pinv_iterations == 3);
  CHECK(c.nystrom_conv_kernel == 9);
  models::SoftConfig back = models::parse_config(models::config_to_json(c), "back.json");
  CHECK(back.attention == nn::AttentionKind::Performer);
  CHECK(back.landmarks == nn::LandmarkKind::Pool);
  CHECK(back.nystrom_conv_kernel == 9);

  CHECK(error_of([] { models::parse_config(R"({"attention": "cosine"})", "a.json"); })
            .find("a.json: key 'attention': unknown attention 'cosine'") != std::string::npos);
  CHECK(error_of([] { models::parse_config(R"({"attention": 3})", "a.json"); })
            .find("key 'attention' must be a string") != std::string::npos);
  CHECK(error_of([] { models::parse_config(R"({"landmarks": "grid"})", "a.json"); })
            .find("key 'landmarks' must be \"conv\" or \"pool\"") != std::string::npos);
  CHECK(error_of([] { models::parse_config(R"({"nystrom_conv_kernel": 8})", "a.json"); })
            .find("nystrom_conv_kernel must be odd") != std::string::npos);
  CHECK(error_of([] { models::parse_config(R"({"linformer_k": 0})", "a.json"); }).find("linformer_k") !=
        std::string::npos);
}

TEST_CASE("Linformer runs only at the token count it was built for") {
  nn::LinformerAttention a(8, 2, 16, 4);
  CHECK(a.E.shape() == Shape{4, 16});
  CHECK(a.forward(uniform({1, 16, 8}, -1, 1, test_gen()), 4, 4).shape() == Shape{1, 16, 8});
  CHECK(error_of([&] { a.forward(uniform({1, 25, 8}, -1, 1, test_gen()), 5, 5); })
            .find("built for 16 tokens") != std::string::npos);
  models::SoftConfig c = fmnist_with(nn::AttentionKind::Linformer);
  CHECK(error_of([&] { models::describe_model(c, 56, 56); }).find("Linformer's projections are sized for img_size 28") !=
        std::string::npos);
}

TEST_CASE("Performer: orthogonal features, seeded draws, redrawn on schedule in training only") {
  Tensor w = nn::orthogonal_random_features(8, 4, 5);  // two blocks of 4 orthogonal rows
  auto rows = w.to_vector();
  auto dot = [&](int i, int j) {
    double s = 0;
    for (int t = 0; t < 4; ++t) s += rows[i * 4 + t] * rows[j * 4 + t];
    return s;
  };
  for (int block = 0; block < 2; ++block)
    for (int i = 4 * block; i < 4 * block + 4; ++i)
      for (int j = i + 1; j < 4 * block + 4; ++j) CHECK(std::abs(dot(i, j)) < 1e-5 * std::sqrt(dot(i, i) * dot(j, j)));
  CHECK(std::abs(dot(0, 0) - dot(1, 1)) > 1e-3);  // lengths of Gaussian vectors, not all equal
  CHECK(max_abs_diff(w, nn::orthogonal_random_features(8, 4, 5)) == 0.0);
  CHECK(max_abs_diff(w, nn::orthogonal_random_features(8, 4, 6)) > 0.1);

  nn::PerformerAttention a(8, 2, 16, 2, 42), twin(8, 2, 16, 2, 42);
  Tensor x = uniform({1, 4, 8}, -1, 1, test_gen());
  Tensor first = to_dtype(a.projection, DType::Float64);  // a copy
  a.forward(x, 2, 2);
  a.forward(x, 2, 2);
  CHECK(max_abs_diff(a.projection, first) == 0.0);  // two steps: still the first draw
  a.forward(x, 2, 2);
  CHECK(max_abs_diff(a.projection, first) > 0.1);   // the third: redrawn
  for (int i = 0; i < 3; ++i) twin.forward(x, 2, 2);
  CHECK(max_abs_diff(a.projection, twin.projection) == 0.0);  // the same seed, the same schedule
  Tensor before = to_dtype(a.projection, DType::Float64);
  a.eval();
  for (int i = 0; i < 5; ++i) a.forward(x, 2, 2);
  CHECK(max_abs_diff(a.projection, before) == 0.0);  // never in evaluation
  bool saved = false;
  for (const auto& [name, t] : a.named_buffers()) saved |= name == "projection";
  CHECK(saved);
}

TEST_CASE("SOFT with pooled landmarks: no landmark parameters, m fixed whatever the grid") {
  nn::SoftAttentionOptions o{16, 2, 2, 3};
  o.landmarks = nn::LandmarkKind::Pool;
  o.num_landmarks = 20;  // a 4x4 grid (floor(sqrt(20)) = 4)
  nn::SoftLowRankAttention k(o);
  CHECK(k.named_parameters().size() == 1);  // the local conv only
  for (int64_t side : {4, 9, 30}) {
    Tensor q = uniform({1, 2, side * side, 8}, -1, 1, test_gen());
    CHECK(k.landmarks(q, side, side).shape() == Shape{1, 2, 16, 8});
  }
  Tensor q = uniform({1, 2, 9, 8}, -1, 1, test_gen());
  CHECK(k.landmarks(q, 3, 3).shape() == Shape{1, 2, 9, 8});  // a 3x3 grid keeps its 9 tokens
  nn::SoftAttention attention(o);
  CHECK(attention.forward(uniform({2, 100, 16}, -1, 1, test_gen()), 10, 10).shape() == Shape{2, 100, 16});
}

TEST_CASE("Nystromformer module: its (k x 1) conv skip and landmarks capped at the tokens") {
  nn::NystromAttention a(8, 2, 64, 6, 5);
  CHECK(a.conv->weight.shape() == Shape{2, 1, 5, 1});
  CHECK(a.forward(uniform({2, 12, 8}, -1, 1, test_gen()), 3, 4).shape() == Shape{2, 12, 8});
  CHECK(error_of([] { nn::NystromAttention(8, 2, 64, 6, 4); }).find("must be odd") != std::string::npos);
}
