// world() in a build without MPI: every process runs on its own.
#include <cstdlib>

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/launcher_env.h"

namespace soft::dist {

Communicator* world() {
  SOFT_CHECK(!launched_by_mpi(), "this process was started by an MPI launcher, but soft was built without MPI; "
             "rebuild with libopenmpi-dev installed (scripts/install-deps.sh) and -DSOFT_MPI=ON for "
             "data-parallel training");
  return nullptr;
}

void finalize_world() {}

void abort_world(int code) { std::exit(code); }

}  // namespace soft::dist
