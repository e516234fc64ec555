#pragma once
// The training loop of `soft train`, usable from C++ and tests: a run folder, the model, its EMA,
// the optimiser, the schedule and the data, stepped to the end with evaluations, metrics,
// checkpoints and curves along the way (docs/TRAINING.md).
//
// Reproducibility: every random draw comes from seeded Philox generators. The loader's order and
// transforms depend only on (seed, epoch, sample position); dropout, drop-path and mixup draw from the
// default generator, whose (seed, offset) goes into each checkpoint with the position in the
// data. Checkpoints are written between optimiser steps, so on the CPU (same thread count) a
// resumed run computes bit for bit what the uninterrupted run computes.
//
// Data parallelism (docs/DISTRIBUTED.md): given a communicator, each of the N processes trains on
// its share of every global batch (config.batch), the gradients are averaged across them during
// backward (dist::GradReducer), and every decision (clipping, a NaN stop, a stop request) is
// taken on reduced values, so all ranks stay in step. Rank 0 alone prints and writes the run
// folder; a checkpoint holds no rank-specific state, so a run resumes with any number of ranks.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "dist/communicator.h"
#include "dist/reducer.h"
#include "models/soft.h"
#include "nn/optim/ema.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/schedule.h"
#include "tools/train/checkpoint.h"
#include "tools/train/data_setup.h"
#include "tools/train/evaluate.h"
#include "tools/train/metrics_log.h"
#include "tools/train/progress.h"
#include "tools/train/run_folder.h"

namespace soft::tools::train {

// A run stopped on numbers every rank shares (the loss averaged over the ranks, the norm of the
// averaged gradients): in a data-parallel job every rank throws it at the same step, so the job
// can end without aborting any rank.
struct StoppedTogether : Error {
  using Error::Error;
};

struct TrainerOptions {
  std::ostream* out = nullptr;  // progress and messages (nullptr: silent)
  bool terminal = false;        // redraw the progress line in place
  // Checked after every optimiser step: when set, the run checkpoints and stops (e.g. on SIGINT).
  const std::atomic<bool>* stop_requested = nullptr;
  // The job's processes (dist::world()), or nullptr to train alone.
  dist::Communicator* comm = nullptr;
  // A new run's starting weights (soft train --init; tools/train/init_weights.h); empty: random.
  std::string init;
};

struct RunSummary {
  bool finished = false;  // false: stopped early (stop request or debug.stop_at_step)
  int64_t steps = 0;
  std::optional<EvalResult> last, last_ema;  // the last evaluation (if any)
  double best_top1 = -1;
  std::string best_source;
  double seconds = 0;
  double allreduce_wait_seconds = 0;  // data-parallel runs: time backward's end waited for gradients
};

class Trainer {
 public:
  // A new run in `run_dir`, created if missing. A folder that already holds a run is an error
  // unless `overwrite` (its files are then replaced).
  static std::unique_ptr<Trainer> start(const TrainConfig& config, const std::string& run_dir, bool overwrite,
                                        const TrainerOptions& options);
  // The run in `run_dir` from its latest checkpoint; `device` overrides the config's.
  static std::unique_ptr<Trainer> resume(const std::string& run_dir, const std::optional<std::string>& device,
                                         const TrainerOptions& options);

  // Trains to the end (or to a stop); a non-finite loss or gradient, or a checkpoint that cannot be
  // written (a full disk), throws soft::Error naming the step, leaving the last checkpoint as it was.
  RunSummary run();

  const TrainConfig& config() const { return config_; }
  const RunFolder& folder() const { return folder_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  Trainer(TrainConfig config, models::SoftConfig model_config, std::string run_dir, const TrainerOptions& options);
  void restore(const Checkpoint& checkpoint);
  void join_ranks();  // the same start on every rank: rank 0's weights, per-rank random streams
  bool is_writer() const { return rank_ == 0; }
  // Sums `values` over the ranks (a no-op alone).
  void sum_over_ranks(std::vector<double>& values);
  void report_bad_files();  // after an epoch: how many unreadable images were replaced in it
  void init_model();  // options_.init's weights into model_, the report printed
  // Trains the rest of the current epoch; false when a stop was requested (after checkpointing).
  bool train_epoch();
  // One optimiser step over `micro_batches` accumulated batches.
  void train_step(int64_t micro_batches);
  double log_window();  // writes the window's metrics line; returns its images/s
  void evaluate_and_save(RunSummary& summary);
  void save(const std::string& path);
  std::string last_good_checkpoint() const;
  void say(const std::string& line);
  double elapsed() const;

  TrainConfig config_;
  models::SoftConfig model_config_;
  int rank_ = 0, world_size_ = 1;
  RunFolder folder_;
  TrainerOptions options_;
  Device device_;
  TrainData data_;
  std::unique_ptr<models::SoftModel> model_, ema_model_;
  std::unique_ptr<nn::optim::ModelEma> ema_;
  std::unique_ptr<nn::optim::Optimizer> optimizer_;
  std::unique_ptr<dist::GradReducer> reducer_;  // data-parallel runs only
  nn::optim::CosineSchedule schedule_;
  int64_t batches_per_epoch_ = 0, steps_per_epoch_ = 0;
  TrainerState state_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<Progress> progress_;
  std::chrono::steady_clock::time_point start_time_, window_start_;
  int64_t last_checkpoint_step_ = -1;  // -1: none written or restored
  bool stop_requested_ = false;        // by any rank, as of the last step
  int64_t bad_files_reported_ = 0;
  double last_lr_ = 0, last_loss_ = 0;
};

}  // namespace soft::tools::train
