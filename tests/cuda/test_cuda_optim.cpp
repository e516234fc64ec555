// The optimisers' fused multi-tensor CUDA updates against their CPU kernels: the same model, the
// same gradients, several steps, every parameter and state buffer compared.
#include <cmath>
#include <functional>

#include "autograd/grad_mode.h"
#include "tests/cuda/cuda_test.h"
#include "nn/layers.h"
#include "nn/optim/optimizer.h"

namespace soft {
namespace {

// Two small models with identical weights, one on cuda:0, and the same fixed gradients each step.
struct Twin {
  std::shared_ptr<nn::Linear> cpu = std::make_shared<nn::Linear>(70, 300), gpu = std::make_shared<nn::Linear>(70, 300);
  Twin() {
    auto from = cpu->parameters(), to = gpu->parameters();
    NoGradGuard no_grad;
    for (size_t i = 0; i < from.size(); ++i) copy_(to[i], from[i]);
    gpu->to(Device::cuda(0));
  }
  void set_grads(int step) {
    Generator gen(100 + step);
    auto cpu_params = cpu->parameters(), gpu_params = gpu->parameters();
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      Tensor g = normal(cpu_params[i].shape(), 0.0, 1.0, gen);
      cpu_params[i].set_grad(g);
      gpu_params[i].set_grad(to_device(g, Device::cuda(0)));
    }
  }
};

// |cpu - gpu| <= 1e-6 + rtol |cpu| for every element (weights cross zero, so an absolute floor).
void expect_close(const std::vector<nn::NamedTensor>& cpu, const std::vector<nn::NamedTensor>& gpu, double rtol) {
  REQUIRE(cpu.size() == gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO(cpu[i].first);
    CHECK(cpu[i].first == gpu[i].first);
    std::vector<double> a = cpu[i].second.to_vector(), b = gpu[i].second.to_vector();
    REQUIRE(a.size() == b.size());
    size_t bad = 0;
    for (size_t k = 0; k < a.size(); ++k) bad += std::fabs(a[k] - b[k]) > 1e-6 + rtol * std::fabs(a[k]);
    CHECK(bad == 0);
  }
}

void run_steps(Twin& t, nn::optim::Optimizer& cpu_opt, nn::optim::Optimizer& gpu_opt) {
  for (int step = 0; step < 4; ++step) {
    t.set_grads(step);
    cpu_opt.step();
    gpu_opt.step();
  }
  expect_close(t.cpu->state(), t.gpu->state(), 1e-5);
  expect_close(cpu_opt.state(), gpu_opt.state(), 1e-5);
}

TEST_CASE("cuda: fused multi-tensor AdamW matches the CPU (decay and no-decay groups)") {
  SOFT_SKIP_WITHOUT_GPU();
  Twin t;
  nn::optim::AdamW cpu_opt(nn::optim::param_groups(*t.cpu, 0.05), 1e-2), gpu_opt(nn::optim::param_groups(*t.gpu, 0.05), 1e-2);
  run_steps(t, cpu_opt, gpu_opt);
}

TEST_CASE("cuda: fused multi-tensor SGD matches the CPU (plain, momentum, nesterov)") {
  SOFT_SKIP_WITHOUT_GPU();
  for (auto [momentum, nesterov] : {std::pair{0.0, false}, std::pair{0.9, false}, std::pair{0.9, true}}) {
    INFO("momentum ", momentum, " nesterov ", nesterov);
    Twin t;
    nn::optim::SGD cpu_opt(nn::optim::param_groups(*t.cpu, 1e-4), 0.1, momentum, nesterov),
        gpu_opt(nn::optim::param_groups(*t.gpu, 1e-4), 0.1, momentum, nesterov);
    run_steps(t, cpu_opt, gpu_opt);
  }
}

}  // namespace
}  // namespace soft
