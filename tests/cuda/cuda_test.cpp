#include "tests/cuda/cuda_test.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/random.h"
#include "models/soft.h"

namespace soft::test {
namespace {

void expect_close(const std::string& what, const Tensor& gpu, const Tensor& cpu, Tolerance tol) {
  REQUIRE(gpu.shape() == cpu.shape());
  std::vector<double> g = gpu.to_vector(), c = cpu.to_vector();
  size_t bad = 0, worst = 0;
  double worst_err = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    double err = std::fabs(g[i] - c[i]);
    if (!(err <= tol.atol + tol.rtol * std::fabs(c[i]))) {
      ++bad;
      if (!(err <= worst_err)) worst_err = err, worst = i;
    }
  }
  INFO(what, ": worst element ", worst, ": gpu ", g.empty() ? 0 : g[worst], ", cpu ", c.empty() ? 0 : c[worst]);
  CHECK_MESSAGE(bad == 0, bad, " of ", c.size(), " elements differ");
}

std::vector<Tensor> leaves_on(const std::vector<Tensor>& inputs, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& x : inputs) {
    if (!x.defined()) {
      out.push_back(x);
      continue;
    }
    Tensor y = to_device(x.detach(), device).clone();
    if (x.requires_grad()) y.requires_grad_(true);
    out.push_back(y);
  }
  return out;
}

}  // namespace

double normwise_error(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(y[i]));
  }
  return diff / std::max(scale, 1e-30);
}

void expect_gpu_matches_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                            const std::vector<Tensor>& inputs, Tolerance tol) {
  std::vector<Tensor> cpu = leaves_on(inputs, Device::cpu());
  std::vector<Tensor> gpu = leaves_on(inputs, Device::cuda(0));
  Tensor y_cpu = fn(cpu), y_gpu = fn(gpu);
  REQUIRE(y_gpu.device() == Device::cuda(0));
  expect_close("output", y_gpu, y_cpu, tol);
  if (!y_cpu.requires_grad()) return;
  Generator gen(7);
  Tensor seed = normal(y_cpu.shape(), 0.0, 1.0, gen, y_cpu.dtype());
  y_cpu.backward(seed);
  y_gpu.backward(to_device(seed, Device::cuda(0)));
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!cpu[i].defined() || !cpu[i].requires_grad()) continue;
    REQUIRE(gpu[i].grad().defined());
    expect_close("gradient of input " + std::to_string(i), gpu[i].grad(), cpu[i].grad(), tol);
  }
}

void expect_training_step_matches_cpu(const models::SoftConfig& config, uint64_t seed, const Tensor& images,
                                      const Tensor& labels) {
  manual_seed(seed);
  models::SoftModel cpu(config);
  manual_seed(seed);
  models::SoftModel gpu(config);  // the same initial weights
  gpu.to(Device::cuda(0));
  Tensor loss_cpu = cross_entropy(cpu.forward(images), labels, 0.1);
  Tensor loss_gpu =
      cross_entropy(gpu.forward(to_device(images, Device::cuda(0))), to_device(labels, Device::cuda(0)), 0.1);
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

}  // namespace soft::test
