// soft eval RUN_DIR [--checkpoint best|latest] [--ema]
// soft eval --config FILE --weights W.safetensors [--set KEY=VALUE ...]
#include <chrono>
#include <cstdio>
#include <ostream>

#include "core/parallel.h"
#include "core/safetensors.h"
#include "models/soft.h"
#include "nn/state.h"
#include "nn/torch_checkpoint.h"
#include "tools/cli.h"
#include "tools/train/evaluate.h"
#include "tools/train/progress.h"
#include "tools/train/run_folder.h"

namespace soft::tools {

ArgParser eval_parser() {
  return ArgParser("eval", "Test accuracy (top-1, top-5, loss) of trained weights on a dataset's test split.",
                   "Either a run folder (its best checkpoint, or --checkpoint latest; the raw model, or --ema its\n"
                   "EMA), or a training config naming the model and data with --weights (soft export's output or a\n"
                   "training checkpoint).")
      .positional("run", "RUN_DIR", "a run folder of soft train", false)
      .option("checkpoint", "best|latest", "which checkpoint of RUN_DIR (default best)")
      .flag("ema", "the EMA of the weights instead of the model's own")
      .option("config", "FILE", "training config (with --weights): its model and data sections are used")
      .repeated("set", "KEY=VALUE", "override a key of --config (e.g. data.path=DIR)")
      .option("num-classes", "K", "classifier size with --config (sets model.num_classes)")
      .option("weights", "W", "model weights (with --config): .safetensors or a PyTorch .pth")
      .option("device", "DEVICE", "cpu, cuda or cuda:N (default: cpu)")
      .option("threads", "T", "CPU threads (default: OpenMP's, e.g. $OMP_NUM_THREADS)")
      .epilog("Prints one line: the weights, top-1, top-5 and mean cross-entropy over the test split.");
}

int eval_command(const Args& args, std::ostream& out) {
  const bool from_run = args.has("run");
  if (from_run == (args.has("config") || args.has("weights")))
    throw UsageError("eval: give either RUN_DIR or --config FILE --weights W.safetensors; see 'soft eval --help'");
  if (!from_run && !(args.has("config") && args.has("weights")))
    throw UsageError("eval: --config and --weights go together");
  if (from_run && (args.has("set") || args.has("num-classes")))
    throw UsageError("eval: --set and --num-classes apply to --config");
  if (args.has("threads")) set_num_threads(static_cast<int>(args.get_int("threads", 1, 4096)));
  const Device device = train::usable_device(args.has("device") ? args.get("device") : "cpu");

  train::TrainConfig config;
  models::SoftConfig model_config;
  std::vector<nn::NamedTensor> weights;
  std::string what;
  if (from_run) {
    train::RunFolder run{args.get("run")};
    const std::string checkpoint = run.checkpoint(args.has("checkpoint") ? args.get("checkpoint") : "best");
    config = train::read_run_config(run);
    model_config = models::load_config(run.model_config());
    weights = train::checkpoint_weights(checkpoint, args.has("ema"), what);
  } else {
    if (args.has("checkpoint")) throw UsageError("eval: --checkpoint applies to RUN_DIR");
    std::vector<std::string> sets = args.get_all("set");
    if (args.has("num-classes")) sets.push_back("model.num_classes=" + std::to_string(args.get_int("num-classes", 1, int64_t(1) << 24)));
    config = train::load_train_config(args.get("config"), sets);
    model_config = train::model_config_for(config);
    what = args.get("weights");
    Safetensors file = nn::load_weights(what, args.has("ema"));
    if (file.metadata.count("trainer")) {
      weights = train::checkpoint_weights(args.get("weights"), args.has("ema"), what);
    } else {
      SOFT_CHECK(!args.has("ema") || file.metadata.count("format"), what,
                 ": holds model weights, not a training checkpoint; leave out --ema");
      weights = file.tensors;
    }
  }
  train::TrainData data = train::make_test_data(config);
  train::check_model_fits(model_config, data);
  models::SoftModel model(model_config);
  nn::load_state(model, Safetensors{what, weights, {}}, what);
  model.to(device);
  const auto start = std::chrono::steady_clock::now();
  train::EvalResult r = train::evaluate(model, *data.test.loader, device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char loss[32], time[32];
  std::snprintf(loss, sizeof loss, "%.4f", r.loss);
  std::snprintf(time, sizeof time, "%.1f s", seconds);
  out << "soft eval: " << what << ": top-1 " << train::format_percent(r.top1) << ", top-5 " << train::format_percent(r.top5) << ", loss " << loss
      << " on " << r.images << " test images (" << data.description << ") in " << time << "\n";
  return kExitOk;
}

}  // namespace soft::tools
