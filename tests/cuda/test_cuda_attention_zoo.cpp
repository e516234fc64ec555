// The attention zoo on the GPU against the CPU: each function of ops/attention_zoo.cpp (forward and
// every input gradient) and a soft_fmnist_s training step with each kind of stage 1-3 attention.
#include "models/soft.h"
#include "nn/performer_attention.h"
#include "tests/cuda/cuda_test.h"

using namespace soft;
using soft::test::expect_gpu_matches_cpu;
using soft::test::expect_training_step_matches_cpu;

namespace {
Tensor input(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator gen(seed);
  return uniform(shape, lo, hi, gen).requires_grad_();
}
}  // namespace

TEST_CASE("cuda: adaptive_avg_pool_tokens, linformer, favor and nystrom attention match the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  const Shape qkv = {2, 3, 196, 32};
  expect_gpu_matches_cpu([](auto& in) { return adaptive_avg_pool_tokens(in[0], 14, 14, 8, 8); }, {input(qkv, 1)});
  expect_gpu_matches_cpu([](auto& in) { return linformer_attention(in[0], in[1], in[2], in[3], in[4], 0.17); },
                         {input(qkv, 2), input(qkv, 3), input(qkv, 4), input({64, 196}, 5, -0.07, 0.07),
                          input({64, 196}, 6, -0.07, 0.07)});
  Tensor w = nn::orthogonal_random_features(256, 32, 7);
  expect_gpu_matches_cpu([w](auto& in) { return favor_attention(in[0], in[1], in[2], w); },
                         {input(qkv, 8), input(qkv, 9), input(qkv, 10)}, {1e-4, 1e-3});
  expect_gpu_matches_cpu([](auto& in) { return nystrom_attention(in[0], in[1], in[2], 64, 6); },
                         {input(qkv, 11, -0.4, 0.4), input(qkv, 12, -0.4, 0.4), input(qkv, 13)}, {1e-4, 1e-3});
}

TEST_CASE("cuda: a soft_fmnist_s training step with each attention kind matches the CPU") {
  SOFT_SKIP_WITHOUT_GPU();
  for (auto kind : {nn::AttentionKind::Soft, nn::AttentionKind::Softmax, nn::AttentionKind::Linformer,
                    nn::AttentionKind::Performer, nn::AttentionKind::Nystrom}) {
    INFO("attention ", nn::attention_kind_name(kind));
    models::SoftConfig config = models::resolve_config("soft_fmnist_s");
    config.attention = kind;
    Generator gen(4);
    expect_training_step_matches_cpu(config, 3, normal({4, 1, 28, 28}, 0.0, 1.0, gen),
                                     Tensor::from_vector({1, 7, 3, 0}, {4}, DType::Int64));
  }
}
