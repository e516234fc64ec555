// soft export RUN_DIR --out W.safetensors [--checkpoint best|latest] [--ema]
#include <ostream>

#include "core/safetensors.h"
#include "tools/cli.h"
#include "tools/train/run_folder.h"

namespace soft::tools {

ArgParser export_parser() {
  return ArgParser("export", "Write a run's model weights as a safetensors file for soft infer and soft eval.",
                   "Takes the best checkpoint of RUN_DIR (or --checkpoint latest), the model's weights or with\n"
                   "--ema their EMA, under the official state_dict names. The model's config is RUN_DIR/model.json.")
      .positional("run", "RUN_DIR", "a run folder of soft train")
      .option("out", "W.safetensors", "the weights file to write (atomically)", true)
      .option("checkpoint", "best|latest", "which checkpoint (default best)")
      .flag("ema", "the EMA of the weights instead of the model's own");
}

int export_command(const Args& args, std::ostream& out) {
  train::RunFolder run{args.get("run")};
  std::string what;
  const std::string checkpoint = run.checkpoint(args.has("checkpoint") ? args.get("checkpoint") : "best");
  std::vector<nn::NamedTensor> weights = train::checkpoint_weights(checkpoint, args.has("ema"), what);
  int64_t parameters = 0;
  for (const auto& [name, t] : weights) parameters += t.numel();
  const std::string& path = args.get("out");
  save_safetensors(path, weights, {{"source", what}, {"model_config", run.model_config()}});
  out << "soft export: " << what << " -> " << path << " (" << weights.size() << " tensors, " << parameters
      << " values); run it with: soft infer --model " << run.model_config() << " --weights " << path
      << " --input X.safetensors --output Y.safetensors\n";
  return kExitOk;
}

}  // namespace soft::tools
