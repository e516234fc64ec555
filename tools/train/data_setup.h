#pragma once
// From the config's data and augmentation sections to loaders: the datasets (MNIST-layout IDX,
// CIFAR-10 binary, image folders, synthetic), their normalisation and the random transforms of
// the training split (crop + flip or random-resized-crop + flip, then random erasing). Every
// random draw of a transform comes from the loader's per-(seed, epoch, sample) generators.
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "nn/data/loader.h"
#include "tools/train/train_config.h"

namespace soft::tools::train {

struct SplitData {
  std::unique_ptr<data::DataLoader> loader;
  int64_t size = 0;
};

// The files a folder split skipped (data.skip_bad_files), shared by its loader's workers.
class BadFiles {
 public:
  // Records a failure of `path`; the first for that file is written to stderr with the error.
  void record(const std::string& path, const std::string& error);
  int64_t count() const;  // failures so far (a file counts each time it is drawn)

 private:
  mutable std::mutex mutex_;
  std::set<std::string> seen_;
  int64_t count_ = 0;
};

struct TrainData {
  SplitData train, test;
  int64_t channels = 0, height = 0, width = 0, num_classes = 0;
  std::vector<double> mean, std;  // the normalisation applied (also to the test split)
  std::string description;        // one line: name, sizes, image shape, classes
  // Folders with data.skip_bad_files: the skips of both splits (else null). Whoever ends an
  // epoch can report count() there.
  std::shared_ptr<BadFiles> bad_files;
};

// Which share of every batch this process loads (data-parallel training: nn/data/loader.h).
struct Shard {
  int rank = 0, world_size = 1;
};

// The loader settings of a split: the train split shuffles and drops the last partial batch, the
// test split keeps the order and every sample; two batches ahead per worker; pinned batches on CUDA
// runs (data.pin_memory).
data::LoaderOptions loader_options(const TrainConfig& config, bool train, const Shard& shard = {});

// Both splits. The train loader shuffles (seed = config.seed), drops the last partial batch and
// applies the augmentation; the test loader keeps the order and every sample.
TrainData make_train_data(const TrainConfig& config, const Shard& shard = {});

// The test split alone (train.loader stays empty). Needs the train split only when the config
// gives no mean/std for an in-memory dataset (to compute them).
TrainData make_test_data(const TrainConfig& config, const Shard& shard = {});

}  // namespace soft::tools::train
