#pragma once
// Averages the parameters' gradients over the ranks of a data-parallel job, overlapping the
// transfers with backward, as PyTorch's DistributedDataParallel does: the parameters are cut,
// in reverse order (the order backward finishes them), into buckets of about `bucket_mib`; a
// bucket's gradients are copied into one flat buffer and its sum over the ranks is started as
// soon as the last of them is final (autograd/leaf_hook.h). Buckets start in the same order on
// every rank, as collectives must. finish() waits for the sums and writes grad = sum / size.
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "autograd/leaf_hook.h"
#include "dist/communicator.h"

namespace soft::dist {

class GradReducer {
 public:
  // params: the model's parameters, all of one device and dtype, in registration order.
  GradReducer(std::vector<Tensor> params, Communicator& comm, double bucket_mib = 25.0);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Arms the reducer for the next backward pass of this thread.
  void begin();
  // Starts the buckets not started yet (their parameters got no gradient: it counts as 0), waits
  // for every sum and sets each parameter's grad to the average. Disarms the reducer.
  void finish();

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  double seconds_waiting() const { return seconds_waiting_; }  // in finish(), since construction

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    Tensor flat;                 // [sum of their numel]
    size_t pending = 0;          // parameters whose gradient is not final yet
    std::unique_ptr<Request> request;
  };
  void on_ready(TensorImpl& leaf);
  void start_ready_buckets();
  void start(Bucket& b);

  std::vector<Tensor> params_;
  std::vector<int64_t> offsets_;   // of each parameter in its bucket's flat buffer
  std::vector<size_t> bucket_of_;  // of each parameter
  std::unordered_map<TensorImpl*, size_t> index_of_;
  std::vector<Bucket> buckets_;
  size_t next_to_start_ = 0;
  Communicator& comm_;
  std::optional<LeafGradReadyHook> hook_;
  double seconds_waiting_ = 0;
};

}  // namespace soft::dist
