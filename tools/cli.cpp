#include "tools/cli.h"

#include <algorithm>
#include <new>
#include <ostream>
#include <sstream>

#include "core/error.h"

namespace soft::tools {
namespace {

const Command* find_command(const std::string& name) {
  const auto& list = commands();
  auto it = std::find_if(list.begin(), list.end(), [&](const Command& c) { return name == c.name; });
  return it == list.end() ? nullptr : &*it;
}

const Command& command_or_throw(const std::string& name) {
  if (const Command* c = find_command(name)) return *c;
  if (name.compare(0, 1, "-") == 0) throw UsageError("unknown flag '" + name + "'; see 'soft --help'");
  throw UsageError("unknown command '" + name + "'; see 'soft --help' for the commands");
}

int dispatch(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << general_help();
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "--help" || name == "-h") {
    out << general_help();
    return kExitOk;
  }
  if (name == "help") {  // soft help [COMMAND]
    if (args.size() == 1) out << general_help();
    else if (args.size() == 2) out << command_or_throw(args[1]).parser().help();
    else throw UsageError("help: takes at most one command name; see 'soft --help'");
    return kExitOk;
  }
  const Command& command = command_or_throw(name);
  std::vector<std::string> rest(args.begin() + 1, args.end());
  ArgParser parser = command.parser();
  if (wants_help(rest)) {
    out << parser.help();
    return kExitOk;
  }
  return command.run(parser.parse(rest), out);
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"info", "a model's stages, token grids, landmarks, parameter count and MACs", info_parser, info_command},
      {"infer", "logits of a batch of images (safetensors in, safetensors out)", infer_parser, infer_command},
      {"train", "train a model from a config (run folder, metrics, checkpoints, resume)", train_parser,
       train_command},
      {"eval", "test top-1 / top-5 of a run's checkpoint or of weights", eval_parser, eval_command},
      {"predict", "classify image files (JPEG, PNG) with a run or weights", predict_parser, predict_command},
      {"convert", "a PyTorch checkpoint (.pth) as a safetensors file", convert_parser, convert_command},
      {"compare", "several training runs side by side: a table and overlaid loss and accuracy curves",
       compare_parser, compare_command},
      {"export", "a run's model weights as a safetensors file", export_parser, export_command},
      {"bench", "benchmarks: training steps and one attention block (CPU or GPU), GEMM, input pipeline",
       bench_parser, bench_command},
  };
  return list;
}

std::string general_help() {
  std::ostringstream s;
  s << "Usage: soft <command> [flags]\n"
       "       soft help [command]\n\n"
       "soft.cpp's command line for SOFT vision transformers (softmax-free attention).\n\n"
       "Commands:\n";
  for (const Command& c : commands()) {
    std::string name = c.name;
    s << "  " << name << std::string(8 - std::min<size_t>(name.size(), 7), ' ') << c.summary << "\n";
  }
  s << "  help    this help, or a command's ('soft help info' = 'soft info --help')\n\n"
       "Models (--model): a built-in name (soft_tiny, soft_small, soft_medium, soft_large, soft_huge,\n"
       "soft_fmnist, soft_cifar; JSON files in configs/models/, or $SOFT_CONFIG_DIR/models/) or the\n"
       "path of a JSON model config.\n\n"
       "Exit status: 0 success; 1 error while running (a file missing or invalid, an unknown model,\n"
       "weights or input that do not fit the model); 2 usage error (unknown command or flag, missing\n"
       "or malformed value, an image size the model cannot take).\n";
  return s.str();
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    return dispatch(args, out, err);
  } catch (const UsageError& e) {
    err << "soft: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const Error& e) {
    err << "soft: error: " << e.what() << "\n";
    return kExitError;
  } catch (const std::bad_alloc&) {
    err << "soft: error: out of memory\n";
    return kExitError;
  } catch (const std::exception& e) {
    err << "soft: error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace soft::tools
