#pragma once
// The processes of a data-parallel job and the collectives between them (docs/DISTRIBUTED.md).
// A Communicator is one process's handle on the job: its rank among `size` processes, and sums
// of tensors over every rank. CPU tensors travel through MPI; CUDA tensors through NCCL where
// the build has it. A single process never makes one: world() is then nullptr.
#include <memory>

#include "core/tensor.h"

namespace soft::dist {

// A collective in flight. wait() finishes it: on the CPU the result is then in the tensor; on a
// GPU, work queued afterwards on the device's stream sees the result.
class Request {
 public:
  virtual ~Request() = default;
  virtual bool test() = 0;  // true when finished; lets the library progress the transfer meanwhile
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;  // among the processes on this machine
  virtual int local_size() const = 0;

  // t (contiguous float32, float64 or int64) becomes the sum of every rank's t, on every rank.
  virtual void all_reduce_sum_(Tensor& t) = 0;
  // Starts the same sum; t must stay alive and unchanged until the request is waited for.
  virtual std::unique_ptr<Request> start_all_reduce_sum_(Tensor& t) = 0;
  // t (contiguous) becomes rank `root`'s t on every rank.
  virtual void broadcast_(Tensor& t, int root) = 0;
};

// This process's communicator when it was started by an MPI launcher (mpirun, mpiexec, srun with
// PMIx): MPI is initialised at the first call. nullptr for a process started on its own. Throws
// when launched by MPI in a build without MPI.
Communicator* world();

// Finalises MPI (a no-op for a single process); call once the job's collectives are over.
void finalize_world();

// Ends every process of the job with exit status `code` (after a failure on this rank: the others
// may be waiting for it in a collective).
[[noreturn]] void abort_world(int code);

}  // namespace soft::dist
