#pragma once
// The `soft` command: subcommands dispatched by name, each with its own flags (tools/args.h).
// The whole command runs in-process through run(), so tests see the same output and exit
// status as a shell does; tools/main.cpp only forwards argv.
//
// Adding a subcommand (train, eval, export, bench, ...): write CMD_parser() and CMD_command() in
// tools/CMD_command.cpp, declare them here and add one entry to commands() in tools/cli.cpp.
#include <iosfwd>
#include <string>
#include <vector>

#include "tools/args.h"
#include "tools/train/train_config.h"

namespace soft::tools {

// Runs `soft ARGS...` (without the program name). Output goes to `out`; errors go to `err` as
// "soft: error: <message>". Returns the exit status: kExitOk, kExitError (a soft::Error while
// running: a file missing or invalid, an unknown model, weights or input that do not fit the
// model) or kExitUsage (UsageError: the command line itself is wrong).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

struct Command {
  const char* name;
  const char* summary;                     // one line for `soft --help`
  ArgParser (*parser)();
  int (*run)(const Args& args, std::ostream& out);  // throws UsageError or soft::Error
};
const std::vector<Command>& commands();
std::string general_help();

// soft info: the model's stages, parameters and MACs (tools/info_command.cpp).
ArgParser info_parser();
int info_command(const Args& args, std::ostream& out);

// soft infer: logits of a batch of images from a safetensors file (tools/infer_command.cpp).
ArgParser infer_parser();
int infer_command(const Args& args, std::ostream& out);

// soft bench: benchmarks, train | attn | gemm | data (tools/bench_command.cpp, tools/bench/).
ArgParser bench_parser();
int bench_command(const Args& args, std::ostream& out);

// soft train: train a model, resume a run (tools/train_command.cpp, tools/train/).
ArgParser train_parser();
int train_command(const Args& args, std::ostream& out);
// --config FILE over the defaults, then each --set in order (a bad --set is a usage error).
train::Json config_json_from_args(const Args& args);

// soft compare: several runs side by side, a table and overlaid curves (tools/compare_command.cpp).
ArgParser compare_parser();
int compare_command(const Args& args, std::ostream& out);

// soft eval: test accuracy of a run's checkpoint or of weights (tools/eval_command.cpp).
ArgParser eval_parser();
int eval_command(const Args& args, std::ostream& out);

// soft predict: labelled top-k predictions for image files (tools/predict_command.cpp).
ArgParser predict_parser();
int predict_command(const Args& args, std::ostream& out);

// soft convert: a PyTorch checkpoint to safetensors (tools/convert_command.cpp).
ArgParser convert_parser();
int convert_command(const Args& args, std::ostream& out);

// soft export: a run's weights as a safetensors file (tools/export_command.cpp).
ArgParser export_parser();
int export_command(const Args& args, std::ostream& out);

}  // namespace soft::tools
