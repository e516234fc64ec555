#include "tools/train/run_folder.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "models/info.h"
#include "tools/args.h"
#include "tools/train/checkpoint.h"
#ifdef SOFT_HAS_CUDA
#include "cuda/device.h"
#endif

namespace soft::tools::train {

std::string RunFolder::checkpoint(const std::string& which) const {
  if (which == "best") return best();
  if (which == "latest") return latest();
  throw UsageError("'--checkpoint " + which + "': expected best or latest");
}

models::SoftConfig model_config_for(const TrainConfig& config) {
  models::SoftConfig m = models::resolve_config(config.model.config);
  if (config.model.drop_path_rate) m.drop_path_rate = *config.model.drop_path_rate;
  if (config.model.drop_rate) m.drop_rate = *config.model.drop_rate;
  if (config.model.num_classes) m.num_classes = *config.model.num_classes;
  return m;
}

void check_model_fits(const models::SoftConfig& model, const TrainData& data) {
  SOFT_CHECK(model.in_chans == data.channels, "model ", model.name, " takes ", model.in_chans,
             "-channel images but the data (", data.description, ") has ", data.channels);
  SOFT_CHECK(model.num_classes == data.num_classes, "model ", model.name, " has ", model.num_classes,
             " classes but the data (", data.description, ") has ", data.num_classes);
  try {
    models::check_image_size(model, data.height, data.width);
  } catch (const Error& e) {
    throw Error(detail::concat("the data's ", data.height, "x", data.width, " images do not fit the model: ", e.what()));
  }
}

Device usable_device(const std::string& text) {
  Device d = parse_device(text);
  if (d.is_cpu()) return d;
#ifdef SOFT_HAS_CUDA
  const int n = cuda::device_count();
  SOFT_CHECK(n > 0, "device ", text, ": no usable CUDA GPU on this machine (", cuda::describe_devices(), ")");
  SOFT_CHECK(d.index < n, "device ", text, ": this machine has ", n, " CUDA GPU", n == 1 ? "" : "s", " (cuda:0",
             n > 1 ? detail::concat(" .. cuda:", n - 1) : std::string(), ")");
  return d;
#else
  throw Error("device " + text + ": this build has no CUDA backend (rebuild with nvcc available: -DSOFT_CUDA=ON)");
#endif
}

TrainConfig read_run_config(const RunFolder& run) {
  std::ifstream in(run.config());
  SOFT_CHECK(in.good(), run.dir, ": not a run folder (no config.json)");
  std::stringstream text;
  text << in.rdbuf();
  return parse_train_config(text.str(), run.config());
}

std::vector<nn::NamedTensor> checkpoint_weights(const std::string& path, bool ema, std::string& what) {
  Checkpoint c = load_checkpoint(path);
  SOFT_CHECK(!ema || !c.ema.empty(), path, ": the run kept no EMA (ema.enabled was false); leave out --ema");
  what = path + (ema ? " (EMA)" : "") + ", step " + std::to_string(c.state.step);
  return ema ? c.ema : c.model;
}

}  // namespace soft::tools::train
