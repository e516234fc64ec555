#include "tools/train/trainer.h"
#include "tools/train/class_names.h"
#include "tools/train/init_weights.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <thread>

#include "autograd/grad_mode.h"
#include "core/atomic_file.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "core/splitmix.h"
#include "nn/layers.h"
#include "nn/optim/clip.h"
#include "nn/optim/mixup.h"
#include "nn/state.h"
#include "ops/autocast.h"
#include "ops/ops.h"
#include "tools/train/curves.h"

namespace soft::tools::train {
namespace {

namespace fs = std::filesystem;

std::string fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Copies `from` into the tensors of `to` (same names in the same order), in place.
void copy_state(const std::vector<nn::NamedTensor>& from, const std::vector<nn::NamedTensor>& to,
                const std::string& what) {
  SOFT_CHECK(from.size() == to.size(), what, ": ", from.size(), " tensors where the model has ", to.size());
  NoGradGuard no_grad;
  for (size_t k = 0; k < from.size(); ++k) {
    SOFT_CHECK(from[k].first == to[k].first && from[k].second.shape() == to[k].second.shape(), what, ": tensor ",
               from[k].first, " ", shape_str(from[k].second.shape()), " does not match the model's ", to[k].first,
               " ", shape_str(to[k].second.shape()));
    Tensor dst = to[k].second;  // a handle: copying into it updates the model's tensor
    copy_(dst, from[k].second);
  }
}

// The seed of rank r's default generator (dropout, drop-path, mixup): rank 0 keeps the run's seed, so
// one process draws exactly as before, and the others get unrelated streams.
// All ranks advance their offsets alike, so a checkpoint's (seed, offset) of rank 0 serves them all.
uint64_t rank_seed(uint64_t seed, int rank) {
  return rank == 0 ? seed : splitmix64(seed ^ splitmix64(static_cast<uint64_t>(rank)));
}

// The threads of one process: the config's, or this machine's cores shared by its ranks.
int threads_per_rank(const TrainConfig& c, const dist::Communicator* comm) {
  if (c.threads > 0 || !comm) return static_cast<int>(c.threads);
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / comm->local_size());
}

}  // namespace

Trainer::Trainer(TrainConfig config, models::SoftConfig model_config, std::string run_dir,
                 const TrainerOptions& options)
    : config_(std::move(config)), model_config_(std::move(model_config)), folder_{std::move(run_dir)},
      options_(options) {
  if (options_.comm) {
    rank_ = options_.comm->rank();
    world_size_ = options_.comm->size();
  }
  SOFT_CHECK(config_.batch % world_size_ == 0, "'batch' = ", config_.batch,
             " (the global batch) cannot be split evenly over ", world_size_,
             " processes; make it a multiple of the number of ranks");
  config_.dist.world_size = world_size_;
  config_.json["dist"]["world_size"] = world_size_;
  if (const int threads = threads_per_rank(config_, options_.comm); threads > 0) set_num_threads(threads);
  device_ = usable_device(config_.device);
  if (options_.comm && device_.is_cuda()) device_ = usable_device(Device::cuda(options_.comm->local_rank()).str());
  data_ = make_train_data(config_, {rank_, world_size_});
  check_model_fits(model_config_, data_);

  manual_seed(config_.seed);  // parameter initialisation, then dropout, drop-path and mixup
  model_ = std::make_unique<models::SoftModel>(model_config_);
  if (!options_.init.empty()) init_model();
  model_->to(device_);
  if (config_.precision == "fp64") model_->to(DType::Float64);
  join_ranks();
  if (config_.ema.enabled) {
    ema_model_ = std::make_unique<models::SoftModel>(model_config_);
    ema_model_->to(device_);
    if (config_.precision == "fp64") ema_model_->to(DType::Float64);
    ema_ = std::make_unique<nn::optim::ModelEma>(*model_, config_.ema.decay);
  }
  const auto& o = config_.optim;
  auto groups = nn::optim::param_groups(*model_, o.weight_decay);
  if (o.name == "adamw")
    optimizer_ = std::make_unique<nn::optim::AdamW>(std::move(groups), o.lr, o.beta1, o.beta2, o.eps);
  else
    optimizer_ = std::make_unique<nn::optim::SGD>(std::move(groups), o.lr, o.momentum, o.nesterov);

  batches_per_epoch_ = data_.train.loader->batches_per_epoch();
  steps_per_epoch_ = (batches_per_epoch_ + config_.accum_steps - 1) / config_.accum_steps;
  schedule_.base_lr = o.lr;
  schedule_.warmup_lr = config_.schedule.warmup_lr;
  schedule_.min_lr = config_.schedule.min_lr;
  schedule_.total = config_.epochs * steps_per_epoch_;
  schedule_.warmup = std::min<int64_t>(schedule_.total - 1,
                              std::llround(config_.schedule.warmup_epochs * static_cast<double>(steps_per_epoch_)));
  state_.rng_seed = default_generator().seed;
  state_.rng_offset = default_generator().offset;
  default_generator().seed = rank_seed(state_.rng_seed, rank_);
  if (options_.out && is_writer())
    progress_ = std::make_unique<Progress>(*options_.out, options_.terminal, config_.epochs, steps_per_epoch_);
}

std::unique_ptr<Trainer> Trainer::start(const TrainConfig& config, const std::string& run_dir, bool overwrite,
                                        const TrainerOptions& options) {
  RunFolder folder{run_dir};
  std::error_code ec;
  const bool writer = !options.comm || options.comm->rank() == 0;
  if (writer && (fs::exists(folder.config(), ec) || fs::exists(folder.latest(), ec))) {
    SOFT_CHECK(overwrite, run_dir, " already holds a run; continue it with 'soft train --resume ", run_dir,
               "', or pass --force to start it afresh");
    for (const std::string& f : {folder.latest(), folder.best(), folder.metrics(), folder.curves()}) fs::remove(f, ec);
  }
  if (writer) {
    fs::create_directories(run_dir, ec);
    SOFT_CHECK(fs::is_directory(run_dir), run_dir, ": cannot create the run folder (", ec.message(), ")");
  }

  std::unique_ptr<Trainer> t(new Trainer(config, model_config_for(config), run_dir, options));
  // The resolved config records the normalisation actually used (computed from the train split
  // when the config gives none), so evaluation and resumption need not recompute it.
  t->config_.json["data"]["mean"] = t->data_.mean;
  t->config_.json["data"]["std"] = t->data_.std;
  t->config_.data.mean = t->data_.mean;
  t->config_.data.std = t->data_.std;
  if (!writer) return t;
  write_file_atomic(folder.config(), t->config_.json.dump(2) + "\n");
  write_file_atomic(folder.model_config(), models::config_to_json(t->model_config_) + "\n");
  write_class_names(folder, t->config_, t->model_config_.num_classes);
  t->metrics_ = std::make_unique<MetricsLog>(folder.metrics(), 0);
  return t;
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& run_dir, const std::optional<std::string>& device,
                                         const TrainerOptions& options) {
  RunFolder folder{run_dir};
  std::error_code ec;
  SOFT_CHECK(fs::is_directory(run_dir, ec), run_dir, ": no such run folder");
  SOFT_CHECK(fs::exists(folder.latest(), ec), run_dir, ": no latest.safetensors to resume from (the run ",
             "stopped before its first checkpoint); start it again");
  Checkpoint ckpt = load_checkpoint(folder.latest());
  Json json = default_config_json();
  merge_config(json, ckpt.config, folder.latest());
  if (device) json["device"] = *device;
  TrainConfig config = config_from_json(json, folder.latest());
  models::SoftConfig model_config = models::parse_config(ckpt.model_config.dump(), folder.latest());
  std::unique_ptr<Trainer> t(new Trainer(std::move(config), std::move(model_config), run_dir, options));
  t->restore(ckpt);
  if (t->is_writer()) {
    write_file_atomic(folder.config(), t->config_.json.dump(2) + "\n");  // records this start's world size
    t->metrics_ = std::make_unique<MetricsLog>(folder.metrics(), t->state_.metrics_bytes);
  }
  return t;
}

void Trainer::init_model() {
  const InitReport report = init_from_weights(*model_, options_.init);
  if (options_.out && is_writer()) *options_.out << describe(report) << "\n";
}

void Trainer::restore(const Checkpoint& c) {
  const std::string what = folder_.latest();
  nn::load_state(*model_, Safetensors{what, c.model, {}}, what);
  if (ema_) copy_state(c.ema, ema_->state(), what + " (EMA)");
  optimizer_->load_state(c.optimizer);
  state_ = c.state;
  SOFT_CHECK(state_.epoch >= 0 && state_.epoch <= config_.epochs && state_.batch >= 0 &&
                 state_.batch <= batches_per_epoch_,
             what, ": position epoch ", state_.epoch, ", batch ", state_.batch, " is outside this run's ",
             config_.epochs, " epochs of ", batches_per_epoch_, " batches");
  default_generator().seed = rank_seed(state_.rng_seed, rank_);
  default_generator().offset = state_.rng_offset;
  last_checkpoint_step_ = state_.step;
}

void Trainer::join_ranks() {
  dist::Communicator* comm = options_.comm;
  if (!comm) return;
  NoGradGuard no_grad;
  for (auto& [name, t] : model_->state()) {  // as DistributedDataParallel: every rank starts from rank 0's
    SOFT_CHECK(t.is_contiguous(), "data-parallel start: ", name, " is not contiguous");
    Tensor handle = t;
    comm->broadcast_(handle, 0);
  }
  reducer_ = std::make_unique<dist::GradReducer>(model_->parameters(), *comm, config_.dist.bucket_mib);
  if (config_.dist.sync_bn)
    model_->apply([comm](const std::string&, nn::Module& m) {
      if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) bn->sync = comm;
    });
}

void Trainer::sum_over_ranks(std::vector<double>& values) {
  if (!options_.comm) return;
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::Float64);
  std::copy(values.begin(), values.end(), t.data<double>());
  options_.comm->all_reduce_sum_(t);
  std::copy(t.data<double>(), t.data<double>() + values.size(), values.begin());
}

void Trainer::report_bad_files() {
  const int64_t count = data_.bad_files->count();
  std::vector<double> skipped{static_cast<double>(count - bad_files_reported_)};
  bad_files_reported_ = count;
  sum_over_ranks(skipped);
  if (skipped[0] > 0)
    say(detail::concat("epoch ", state_.epoch, ": ", skipped[0], " unreadable image", skipped[0] == 1 ? "" : "s",
                       " replaced by the next one (data.skip_bad_files)"));
}

void Trainer::say(const std::string& line) {
  if (progress_) progress_->message(line);
}

double Trainer::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_).count();
}

void Trainer::save(const std::string& path) {
  if (!is_writer()) return;  // rank 0's default generator has the run's seed (rank_seed)
  state_.rng_seed = default_generator().seed;
  state_.rng_offset = default_generator().offset;
  state_.metrics_bytes = metrics_->bytes();
  state_.threads = num_threads();
  state_.world_size = world_size_;
  Checkpoint c;
  c.model = model_->state();
  if (ema_) c.ema = ema_->state();
  c.optimizer = optimizer_->state();
  c.state = state_;
  c.config = config_.json;
  c.model_config = Json::parse(models::config_to_json(model_config_));
  try {
    metrics_->sync();  // a checkpoint never records more of the log than the disk holds
    save_checkpoint(path, c);
  } catch (const Error& e) {  // e.g. a full disk: the run cannot go on, but it can be resumed
    throw Error(detail::concat("step ", state_.step, ": checkpoint not saved: ", e.what(), ". ",
                               last_good_checkpoint()));
  }
  if (path == folder_.latest()) last_checkpoint_step_ = state_.step;
}

void Trainer::train_step(int64_t micro_batches) {
  const int64_t step = state_.step + 1;
  const auto& aug = config_.augmentation;
  const bool mixing = (aug.mixup > 0 || aug.cutmix > 0) && aug.mixup_prob > 0;
  nn::optim::MixupConfig mix{aug.mixup,           aug.cutmix, aug.mixup_prob, aug.switch_prob,
                             aug.label_smoothing, data_.num_classes};
  model_->train();
  optimizer_->zero_grad();
  double loss_sum = 0;
  int64_t images = 0, first_bad = -1;  // first_bad: the first micro-batch whose loss is not finite
  for (int64_t k = 0; k < micro_batches; ++k) {
    std::optional<data::Batch> batch = data_.train.loader->next();
    SOFT_CHECK(batch, "train loader: epoch ", state_.epoch, " ended at batch ", state_.batch + k, " of ",
               batches_per_epoch_);
    Tensor x = batch->images, target = batch->labels;  // [B, C, H, W], [B] (B: this rank's share)
    double smoothing = aug.label_smoothing;
    if (mixing) {
      nn::optim::MixupResult m = nn::optim::mixup_cutmix(x, target, mix, default_generator());
      x = m.x;
      target = m.target;  // [B, K], already smoothed
      smoothing = 0;
    }
    // Gradients are averaged over the ranks once, during the last micro-batch's backward.
    if (reducer_ && k + 1 == micro_batches) reducer_->begin();
    AutocastBf16 autocast(config_.precision == "bf16");  // over forward and backward
    // From the loader's pinned batches the copies are only queued: the host goes on to queue the
    // forward pass, which the device's stream runs after them.
    Tensor input = x.to(device_, /*non_blocking=*/true);
    Tensor goal = target.to(device_, /*non_blocking=*/true);
    if (config_.precision == "fp64") input = to_dtype(input, DType::Float64);
    if (goal.dtype() != DType::Int64) goal = to_dtype(goal, input.dtype());  // mixed targets [B, K]
    Tensor logits = model_->forward(input);  // [B, K]
    Tensor loss = cross_entropy(logits, goal, smoothing);
    const auto& debug = config_.debug;
    if (step == debug.nan_at_step && (debug.nan_rank < 0 || debug.nan_rank == rank_))
      loss = loss * std::numeric_limits<double>::quiet_NaN();
    const double value = loss.item();
    if (!std::isfinite(value) && first_bad < 0) first_bad = k;
    (micro_batches == 1 ? loss : loss * (1.0 / static_cast<double>(micro_batches))).backward();
    loss_sum += value;
    images += x.size(0);
  }
  if (reducer_) reducer_->finish();
  // Every rank decides on the same numbers: the mean loss over the ranks, and whether any was asked to stop.
  const bool asked_to_stop = options_.stop_requested && options_.stop_requested->load();
  std::vector<double> reduced{loss_sum, asked_to_stop ? 1.0 : 0.0};
  sum_over_ranks(reduced);
  loss_sum = reduced[0] / world_size_;
  stop_requested_ = reduced[1] > 0;
  if (!std::isfinite(loss_sum))
    throw StoppedTogether(detail::concat("step ", step, " (epoch ", state_.epoch + 1, ", batch ",
                                         state_.batch + (first_bad >= 0 ? first_bad + 1 : micro_batches),
                                         "): the training loss is ", loss_sum, "; stopping. ",
                                         last_good_checkpoint()));
  const double clip = config_.optim.clip_grad > 0 ? config_.optim.clip_grad : std::numeric_limits<double>::infinity();
  const double grad_norm = nn::optim::clip_grad_norm(model_->parameters(), clip);
  if (!std::isfinite(grad_norm))
    throw StoppedTogether(detail::concat("step ", step, " (epoch ", state_.epoch + 1, "): the gradient norm is ",
                                         grad_norm, "; stopping. ", last_good_checkpoint()));
  last_lr_ = schedule_(state_.step);
  optimizer_->set_lr(last_lr_);
  optimizer_->step();
  if (ema_) ema_->update(*model_);

  state_.step = step;
  state_.batch += micro_batches;
  last_loss_ = loss_sum / static_cast<double>(micro_batches);
  state_.window_loss += last_loss_;
  state_.window_grad_norm += grad_norm;
  state_.window_steps += 1;
  state_.window_images += images * world_size_;
}

std::string Trainer::last_good_checkpoint() const {
  if (last_checkpoint_step_ < 0) return "No checkpoint was written yet.";
  return detail::concat("The last good checkpoint, ", folder_.latest(), " (step ", last_checkpoint_step_,
                        "), is kept.");
}

double Trainer::log_window() {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - window_start_).count();
  const double n = static_cast<double>(state_.window_steps);
  const double images_per_s = seconds > 0 ? static_cast<double>(state_.window_images) / seconds : 0.0;
  const double loss = state_.window_loss / n;
  if (metrics_) metrics_->append(Json{{"kind", "train"},
                        {"epoch", static_cast<double>(state_.step) / static_cast<double>(steps_per_epoch_)},
                        {"step", state_.step},
                        {"loss", loss},
                        {"lr", last_lr_},
                        {"grad_norm", state_.window_grad_norm / n},
                        {"images_per_s", images_per_s},
                        {"time_s", elapsed()}});
  state_.window_loss = state_.window_grad_norm = 0;
  state_.window_steps = state_.window_images = 0;
  window_start_ = now;
  return images_per_s;
}

bool Trainer::train_epoch() {
  data::DataLoader& loader = *data_.train.loader;
  loader.start_epoch(state_.epoch);
  if (state_.batch > 0) loader.skip_to(state_.batch);
  while (state_.batch < batches_per_epoch_) {
    train_step(std::min(config_.accum_steps, batches_per_epoch_ - state_.batch));
    const bool logged = state_.step % config_.log.every_steps == 0;
    // Between logging steps the status shows the open window's rate so far.
    const double window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start_).count();
    StepStatus status{state_.epoch, state_.step, last_loss_, last_lr_,
                      window_s > 0 ? static_cast<double>(state_.window_images) / window_s : 0.0};
    if (logged) {
      status.loss = state_.window_loss / static_cast<double>(state_.window_steps);
      status.images_per_s = log_window();
    }
    if (progress_) progress_->step(status, logged);
    const bool stop = stop_requested_ || state_.step == config_.debug.stop_at_step;
    if (stop || (config_.log.checkpoint_every_steps > 0 && state_.step % config_.log.checkpoint_every_steps == 0))
      save(folder_.latest());
    if (stop) {
      if (progress_) progress_->finish();
      say(detail::concat("stopped after step ", state_.step, " (epoch ", state_.epoch + 1, ", batch ", state_.batch,
                         "); checkpoint ", folder_.latest(), "; continue with: soft train --resume ", folder_.dir));
      return false;
    }
  }
  return true;
}

void Trainer::evaluate_and_save(RunSummary& summary) {
  EvalResult r = evaluate(*model_, *data_.test.loader, device_, options_.comm);
  Json line{{"kind", "eval"}, {"epoch", state_.epoch}, {"step", state_.step},
            {"top1", r.top1}, {"top5", r.top5},        {"test_loss", r.loss}};
  summary.last = r;
  double best = r.top1;
  std::string source = "model";
  std::string text = detail::concat("epoch ", state_.epoch, "/", config_.epochs, ": test top-1 ", format_percent(r.top1),
                                    ", top-5 ", format_percent(r.top5), ", loss ", fixed(r.loss, 4));
  if (ema_) {
    copy_state(ema_->state(), ema_model_->state(), "EMA");
    EvalResult e = evaluate(*ema_model_, *data_.test.loader, device_, options_.comm);
    line["ema_top1"] = e.top1;
    line["ema_top5"] = e.top5;
    line["ema_test_loss"] = e.loss;
    summary.last_ema = e;
    text += detail::concat("; EMA top-1 ", format_percent(e.top1), ", loss ", fixed(e.loss, 4));
    if (e.top1 > best) best = e.top1, source = "ema";
  }
  line["time_s"] = elapsed();
  if (metrics_) metrics_->append(line);
  const bool improved = best > state_.best_top1;
  if (improved) {
    state_.best_top1 = best;
    state_.best_source = source;
    state_.best_step = state_.step;
  }
  if (progress_) progress_->finish();
  say(text + " (" + format_duration(elapsed()) + ")");
  // latest.safetensors goes last: it commits the evaluation. A run killed before it resumes from
  // the previous checkpoint and evaluates again, rewriting the curves and the best checkpoint;
  // saved first, a kill before best.safetensors was written would lose that best for good.
  if (is_writer())
    write_file_atomic(folder_.curves(), curves_svg(read_metrics(folder_.metrics()), config_.name));
  if (improved) save(folder_.best());
  save(folder_.latest());
}

RunSummary Trainer::run() {
  RunSummary summary;
  start_time_ = window_start_ = std::chrono::steady_clock::now();
  const int64_t total_steps = config_.epochs * steps_per_epoch_;
  say(detail::concat("soft train: ", config_.name, " -> ", folder_.dir, "/"));
  say("data: " + data_.description);
  say(detail::concat("model: ", model_config_.name, ", ", fixed(static_cast<double>(model_->num_parameters()) / 1e6, 2),
                     "M parameters; ", config_.optim.name, " lr ", config_.optim.lr, ", batch ", config_.batch,
                     config_.accum_steps > 1 ? detail::concat(" x ", config_.accum_steps, " accumulated") : "", ", ",
                     config_.epochs, " epochs of ", steps_per_epoch_, " steps; ", device_.str(), ", ", num_threads(),
                     " threads", world_size_ > 1 ? detail::concat(" on each of ", world_size_, " processes") : ""));
  if (state_.step > 0 && state_.threads > 0 && (state_.threads != num_threads() || state_.world_size != world_size_))
    say(detail::concat("note: the checkpoint was written by ", state_.world_size, " process(es) of ", state_.threads,
                       " threads, this run has ", world_size_, " of ", num_threads(), ": it continues correctly, "
                       "but sums in another order, so not bit for bit as the uninterrupted run would"));
  if (state_.step > 0)
    say(detail::concat("resuming after step ", state_.step, " of ", total_steps, " (epoch ", state_.epoch + 1,
                       ", batch ", state_.batch, ")"));
  while (state_.epoch < config_.epochs) {
    if (state_.batch < batches_per_epoch_ && !train_epoch()) {
      summary.steps = state_.step;
      summary.seconds = elapsed();
      return summary;
    }
    state_.epoch += 1;
    state_.batch = 0;
    if (data_.bad_files) report_bad_files();
    if (state_.epoch % config_.eval.every_epochs == 0 || state_.epoch == config_.epochs) evaluate_and_save(summary);
    else save(folder_.latest());
  }
  if (progress_) progress_->finish();
  if (reducer_) summary.allreduce_wait_seconds = reducer_->seconds_waiting();
  summary.finished = true;
  summary.steps = state_.step;
  summary.best_top1 = state_.best_top1;
  summary.best_source = state_.best_source;
  summary.seconds = elapsed();
  return summary;
}

}  // namespace soft::tools::train
