#pragma once
// The training job, read from JSON (configs/train/*.json) over built-in defaults and changed by
// dotted --set overrides (optim.lr=0.002). Every key is checked against the defaults: an unknown
// key or a value of the wrong type is a one-line soft::Error naming the key. The resolved JSON
// (defaults, file and overrides merged) is what a run folder's config.json holds.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace soft::tools::train {

using Json = nlohmann::ordered_json;

struct TrainConfig {
  std::string name;  // the run folder is runs/<name> unless --run-dir is given

  struct Model {
    std::string config;                    // built-in model name or JSON path (models/config.h)
    std::optional<double> drop_path_rate;  // overrides the model config's when set
    std::optional<double> drop_rate;
    std::optional<int64_t> num_classes;    // overrides the model config's (fine-tuning to other classes)
  } model;

  struct Data {
    std::string kind;  // "mnist" (MNIST / Fashion-MNIST IDX), "cifar10", "folder", "synthetic"
    std::string path;
    int64_t image_size = 224;  // folder: the crop size
    std::vector<double> mean, std;  // normalisation; empty: train-split statistics (folder: ImageNet's)
    int64_t train_limit = 0, test_limit = 0;  // use only the first N samples (0: all)
    int64_t workers = 1;                      // loader threads
    bool pin_memory = true;                   // batches in pinned memory, copied asynchronously (CUDA runs only)
    // folder: a file that fails to decode is replaced by the next good one in the folder's order
    // and reported on stderr with its error, instead of stopping the run.
    bool skip_bad_files = false;
    struct Synthetic {
      int64_t train = 0, test = 0, channels = 1, size = 8, classes = 4;
      uint64_t seed = 1;
    } synthetic;
  } data;

  struct Optim {
    std::string name;  // "adamw" or "sgd"
    double lr = 1e-3, weight_decay = 0.05, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double momentum = 0.9;
    bool nesterov = false;
    double clip_grad = 0.0;  // global-norm clipping threshold; 0 disables
  } optim;

  // What reading the config changed, for the user to see (e.g. a warm-up longer than the run,
  // shortened to a tenth of it).
  std::vector<std::string> notes;

  struct Schedule {
    double warmup_epochs = 0.0, warmup_lr = 1e-6, min_lr = 1e-5;
  } schedule;

  struct Augmentation {
    int64_t crop_padding = 0;  // in-memory datasets: RandomCrop(padding)
    bool hflip = false;
    double scale_min = 0.08;  // folder: RandomResizedCrop scale (scale_min, 1)
    std::string interpolation = "bilinear";  // folder: resampling of the crop and of the eval resize
    std::string auto_augment;  // folder: timm's RandAugment string, e.g. "rand-m9-mstd0.5-inc1"; "" off
    double color_jitter = 0.0;  // folder: brightness, contrast, saturation strength; only without auto_augment
    int64_t repeated_aug = 1;   // DeiT's repeated augmentation: copies of each image per epoch (1: off)
    double random_erase = 0.0;
    std::string erase_mode = "pixel";
    double mixup = 0.0, cutmix = 0.0, mixup_prob = 1.0, switch_prob = 0.5;
    double label_smoothing = 0.0;
  } augmentation;

  struct Ema {
    bool enabled = false;
    double decay = 0.9998;
  } ema;

  struct Dist {  // data-parallel training under mpirun (docs/DISTRIBUTED.md)
    bool sync_bn = false;     // BatchNorm statistics over the global batch
    double bucket_mib = 25;   // gradients are averaged in buckets of about this size
    int64_t world_size = 1;   // recorded by the trainer: the processes of the run (its last start)
  } dist;

  int64_t epochs = 1, batch = 128, accum_steps = 1;  // batch: the global batch, over all processes
  uint64_t seed = 0;
  int64_t threads = 0;  // 0: OpenMP's default (all cores, or $OMP_NUM_THREADS)
  std::string device = "cpu";
  // fp32; bf16: matmul/linear/conv in bfloat16 on a CUDA device (ops/autocast.h); fp64: the whole
  // model in float64, for checking numerics (e.g. data-parallel runs against one process).
  std::string precision = "fp32";

  struct Eval {
    int64_t batch = 256, every_epochs = 1;
  } eval;
  struct Log {
    int64_t every_steps = 50, checkpoint_every_steps = 0;  // 0: checkpoints at evaluations only
  } log;
  struct Debug {
    int64_t nan_at_step = -1;   // test hook: the loss of this step becomes NaN
    int64_t nan_rank = -1;      // ... on this rank only (-1: every rank)
    int64_t stop_at_step = -1;  // test hook: checkpoint and stop after this step, as an interrupt does
  } debug;

  Json json;  // the resolved JSON this was read from
};

// The defaults: every key a config may have, with its type.
const Json& default_config_json();

// Merges `overrides` (parsed JSON) into `base`, checking keys and types. `what` prefixes errors.
void merge_config(Json& base, const Json& overrides, const std::string& what);

// Applies "dotted.key=value": value parsed as JSON, falling back to a string.
void apply_override(Json& config, const std::string& assignment);

// Reads the typed fields and checks their values (ranges, names); errors name the key.
TrainConfig config_from_json(const Json& resolved, const std::string& what);

// A config file's JSON over the defaults (no value checks yet: config_from_json does them).
Json load_train_config_json(const std::string& path);

// A config file over the defaults, then the overrides in order.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides = {});
TrainConfig parse_train_config(const std::string& text, const std::string& what,
                               const std::vector<std::string>& overrides = {});

}  // namespace soft::tools::train
