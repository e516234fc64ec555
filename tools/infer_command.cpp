// soft infer --model NAME --weights W --input X --output Y [--num-classes K] [--threads T]
#include <chrono>
#include <cstdio>
#include <ostream>

#include "autograd/grad_mode.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "models/info.h"
#include "models/soft.h"
#include "nn/state.h"
#include "nn/torch_checkpoint.h"
#include "tools/cli.h"

namespace soft::tools {
namespace {

// The classifier of the weights against the model's: a checkpoint fine-tuned to other classes
// is the common mismatch, and it has a one-flag fix. (Weights of another architecture, where even
// head.weight's width differs, are left to load_state's full list of differences.)
void check_classes(const Safetensors& weights, const models::SoftConfig& config, bool classes_given,
                   const std::string& path) {
  const Tensor* head = weights.find("head.weight");
  if (!head || head->dim() != 2 || head->size(1) != config.embed_dims[3] || head->size(0) == config.num_classes)
    return;
  int64_t k = head->size(0);
  throw Error(detail::concat(path, ": weights have ", k, " classes (head.weight ", shape_str(head->shape()), ") but ",
                             classes_given ? "--num-classes is " : config.name + "'s config has ", config.num_classes,
                             "; pass --num-classes ", k));
}

// The images: key "input", float32 [B, in_chans, H, W] with H x W large enough for the model.
Tensor read_input(const Safetensors& file, const models::SoftConfig& config, const std::string& path) {
  const std::string want = detail::concat("float32 [B, ", config.in_chans, ", H, W]");
  const Tensor* input = file.find("input");
  if (!input) {
    constexpr size_t kShown = 8;
    std::string keys;
    for (size_t i = 0; i < file.tensors.size() && i < kShown; ++i) keys += (i ? ", " : "") + file.tensors[i].first;
    if (file.tensors.size() > kShown) keys += detail::concat(" and ", file.tensors.size() - kShown, " more");
    throw Error(path + ": no tensor named 'input' (the file holds: " + (keys.empty() ? "nothing" : keys) +
                "); soft infer reads the images from key 'input', " + want);
  }
  SOFT_CHECK(input->dtype() == DType::Float32, path, ": 'input' has dtype ", dtype_name(input->dtype()),
             "; soft infer needs ", want);
  SOFT_CHECK(input->dim() == 4 && input->size(1) == config.in_chans && input->size(0) > 0, path, ": 'input' has shape ",
             shape_str(input->shape()), "; ", config.name, " needs ", want, " (in_chans ", config.in_chans, ")");
  try {
    models::check_image_size(config, input->size(2), input->size(3));
  } catch (const Error& e) {
    throw Error(path + ": 'input': " + e.what());
  }
  return *input;
}

}  // namespace

ArgParser infer_parser() {
  return ArgParser("infer", "Run a SOFT model on a batch of images and write its logits.",
                   "Builds the model, loads the weights strictly (every tensor of the model, nothing else, same\n"
                   "shapes), and runs one forward pass in eval mode without autograd.")
      .option("model", "NAME", "built-in model (soft_tiny ... soft_huge, soft_fmnist, soft_cifar) or JSON config path",
              true)
      .option("weights", "W", "the model's state under its official state_dict names: .safetensors or a PyTorch .pth", true)
      .flag("ema", "a .pth training checkpoint's EMA weights (model_ema) instead of its model")
      .option("input", "X.safetensors", "key 'input': float32 [B, C, H, W] images, C = the config's in_chans", true)
      .option("output", "Y.safetensors", "written (atomically) with key 'logits': float32 [B, classes]", true)
      .option("num-classes", "K", "classifier size, overriding the config's num_classes")
      .option("threads", "T", "CPU threads (default: OpenMP's, e.g. $OMP_NUM_THREADS)")
      .option("device", "DEV", "cpu (default), cuda or cuda:N")
      .epilog("Prints one summary line: model, batch, image size and the forward pass's time.");
}

int infer_command(const Args& args, std::ostream& out) {
  if (args.has("threads")) set_num_threads(static_cast<int>(args.get_int("threads", 1, 4096)));
  Device device = args.has("device") ? parse_device(args.get("device")) : Device::cpu();
  models::SoftConfig config = models::resolve_config(args.get("model"));
  bool classes_given = args.has("num-classes");
  if (classes_given) config.num_classes = args.get_int("num-classes", 1, int64_t(1) << 24);

  // The small input first, so that a wrong one fails before the weights are read.
  const std::string& input_path = args.get("input");
  Tensor images = read_input(load_safetensors(input_path), config, input_path);
  const std::string& weights_path = args.get("weights");
  Safetensors weights = nn::load_weights(weights_path, args.has("ema"));
  SOFT_CHECK(!args.has("ema") || weights.metadata.count("format"), weights_path,
             ": --ema applies to .pth training checkpoints (soft export --ema writes a run's EMA)");
  check_classes(weights, config, classes_given, weights_path);

  models::SoftModel model(config);
  nn::load_state(model, weights, weights_path);
  model.eval();
  model.to(device);  // a clear error when the device is not there
  NoGradGuard no_grad;
  auto start = std::chrono::steady_clock::now();
  Tensor logits = to_device(model.forward(to_device(images, device)), Device::cpu());  // [B, num_classes]
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string& output_path = args.get("output");
  save_safetensors(output_path, {{"logits", logits}},
                   {{"model", config.name}, {"weights", weights_path}, {"input", input_path}});
  char time[32];
  std::snprintf(time, sizeof time, "%.3f s", seconds);
  out << "soft infer: " << config.name << ", batch " << images.size(0) << " of " << images.size(1) << "x"
      << images.size(2) << "x" << images.size(3) << ", logits " << shape_str(logits.shape()) << " -> " << output_path
      << " (forward " << time << " on " << device.str() << ", " << num_threads() << " threads)\n";
  return kExitOk;
}

}  // namespace soft::tools
