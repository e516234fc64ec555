// soft bench train: median time of one training step (forward, cross-entropy with label smoothing
// 0.1, backward, AdamW step) of a model on a fixed synthetic batch, in training mode (dropout and
// drop path as the config says). On a GPU (--device cuda) the batch lives there and each step ends
// when the device has finished it; --precision bf16 runs forward and backward under AutocastBf16.
#include <iomanip>
#include <ostream>

#include "models/info.h"
#include "models/soft.h"
#include "nn/optim/optimizer.h"
#include "ops/autocast.h"
#include "tools/bench/bench.h"

namespace soft::tools::bench {

void train(const Args& args, const RunOptions& run, std::ostream& out) {
  models::SoftConfig config = models::resolve_config(args.get("model"));
  const int64_t img = args.has("img") ? args.get_int("img", 1, 4096) : config.img_size;
  const int64_t batch = args.get_int("batch", 1, 65536);
  try {
    models::check_image_size(config, img, img);
  } catch (const Error& e) {
    throw UsageError(std::string("bench train: --img: ") + e.what());
  }
  const int64_t macs_per_image = models::describe_model(config, img, img).macs.total();

  models::SoftModel model(config);
  model.to(run.device);
  model.train();
  nn::optim::AdamW optimizer(nn::optim::param_groups(model, 0.05), 1e-3);
  Generator gen(0);
  Tensor images = to_device(normal({batch, config.in_chans, img, img}, 0.0, 1.0, gen), run.device);  // [B, C, H, W]
  std::vector<double> label_values;
  for (int64_t i = 0; i < batch; ++i) label_values.push_back(static_cast<double>(i % config.num_classes));
  Tensor labels = to_device(Tensor::from_vector(label_values, {batch}, DType::Int64), run.device);  // [B]

  auto step = [&] {
    optimizer.zero_grad();
    {
      AutocastBf16 autocast(run.bf16);  // over forward and backward, as ops/autocast.h says
      Tensor loss = cross_entropy(model.forward(images), labels, 0.1);
      loss.backward();
    }
    optimizer.step();
  };
  const Measurement measured = measure(step, run);
  const double seconds = measured.seconds;
  const PeakMemory& peak = measured.peak;

  const double images_per_s = static_cast<double>(batch) / seconds;
  const double gflop_per_s = 3.0 * 2.0 * static_cast<double>(macs_per_image * batch) / seconds / 1e9;
  const std::string precision = run.bf16 ? "bf16" : "fp32";
  out << ResultLine("train")
             .add("impl", "soft")
             .add("model", config.name)
             .add("img", img)
             .add("batch", batch)
             .add("device", run.device.str())
             .add("precision", precision)
             .add("threads", run.threads)
             .add("steps", run.steps)
             .add("warmup", run.warmup)
             .add("step_ms", fixed(seconds * 1e3, 2))
             .add("images_per_s", fixed(images_per_s, 2))
             .add("gflop_per_s", fixed(gflop_per_s, 2))
             .add(peak.key, fixed(peak.mib, 1))
             .str()
      << "\n\n";
  out << config.name << " training step, " << img << "x" << img << " images, batch " << batch << ", "
      << (run.device.is_cpu() ? std::to_string(run.threads) + " threads" : run.device.str() + " " + precision)
      << ": median of " << run.steps << " steps after " << run.warmup << " warm-up\n"
      << std::left << "  " << std::setw(12) << "step time" << fixed(seconds * 1e3, 2) << " ms\n"
      << "  " << std::setw(12) << "images/s" << fixed(images_per_s, 2) << "\n"
      << "  " << std::setw(12) << "GFLOP/s" << fixed(gflop_per_s, 2) << "  (3 x forward MACs x 2 / step time; "
      << fixed(static_cast<double>(macs_per_image) / 1e9, 3) << " GMAC forward per image)\n"
      << "  " << std::setw(12) << (run.device.is_cpu() ? "peak RSS" : "peak memory") << fixed(peak.mib, 1) << " MiB\n";
}

}  // namespace soft::tools::bench
