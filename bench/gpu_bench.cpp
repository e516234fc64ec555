// GPU benchmarks of soft.cpp, printed in the same line format as bench/torch_soft_gpu.py so that
// scripts/gpu-check.sh can put them side by side.
//
//   gpu_bench train --model soft_tiny --img 224 --batch 128 --steps 10
//   gpu_bench attn --tokens 1024,4096,16384,65536 --dim 64 --heads 2
//   gpu_bench dwconv --batch 128 --steps 20   (SOFT_DEPTHWISE=cudnn: the same on cuDNN)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "cuda/context.h"
#include "models/soft.h"
#include "nn/optim/optimizer.h"
#include "ops/autocast.h"

using namespace soft;

namespace {

std::map<std::string, std::string> parse_flags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 2; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  return flags;
}

std::string flag(const std::map<std::string, std::string>& f, const std::string& name, const std::string& fallback) {
  auto it = f.find(name);
  return it == f.end() ? fallback : it->second;
}

// Median seconds of `steps` runs after `warmup` runs, with the device synchronised around each.
double timed(const std::function<void()>& fn, int steps, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) fn();
  cuda::synchronize(0);
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    cuda::synchronize(0);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void bench_train(const std::map<std::string, std::string>& f) {
  std::string name = flag(f, "--model", "soft_tiny");
  int64_t img = std::stoll(flag(f, "--img", "224")), batch = std::stoll(flag(f, "--batch", "128"));
  int steps = std::stoi(flag(f, "--steps", "10"));
  models::SoftConfig config = models::resolve_config(name);
  models::SoftModel model(config);
  model.to(Device::cuda(0));
  model.train();
  Generator gen(0);
  Tensor x = to_device(normal({batch, config.in_chans, img, img}, 0.0, 1.0, gen), Device::cuda(0));
  std::vector<double> label_values(batch);
  for (int64_t i = 0; i < batch; ++i) label_values[i] = static_cast<double>(i % config.num_classes);
  Tensor y = to_device(Tensor::from_vector(label_values, {batch}, DType::Int64), Device::cuda(0));
  nn::optim::SGD sgd(nn::optim::param_groups(model, 0.0), 1e-3);  // plain SGD, as the torch side
  for (const char* precision : {"fp32", "bf16"}) {
    bool bf16 = std::string(precision) == "bf16";
    auto step = [&] {
      sgd.zero_grad();
      {
        AutocastBf16 autocast(bf16);  // over forward and backward (ops/autocast.h)
        Tensor loss = cross_entropy(model.forward(x), y, 0.1);
        loss.backward();
      }
      sgd.step();
    };
    double seconds = timed(step, steps);
    std::printf("soft train %s img %lld batch %lld %s: %.1f images/s\n", name.c_str(), static_cast<long long>(img),
                static_cast<long long>(batch), precision, batch / seconds);
  }
}

void bench_attn(const std::map<std::string, std::string>& f) {
  int64_t dim = std::stoll(flag(f, "--dim", "64")), heads = std::stoll(flag(f, "--heads", "2"));
  std::string list = flag(f, "--tokens", "1024,4096,16384,65536");
  for (size_t pos = 0; pos < list.size();) {
    size_t comma = list.find(',', pos);
    int64_t tokens = std::stoll(list.substr(pos, comma - pos));
    pos = comma == std::string::npos ? list.size() : comma + 1;
    int64_t side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(tokens))));
    for (const char* kind : {"soft", "softmax"}) {
      std::shared_ptr<nn::Module> layer;
      std::function<Tensor(const Tensor&)> run;
      if (std::string(kind) == "soft") {
        auto soft_layer = std::make_shared<nn::SoftAttention>(nn::SoftAttentionOptions{dim, heads, 8, 9});
        run = [soft_layer, side](const Tensor& t) { return soft_layer->forward(t, side, side); };
        layer = soft_layer;
      } else {
        auto softmax_layer = std::make_shared<nn::Attention>(dim, heads);
        run = [softmax_layer](const Tensor& t) { return softmax_layer->forward(t); };
        layer = softmax_layer;
      }
      layer->to(Device::cuda(0));
      Tensor x = to_device(uniform({1, side * side, dim}, -1, 1), Device::cuda(0));
      x.requires_grad_(true);
      try {
        auto step = [&] { sum(run(x)).backward(); };
        step();  // first use: cuDNN's algorithm search and its workspace, not counted in the peak
        cuda::synchronize(0);
        cuda::reset_peak(0);
        double seconds = timed(step, 5, 1);
        double peak = cuda::memory_stats(0).peak / 1048576.0;
        std::printf("soft attn %s tokens %lld: %.2f ms, peak %.1f MiB\n", kind, static_cast<long long>(side * side),
                    seconds * 1e3, peak);
      } catch (const Error& e) {
        std::printf("soft attn %s tokens %lld: %s\n", kind, static_cast<long long>(side * side), e.what());
      }
      cuda::empty_cache(0);
    }
  }
}

// soft_tiny's local depthwise convs (stages 1-3 at 224 px: [batch * 32, heads, side, side], k x k,
// 'same' padding) one direction at a time: forward, input gradient, weight gradient.
void bench_dwconv(const std::map<std::string, std::string>& f) {
  int64_t batch = std::stoll(flag(f, "--batch", "128"));
  int steps = std::stoi(flag(f, "--steps", "20"));
  const char* env = std::getenv("SOFT_DEPTHWISE");
  const char* backend = env && std::strcmp(env, "cudnn") == 0 ? "cudnn" : "kernels";
  NoGradGuard no_grad;
  struct Stage { int64_t heads, side, kernel; };
  for (Stage s : {Stage{2, 56, 9}, Stage{4, 28, 5}, Stage{10, 14, 3}}) {
    Conv2dParams p{{1, 1}, {s.kernel / 2, s.kernel / 2}, s.heads};
    Shape x_shape{batch * 32, s.heads, s.side, s.side}, w_shape{s.heads, 1, s.kernel, s.kernel};
    Tensor x = to_device(uniform(x_shape, -1, 1), Device::cuda(0));
    Tensor w = to_device(uniform(w_shape, -1, 1), Device::cuda(0));
    Tensor gy = to_device(uniform(x_shape, -1, 1), Device::cuda(0));
    for (const char* precision : {"fp32", "bf16"}) {
      AutocastBf16 autocast(std::string(precision) == "bf16");
      std::vector<std::pair<const char*, std::function<void()>>> directions{
          {"forward", [&] { conv2d(x, w, Tensor(), p); }},
          {"grad_input", [&] { conv2d_grad_input(gy, w, x_shape, p); }},
          {"grad_weight", [&] { conv2d_grad_weight(gy, x, w_shape, p); }}};
      for (auto& [direction, fn] : directions)
        std::printf("soft dwconv %s k%lld %s %s: %.3f ms (%s)\n", shape_str(x_shape).c_str(),
                    static_cast<long long>(s.kernel), precision, direction, timed(fn, steps) * 1e3, backend);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "";
  try {
    if (command == "train") bench_train(parse_flags(argc, argv));
    else if (command == "attn") bench_attn(parse_flags(argc, argv));
    else if (command == "dwconv") bench_dwconv(parse_flags(argc, argv));
    else {
      std::fprintf(stderr, "usage: gpu_bench train|attn|dwconv [--flag value ...]\n");
      return 2;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "gpu_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
