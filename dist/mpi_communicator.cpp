// The Communicator of a job launched by MPI: MPI for CPU tensors, NCCL for CUDA tensors (when
// built with it; NCCL's unique id travels from rank 0 through an MPI broadcast).
#include <mpi.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/launcher_env.h"
#include "dist/nccl_group.h"

namespace soft::dist {
namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(detail::concat("MPI: ", what, " failed: ", std::string(text, static_cast<size_t>(length))));
}

MPI_Datatype mpi_type(const Tensor& t, const char* what) {
  SOFT_CHECK(t.is_contiguous(), what, ": the tensor must be contiguous");
  switch (t.dtype()) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int64: return MPI_INT64_T;
    default: throw Error(detail::concat(what, ": ", dtype_name(t.dtype()), " tensors are not supported"));
  }
}

class MpiRequest final : public Request {
 public:
  MpiRequest() = default;
  ~MpiRequest() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);  // the buffer must outlive it
  }
  bool test() override {
    int done = 0;
    check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
  }
  void wait() override { check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait"); }
  MPI_Request request_ = MPI_REQUEST_NULL;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int provided = 0;
    // Only the main thread calls MPI (the loader's threads never do).
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local_),
              "MPI_Comm_split_type");
    MPI_Comm_rank(local_, &local_rank_);
    MPI_Comm_size(local_, &local_size_);
  }
  ~MpiCommunicator() override {
    nccl_.reset();
    MPI_Comm_free(&local_);
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void all_reduce_sum_(Tensor& t) override {
    if (t.device().is_cuda()) return nccl(t).all_reduce_sum_(t);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), static_cast<int>(t.numel()), mpi_type(t, "all_reduce_sum_"),
                            MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
  }

  std::unique_ptr<Request> start_all_reduce_sum_(Tensor& t) override {
    if (t.device().is_cuda()) return nccl(t).start_all_reduce_sum_(t);
    auto r = std::make_unique<MpiRequest>();
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), static_cast<int>(t.numel()),
                             mpi_type(t, "start_all_reduce_sum_"), MPI_SUM, MPI_COMM_WORLD, &r->request_),
              "MPI_Iallreduce");
    return r;
  }

  void broadcast_(Tensor& t, int root) override {
    if (t.device().is_cuda()) return nccl(t).broadcast_(t, root);
    check_mpi(MPI_Bcast(t.raw_data(), static_cast<int>(t.numel()), mpi_type(t, "broadcast_"), root, MPI_COMM_WORLD),
              "MPI_Bcast");
  }

 private:
  // The GPU collectives, joined at the first CUDA tensor (each rank drives one GPU).
  GpuCollectives& nccl(const Tensor& t) {
    if (!nccl_) nccl_ = join_nccl(MPI_COMM_WORLD, t.device().index);
    SOFT_CHECK(t.device().index == nccl_->device(), "NCCL: a tensor on ", t.device().str(),
               " but this rank's GPU is cuda:", nccl_->device());
    return *nccl_;
  }

  std::unique_ptr<GpuCollectives> nccl_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  MPI_Comm local_ = MPI_COMM_NULL;
};

std::unique_ptr<MpiCommunicator>& the_world() {
  static std::unique_ptr<MpiCommunicator> w;
  return w;
}

}  // namespace

Communicator* world() {
  if (!launched_by_mpi()) return nullptr;
  auto& w = the_world();
  if (!w) w = std::make_unique<MpiCommunicator>();
  return w.get();
}

void finalize_world() { the_world().reset(); }

void abort_world(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // not reached: MPI_Abort ends this process too
}

}  // namespace soft::dist
