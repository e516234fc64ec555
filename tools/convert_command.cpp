// soft convert IN.pth OUT.safetensors [--ema]
#include <ostream>

#include "core/safetensors.h"
#include "nn/torch_checkpoint.h"
#include "tools/cli.h"

namespace soft::tools {

ArgParser convert_parser() {
  return ArgParser("convert", "Convert a PyTorch checkpoint (.pth) to a safetensors weights file.",
                   "Reads a torch.save file (zip format, PyTorch >= 1.6) without executing anything in it: a\n"
                   "bare state_dict, or a training checkpoint's 'model' (or 'state_dict') entry, or with --ema its\n"
                   "'model_ema' (or 'state_dict_ema'). Names are kept (the official SOFT names are this\n"
                   "framework's); float16 becomes float32.")
      .positional("in", "IN.pth", "the PyTorch checkpoint")
      .positional("out", "OUT.safetensors", "the weights file to write (atomically)")
      .flag("ema", "the checkpoint's EMA weights instead of the model's");
}

int convert_command(const Args& args, std::ostream& out) {
  const std::string& in = args.get("in");
  Safetensors weights = nn::load_weights(in, args.has("ema"));
  int64_t values = 0;
  for (const auto& [name, t] : weights.tensors) values += t.numel();
  const std::string& path = args.get("out");
  save_safetensors(path, weights.tensors, {{"source", in}});
  out << "soft convert: " << in << " -> " << path << " (" << weights.tensors.size() << " tensors, " << values
      << " values)\n";
  return kExitOk;
}

}  // namespace soft::tools
