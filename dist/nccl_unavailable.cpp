// join_nccl in a build without NCCL (or without CUDA): CUDA tensors cannot be reduced.
#include "core/error.h"
#include "dist/nccl_group.h"

namespace soft::dist {

std::unique_ptr<GpuCollectives> join_nccl(MPI_Comm, int) {
  throw Error("collectives on CUDA tensors need NCCL, and soft was built without it (CUDA toolkit with NCCL)");
}

}  // namespace soft::dist
