#pragma once
// Collectives on CUDA tensors through NCCL, for the ranks of an MPI job (one GPU each). Rank 0
// makes NCCL's unique id and MPI broadcasts it, as llm.c and flashlight do. The collectives run
// on a stream of their own: a started sum waits for the compute stream's work so far, and
// waiting for it makes the compute stream wait in turn, so communication overlaps compute.
#include <mpi.h>

#include <memory>

#include "core/tensor.h"
#include "dist/communicator.h"

namespace soft::dist {

class GpuCollectives {
 public:
  virtual ~GpuCollectives() = default;
  virtual int device() const = 0;  // the GPU of this rank
  virtual void all_reduce_sum_(Tensor& t) = 0;
  virtual std::unique_ptr<Request> start_all_reduce_sum_(Tensor& t) = 0;
  virtual void broadcast_(Tensor& t, int root) = 0;
};

// Every rank of `comm` joins, driving GPU `device`. In a build without NCCL it throws
// (nccl_unavailable.cpp).
std::unique_ptr<GpuCollectives> join_nccl(MPI_Comm comm, int device);

}  // namespace soft::dist
