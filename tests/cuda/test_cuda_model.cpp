// A whole soft_tiny training step on the GPU against the CPU: the loss and every gradient.
#include <algorithm>
#include <cmath>

#include "models/soft.h"
#include "tests/cuda/cuda_test.h"

using namespace soft;
using soft::test::normwise_error;

TEST_CASE("cuda: a soft_tiny training step matches the CPU (loss and every gradient)") {
  SOFT_SKIP_WITHOUT_GPU();
  models::SoftConfig config = models::resolve_config("soft_tiny");
  config.drop_path_rate = 0;  // deterministic step
  manual_seed(11);
  models::SoftModel cpu(config);
  manual_seed(11);
  models::SoftModel gpu(config);  // the same initial weights
  gpu.to(Device::cuda(0));
  Generator gen(5);
  Tensor x = normal({2, 3, 224, 224}, 0.0, 1.0, gen);
  Tensor y = Tensor::from_vector({3, 917}, {2}, DType::Int64);
  Tensor loss_cpu = cross_entropy(cpu.forward(x), y, 0.1);
  Tensor loss_gpu = cross_entropy(gpu.forward(to_device(x, Device::cuda(0))), to_device(y, Device::cuda(0)), 0.1);
  loss_cpu.backward();
  loss_gpu.backward();
  CHECK(std::fabs(loss_gpu.item() - loss_cpu.item()) <= 1e-4 * std::fabs(loss_cpu.item()));
  auto cpu_params = cpu.named_parameters(), gpu_params = gpu.named_parameters();
  REQUIRE(cpu_params.size() == gpu_params.size());
  auto max_abs = [](const Tensor& t) {
    double m = 0;
    for (double v : t.to_vector()) m = std::max(m, std::fabs(v));
    return m;
  };
  double largest = 0;
  for (const auto& [name, p] : cpu_params) largest = std::max(largest, max_abs(p.grad()));
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    const auto& [name, p] = cpu_params[i];
    const Tensor& g = gpu_params[i].second.grad();
    INFO("gradient of ", name);
    REQUIRE(g.defined());
    if (max_abs(p.grad()) <= 1e-6 * largest) {  // conv biases before BatchNorm: zero up to rounding
      CHECK(max_abs(g) <= 1e-5 * largest);
      continue;
    }
    CHECK(normwise_error(g, p.grad()) <= 1e-3);
  }
}
