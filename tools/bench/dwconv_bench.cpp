// soft bench dwconv: soft_tiny's local depthwise convolutions (stages 1-3 at 224 px: [batch * 32,
// heads, side, side], k x k, stride 1, 'same' padding, no bias), one direction at a time: forward,
// input gradient, weight gradient. On a GPU they run on soft.cpp's own kernels, or on cuDNN with
// SOFT_DEPTHWISE=cudnn in the environment (the backend= field says which): an A/B of the same conv.
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>

#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "ops/autocast.h"
#include "tools/bench/bench.h"

namespace soft::tools::bench {
namespace {

struct LocalConv {
  int64_t heads, side, kernel;  // soft_tiny's stage 1, 2, 3
};

std::string dims_text(const Shape& shape) {  // "4096x2x56x56"
  std::string text;
  for (int64_t d : shape) text += (text.empty() ? "" : "x") + std::to_string(d);
  return text;
}

std::string backend_of(Device device) {
  if (device.is_cpu()) return "cpu";
  const char* v = std::getenv("SOFT_DEPTHWISE");
  return v && std::strcmp(v, "cudnn") == 0 ? "cudnn" : "kernels";
}

}  // namespace

void depthwise_conv(const Args& args, const RunOptions& run, std::ostream& out) {
  const int64_t batch = args.has("batch") ? args.get_int("batch", 1, 65536) : 128;
  constexpr int64_t kHeadDim = 32;  // channels per head in every stage of soft_tiny
  NoGradGuard no_grad;
  AutocastBf16 autocast(run.bf16);
  Generator gen(0);
  for (LocalConv c : {LocalConv{2, 56, 9}, LocalConv{4, 28, 5}, LocalConv{10, 14, 3}}) {
    const Conv2dParams p{{1, 1}, {c.kernel / 2, c.kernel / 2}, c.heads};
    const Shape x_shape{batch * kHeadDim, c.heads, c.side, c.side}, w_shape{c.heads, 1, c.kernel, c.kernel};
    Tensor x = to_device(uniform(x_shape, -1, 1, gen), run.device);    // [B*d, h, H, W]
    Tensor w = to_device(uniform(w_shape, -1, 1, gen), run.device);    // [h, 1, k, k]
    Tensor gy = to_device(uniform(x_shape, -1, 1, gen), run.device);   // [B*d, h, H, W]
    const std::pair<const char*, std::function<void()>> directions[] = {
        {"forward", [&] { conv2d(x, w, Tensor(), p); }},
        {"grad_input", [&] { conv2d_grad_input(gy, w, x_shape, p); }},
        {"grad_weight", [&] { conv2d_grad_weight(gy, x, w_shape, p); }}};
    for (const auto& [direction, fn] : directions) {
      const double seconds = measure(fn, run).seconds;
      out << ResultLine("dwconv")
                 .add("impl", "soft")
                 .add("backend", backend_of(run.device))
                 .add("input", dims_text(x_shape))
                 .add("kernel", c.kernel)
                 .add("device", run.device.str())
                 .add("precision", run.bf16 ? "bf16" : "fp32")
                 .add("direction", direction)
                 .add("threads", run.threads)
                 .add("steps", run.steps)
                 .add("ms", fixed(seconds * 1e3, 3))
                 .str()
          << "\n";
    }
  }
}

}  // namespace soft::tools::bench
