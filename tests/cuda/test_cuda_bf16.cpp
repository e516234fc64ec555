// bfloat16 mixed precision (ops/autocast.h) against float32: the products really run in
// bfloat16 (their error is of bfloat16's size, not float32's) and stay within bfloat16's
// tolerance, for each op and for a whole soft_tiny training step.
#include <algorithm>
#include <cmath>

#include "models/soft.h"
#include "ops/autocast.h"
#include "tests/cuda/cuda_test.h"

using namespace soft;
using soft::test::normwise_error;

namespace {

Tensor gpu(const Tensor& t) { return to_device(t, Device::cuda(0)); }

// fn on the GPU under autocast against fn in float32 on the CPU: output and input gradients.
// bfloat16 keeps 8 bits of mantissa (relative rounding 2^-9 = 2e-3): errors must be above float32's
// 1e-6 (so bfloat16 ran) and below 2e-2 (so the products accumulated in float32).
void expect_bf16_close(const std::function<Tensor(const std::vector<Tensor>&)>& fn, std::vector<Tensor> inputs) {
  std::vector<Tensor> on_gpu;
  for (Tensor& t : inputs) {
    t.requires_grad_(true);
    on_gpu.push_back(gpu(t.detach()).requires_grad_(true));
  }
  Tensor expected = fn(inputs);
  sum(mul(expected, expected)).backward();
  Tensor got;
  {
    AutocastBf16 autocast;
    got = fn(on_gpu);
    REQUIRE(got.dtype() == DType::Float32);
    sum(mul(got, got)).backward();
  }
  double err = normwise_error(got, expected);
  CHECK(err > 1e-6);
  CHECK(err < 2e-2);
  for (size_t i = 0; i < inputs.size(); ++i) {
    INFO("gradient of input ", i);
    double g_err = normwise_error(on_gpu[i].grad(), inputs[i].grad());
    CHECK(g_err > 1e-6);
    CHECK(g_err < 3e-2);
  }
}

}  // namespace

TEST_CASE("cuda: matmul, linear and conv2d under AutocastBf16 run in bfloat16 within its tolerance") {
  SOFT_SKIP_WITHOUT_GPU();
  Generator gen(21);
  auto in = [&](const Shape& s) { return uniform(s, -1.0, 1.0, gen); };
  expect_bf16_close([](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); }, {in({4, 33, 70}), in({4, 70, 19})});
  expect_bf16_close([](const std::vector<Tensor>& x) { return matmul(x[0], transpose(x[1], 0, 1)); },
                    {in({2, 30, 64}), in({50, 64})});
  expect_bf16_close([](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
                    {in({3, 17, 48}), in({40, 48}), in({40})});
  Conv2dParams p{{1, 1}, {1, 1}, 1};
  expect_bf16_close([p](const std::vector<Tensor>& x) { return conv2d(x[0], x[1], x[2], p); },
                    {in({2, 8, 12, 12}), in({16, 8, 3, 3}), in({16})});
  Conv2dParams depthwise{{1, 1}, {4, 4}, 16};
  expect_bf16_close([depthwise](const std::vector<Tensor>& x) { return conv2d(x[0], x[1], Tensor(), depthwise); },
                    {in({2, 16, 14, 14}), in({16, 1, 9, 9})});
}

TEST_CASE("cuda: the guard restores the previous mode and leaves float32 exact") {
  SOFT_SKIP_WITHOUT_GPU();
  CHECK(!autocast_bf16());
  {
    AutocastBf16 on;
    CHECK(autocast_bf16());
    {
      AutocastBf16 off(false);
      CHECK(!autocast_bf16());
    }
    CHECK(autocast_bf16());
  }
  CHECK(!autocast_bf16());
  Generator gen(22);
  Tensor a = uniform({16, 32}, -1.0, 1.0, gen), b = uniform({32, 8}, -1.0, 1.0, gen);
  CHECK(normwise_error(matmul(gpu(a), gpu(b)), matmul(a, b)) < 1e-6);  // no guard: float32
}

TEST_CASE("cuda: a soft_tiny training step in bf16 stays within bfloat16 tolerance of float32") {
  SOFT_SKIP_WITHOUT_GPU();
  models::SoftConfig config = models::resolve_config("soft_tiny");
  config.drop_path_rate = 0;  // deterministic step
  manual_seed(11);
  models::SoftModel reference(config);
  manual_seed(11);
  models::SoftModel mixed(config);  // the same initial weights
  reference.to(Device::cuda(0));
  mixed.to(Device::cuda(0));
  Generator gen(5);
  Tensor x = gpu(normal({4, 3, 112, 112}, 0.0, 1.0, gen));
  Tensor y = gpu(Tensor::from_vector({3, 917, 5, 1}, {4}, DType::Int64));
  Tensor loss_fp32 = cross_entropy(reference.forward(x), y, 0.1);
  loss_fp32.backward();
  double loss_bf16;
  {
    AutocastBf16 autocast;
    Tensor loss = cross_entropy(mixed.forward(x), y, 0.1);
    loss.backward();
    loss_bf16 = loss.item();
  }
  CHECK(std::fabs(loss_bf16 - loss_fp32.item()) <= 2e-2 * std::fabs(loss_fp32.item()));
  CHECK(loss_bf16 != loss_fp32.item());  // bfloat16 products did run
  auto ref_params = reference.named_parameters(), mixed_params = mixed.named_parameters();
  REQUIRE(ref_params.size() == mixed_params.size());
  int compared = 0;
  for (size_t i = 0; i < ref_params.size(); ++i) {
    const Tensor& g = ref_params[i].second.grad();
    std::vector<double> v = g.to_vector();
    double largest = 0;
    for (double e : v) largest = std::max(largest, std::fabs(e));
    if (largest < 1e-6) continue;  // conv biases before BatchNorm: zero up to rounding
    INFO("gradient of ", ref_params[i].first);
    // The landmark bottleneck (K2, its Newton inverse and the products with K2^+, forward and
    // backward) runs in float32, so bfloat16 rounding enters only through the other products: each
    // gradient entry within 5% of the tensor's largest. (With the bottleneck in bfloat16 an H100 gave
    // normwise errors up to 0.17 in stage 3; this bound has not yet run on a GPU.)
    std::vector<double> got = mixed_params[i].second.grad().to_vector();
    double worst = 0;
    for (size_t k = 0; k < v.size(); ++k) worst = std::max(worst, std::fabs(got[k] - v[k]));
    CHECK(worst <= 0.05 * largest);
    ++compared;
  }
  CHECK(compared > 100);
}
