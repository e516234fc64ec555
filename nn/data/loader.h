#pragma once
// DataLoader: mini-batches of an in-memory Dataset (or of a SampleSource that produces samples on
// demand, e.g. decoded image files), assembled ahead of time by background threads and delivered
// strictly in order.
//
// Determinism: the order of an epoch is randperm(N) from a Generator seeded by (seed, epoch)
// (identity when !shuffle). The sample at position p of the epoch's order gets its own Generators
// seeded by (seed, epoch, p): one for loading it, one for its transform. So every batch depends
// only on (seed, epoch, b): not on the number of workers, the prefetch depth, how many batches
// were consumed or skipped before, or how the batch is split between processes.
//
// Data parallelism: with world_size N, batch b of the epoch is still positions
// [b * batch_size, (b + 1) * batch_size) of the order (the global batch), and the process of
// rank r takes its r-th contiguous share (exactly batch_size / N samples when N divides it; a
// short last batch is split as evenly as it goes, so a share may be empty). N processes together
// see, step by step, exactly the samples and transforms one process would. With repeated
// augmentation the order is arranged so that, as in DeiT, the copies of an image go to different
// ranks (so the arrangement, unlike everything else, depends on world_size).
//
// Threads: `workers` threads claim batch indices in order, assemble (and transform) them with no
// lock held, and park them until next() takes them. A worker claims batch b only while
// b < delivered + prefetch, so at most `prefetch` batches are claimed but not yet delivered.
// An exception in a worker is rethrown by the next() that reaches that batch; the epoch then ends.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/random.h"
#include "nn/data/dataset.h"

namespace soft::data {

struct Batch {
  Tensor images;  // float32 [B, C, H, W]; B is 0 for a rank's empty share of a short last batch
  Tensor labels;  // int64 [B]
  int64_t index = 0;  // position of the batch in its epoch
};

struct LoaderOptions {
  int64_t batch_size = 1;  // the global batch: all ranks together
  bool shuffle = false;
  bool drop_last = false;  // drop the last, partial batch
  uint64_t seed = 0;
  int workers = 1;   // threads assembling batches
  int prefetch = 2;  // batches assembled ahead of next()
  int rank = 0, world_size = 1;  // this process's share of every batch
  // DeiT's repeated augmentation (nn/data/repeated_order.h): with shuffle, each epoch holds
  // n / repeats images `repeats` times each; 1: off.
  int64_t repeats = 1;
  // Assemble batches (images and labels) directly in pinned host memory, which
  // to(device, /*non_blocking=*/true) copies to the GPU asynchronously (PyTorch's pin_memory=True).
  // Where pinned memory is not available (no CUDA in the build, or no GPU) the batches are in
  // ordinary memory and otherwise identical.
  bool pin_memory = false;
};

// Samples made on demand: load(i, gen) returns sample i as float32 [C, H, W] (the same shape for
// every i) and its label. gen is the sample's own Generator, seeded by (seed, epoch, position in
// the epoch), for random transforms. Called from several worker threads at once.
struct SampleSource {
  int64_t size = 0;
  std::function<std::pair<Tensor, int64_t>(int64_t index, Generator& gen)> load;
  std::string name;
};

class DataLoader {
 public:
  // Runs in a worker thread on each sample of an assembled batch (e.g. augmentation), given
  // as a [1, C, H, W] view into the batch to change in place; draw randomness only from the
  // Generator given (the sample's own). Must be safe to call from several threads at once.
  using Transform = std::function<void(Tensor& sample, Generator& gen)>;

  // images must be a contiguous float32 CPU [N, C, H, W] tensor and labels contiguous int64 [N].
  // The loader keeps its own handles to them (no copy of the data).
  DataLoader(const Dataset& ds, const LoaderOptions& options);
  DataLoader(SampleSource source, const LoaderOptions& options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Set before start_epoch; applies from the next start_epoch/skip_to on.
  void set_transform(Transform t);

  // Begins epoch `epoch` at batch 0, abandoning (and joining the workers of) any epoch in progress.
  void start_epoch(int64_t epoch);
  // Continues the current epoch from batch `batch_index` (0 <= batch_index <= batches_per_epoch()),
  // as if the batches before it had been consumed: for resuming from a checkpoint.
  void skip_to(int64_t batch_index);
  // The next batch of the epoch, or nullopt at its end. Throws if start_epoch was never called,
  // or rethrows a worker's exception.
  std::optional<Batch> next();

  int64_t batches_per_epoch() const;
  int64_t epoch() const { return epoch_; }
  int64_t num_samples() const { return source_.load ? source_.size : ds_.size(); }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  void check_settings() const;
  Batch assemble(int64_t b) const;
  void copy_samples(Batch& out, int64_t begin, int64_t count) const;
  void load_samples(Batch& out, int64_t begin, int64_t count) const;
  void worker_loop();
  void start_workers(int64_t first_batch);
  void stop_workers();

  Dataset ds_;           // in-memory samples, or
  SampleSource source_;  // samples made on demand (when source_.load is set)
  LoaderOptions opt_;
  Transform transform_;

  int64_t epoch_ = -1;          // -1: start_epoch not called yet
  std::vector<int64_t> order_;  // sample indices of the epoch; fixed while workers run
  int64_t num_batches_ = 0;

  std::mutex mu_;                           // guards everything below
  std::condition_variable work_cv_;         // workers: a batch may be claimed, or stop
  std::condition_variable ready_cv_;        // next(): a batch was parked
  bool stop_ = false;
  int64_t claimed_ = 0;                     // next batch index a worker will claim
  int64_t delivered_ = 0;                   // next batch index next() returns
  std::map<int64_t, Slot> ready_;           // assembled, not yet delivered
  std::vector<std::thread> threads_;
};

}  // namespace soft::data
