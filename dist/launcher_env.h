#pragma once
// Whether this process was started by an MPI launcher, read from the variables launchers set.
#include <cstdlib>

namespace soft::dist {

// mpirun/mpiexec of Open MPI set OMPI_COMM_WORLD_SIZE; PMIx launchers (srun --mpi=pmix, Open MPI 5)
// set PMIX_RANK; MPICH's Hydra and srun --mpi=pmi2 set PMI_RANK.
inline bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

}  // namespace soft::dist
