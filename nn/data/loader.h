#pragma once
// DataLoader: mini-batches of an in-memory Dataset (or of a SampleSource that produces samples on
// demand, e.g. decoded image files), assembled ahead of time by background threads and delivered
// strictly in order.
//
// Determinism: the order of an epoch is randperm(N) from a Generator seeded by (seed, epoch)
// (identity when !shuffle), and the transform of batch b gets a Generator seeded by
// (seed, epoch, b). So every batch depends only on (seed, epoch, b): not on the number of
// workers, the prefetch depth, or how many batches were consumed or skipped before.
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
  Tensor images;  // float32 [B, C, H, W]
  Tensor labels;  // int64 [B]
  int64_t index = 0;  // position of the batch in its epoch
};

// Samples made on demand: load(i, gen) returns sample i as float32 [C, H, W] (the same shape for
// every i) and its label. gen is the sample's own Generator, seeded by (seed, epoch, batch,
// position in the batch), for random transforms. Called from several worker threads at once.
struct SampleSource {
  int64_t size = 0;
  std::function<std::pair<Tensor, int64_t>(int64_t index, Generator& gen)> load;
  std::string name;
};

class DataLoader {
 public:
  // Runs in a worker thread on each assembled batch (e.g. augmentation); draw randomness only
  // from the Generator given. Must be safe to call from several threads at once.
  using Transform = std::function<void(Batch&, Generator&)>;

  // images must be a contiguous float32 CPU [N, C, H, W] tensor and labels contiguous int64 [N].
  // The loader keeps its own handles to them (no copy of the data).
  DataLoader(const Dataset& ds, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed,
             int workers = 1, int prefetch = 2);
  DataLoader(SampleSource source, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed,
             int workers = 1, int prefetch = 2);
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

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  int64_t num_samples() const { return source_.load ? source_.size : ds_.size(); }
  void check_settings() const;
  Batch assemble(int64_t b) const;
  void copy_samples(Batch& out, int64_t begin, int64_t count) const;
  void load_samples(Batch& out, int64_t begin, int64_t count, uint64_t batch_stream) const;
  void worker_loop();
  void start_workers(int64_t first_batch);
  void stop_workers();

  Dataset ds_;           // in-memory samples, or
  SampleSource source_;  // samples made on demand (when source_.load is set)
  int64_t batch_size_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  int workers_, prefetch_;
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
