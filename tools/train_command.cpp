// soft train --config FILE [--set KEY=VALUE ...] [--run-dir PATH] [--device D] [--force]
// soft train --resume RUN_DIR [--device D]
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <csignal>
#include <iostream>
#include <ostream>

#include "dist/communicator.h"
#include "ops/ops.h"
#include "tools/cli.h"
#include "tools/train/progress.h"
#include "tools/train/trainer.h"

namespace soft::tools {
namespace {

constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as a shell reports it

std::atomic<bool> g_stop_requested{false};

void request_stop(int) { g_stop_requested = true; }

// SIGINT (Ctrl-C) asks the trainer to checkpoint after the current step and stop, for the
// lifetime of this object.
class InterruptToCheckpoint {
 public:
  InterruptToCheckpoint() {
    g_stop_requested = false;
    previous_ = std::signal(SIGINT, request_stop);
  }
  ~InterruptToCheckpoint() { std::signal(SIGINT, previous_); }
  InterruptToCheckpoint(const InterruptToCheckpoint&) = delete;
  InterruptToCheckpoint& operator=(const InterruptToCheckpoint&) = delete;

 private:
  void (*previous_)(int) = SIG_DFL;
};

// The config file with the --set overrides, --device, --num-classes and --precision.
train::TrainConfig config_from_args(const Args& args) {
  train::Json json = config_json_from_args(args);
  if (args.has("device")) json["device"] = args.get("device");
  if (args.has("num-classes")) json["model"]["num_classes"] = args.get_int("num-classes", 1, int64_t(1) << 24);
  if (args.has("precision")) json["precision"] = args.get("precision");
  return train::config_from_json(json, args.get("config"));
}

}  // namespace

train::Json config_json_from_args(const Args& args) {
  train::Json json = train::load_train_config_json(args.get("config"));
  for (const std::string& assignment : args.get_all("set")) {
    try {
      train::apply_override(json, assignment);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  return json;
}

ArgParser train_parser() {
  return ArgParser("train", "Train a SOFT model on an image-classification dataset.",
                   "Reads a training config (model, data, optimiser, schedule, augmentation, epochs, batch, seed,\n"
                   "threads, device; docs/TRAINING.md), trains on the train split, evaluates on the test split\n"
                   "after each epoch, and keeps everything in the run folder: config.json, model.json,\n"
                   "metrics.jsonl, curves.svg, latest.safetensors and best.safetensors. Ctrl-C checkpoints after\n"
                   "the current step and stops; --resume continues where it stopped.")
      .option("config", "FILE", "training config (configs/train/*.json)")
      .repeated("set", "KEY=VALUE",
                "override a config key by its dotted name (optim.lr=0.002, epochs=3); VALUE is JSON, else a string")
      .option("resume", "RUN_DIR", "continue the run in RUN_DIR from its latest checkpoint")
      .option("run-dir", "PATH", "the run folder (default runs/NAME, NAME from the config's name)")
      .option("device", "DEVICE", "cpu, cuda or cuda:N (overrides the config's device)")
      .option("precision", "P", "fp32, bf16 on a CUDA device, or fp64 (overrides the config's precision)")
      .option("init", "W", "start from pretrained weights: a .pth, .safetensors or run folder (fine-tuning)")
      .option("num-classes", "K", "classifier size (sets model.num_classes; with --init the head is re-initialised)")
      .flag("force", "start afresh in a run folder that already holds a run (its files are replaced)")
      .epilog("Progress goes to stdout: a status line redrawn in place on a terminal, plain lines otherwise. "
              "Exit status: 0 when the run completes (or stops at debug.stop_at_step), 1 on an error (including "
              "a NaN or infinite loss: the last good checkpoint is kept), 2 on a usage error, 130 when "
              "interrupted (after checkpointing).");
}

namespace {

int train_run(const Args& args, std::ostream& out, dist::Communicator* comm) {
  const bool resume = args.has("resume");
  if (resume == args.has("config"))
    throw UsageError("train: give either --config FILE (a new run) or --resume RUN_DIR; see 'soft train --help'");
  if (resume && (args.has("set") || args.has("run-dir") || args.has("force") || args.has("init") ||
                 args.has("num-classes")))
    throw UsageError("train: --resume continues a run with its own config; --set, --run-dir, --force, --init and "
                     "--num-classes apply to --config");
  train::TrainerOptions options;
  options.out = &out;
  // Under mpirun a rank's stdout may be a pseudo-terminal of the launcher's: plain lines there.
  options.terminal = !comm && &out == &std::cout && ::isatty(STDOUT_FILENO);
  options.stop_requested = &g_stop_requested;
  options.comm = comm;
  InterruptToCheckpoint interrupt;

  std::unique_ptr<train::Trainer> trainer;
  if (resume) {
    std::optional<std::string> device;
    if (args.has("device")) device = args.get("device");
    trainer = train::Trainer::resume(args.get("resume"), device, options);
  } else {
    train::TrainConfig config = config_from_args(args);
    for (const std::string& note : config.notes) out << note << "\n";
    if (args.has("init")) options.init = args.get("init");
    const std::string run_dir = args.has("run-dir") ? args.get("run-dir") : "runs/" + config.name;
    trainer = train::Trainer::start(config, run_dir, args.has("force"), options);
  }
  train::RunSummary summary = trainer->run();
  if (!summary.finished) return g_stop_requested ? kExitInterrupted : kExitOk;
  std::string line = "done: " + std::to_string(summary.steps) + " steps in " + train::format_duration(summary.seconds);
  if (summary.last) line += "; final test top-1 " + train::format_percent(summary.last->top1);
  if (summary.last_ema) line += " (EMA " + train::format_percent(summary.last_ema->top1) + ")";
  if (summary.best_top1 >= 0)
    line += "; best " + train::format_percent(summary.best_top1) + (summary.best_source == "ema" ? " (EMA)" : "") + " in " +
            trainer->folder().best();
  if (comm) {
    char wait[64];
    std::snprintf(wait, sizeof wait, "; %.2f s waiting for gradient all-reduces", summary.allreduce_wait_seconds);
    line += wait;
  }
  if (!comm || comm->rank() == 0) out << line << "\n";
  return kExitOk;
}

// "soft: error: rank R of N: ..." in one write, so that the lines of ranks failing at once do not
// interleave where they share the launcher's stderr.
void say_rank_error(const dist::Communicator& comm, const std::exception& e) {
  const std::string line = detail::concat("soft: error: rank ", comm.rank(), " of ", comm.size(), ": ", e.what(), "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

int train_command(const Args& args, std::ostream& out) {
  dist::Communicator* comm = dist::world();  // launched by mpirun: one rank of a data-parallel job
  if (!comm) return train_run(args, out, nullptr);
  try {
    const int status = train_run(args, out, comm);
    dist::finalize_world();
    return status;
  } catch (const UsageError&) {  // the same arguments on every rank: each stops here alike
    dist::finalize_world();
    throw;
  } catch (const train::StoppedTogether& e) {
    // Every rank stops at this step alike: each says why, and once all have (the all-reduce waits
    // for every rank) they end together, without an abort. The launcher ends the job at the first
    // non-zero exit, so no rank may exit before the others have written their message.
    say_rank_error(*comm, e);
    Tensor everyone_said_it = zeros({1});
    comm->all_reduce_sum_(everyone_said_it);
    dist::finalize_world();
    return kExitError;
  } catch (const std::exception& e) {
    // The other ranks wait in a collective for this one: end the whole job, naming the rank.
    say_rank_error(*comm, e);
    dist::abort_world(kExitError);
  }
}

}  // namespace soft::tools
