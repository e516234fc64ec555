// GpuCollectives through NCCL (built when CUDA and NCCL are found).
#include <nccl.h>

#include "cuda/check.h"
#include "cuda/context.h"
#include "dist/nccl_group.h"

#define SOFT_NCCL_CHECK(call)                                                                      \
  do {                                                                                             \
    ncclResult_t soft_status_ = (call);                                                            \
    if (soft_status_ != ncclSuccess)                                                               \
      throw ::soft::Error(::soft::detail::concat(__FILE__, ":", __LINE__, ": ", #call, " failed: ", \
                                                 ncclGetErrorString(soft_status_)));               \
  } while (0)

namespace soft::dist {
namespace {

ncclDataType_t nccl_type(const Tensor& t, const char* what) {
  SOFT_CHECK(t.is_contiguous(), what, ": the tensor must be contiguous");
  switch (t.dtype()) {
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
    case DType::Int64: return ncclInt64;
    case DType::BFloat16: return ncclBfloat16;
  }
  throw Error(detail::concat(what, ": ", dtype_name(t.dtype()), " tensors are not supported"));
}

// A sum in flight on the collectives' stream: `done` is recorded after it.
class NcclRequest final : public Request {
 public:
  NcclRequest(cudaEvent_t done, cudaStream_t compute) : done_(done), compute_(compute) {}
  ~NcclRequest() override { cudaEventDestroy(done_); }
  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }
  void wait() override { SOFT_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0)); }

 private:
  cudaEvent_t done_;
  cudaStream_t compute_;
};

class Nccl final : public GpuCollectives {
 public:
  Nccl(MPI_Comm comm, int device) : device_(device) {
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    ncclUniqueId id;
    if (rank == 0) SOFT_NCCL_CHECK(ncclGetUniqueId(&id));
    SOFT_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm) == MPI_SUCCESS, "MPI: broadcasting NCCL's id failed");
    cuda::set_device(device_);
    SOFT_NCCL_CHECK(ncclCommInitRank(&comm_, size, id, rank));
    SOFT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~Nccl() override {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  int device() const override { return device_; }

  void all_reduce_sum_(Tensor& t) override { start_all_reduce_sum_(t)->wait(); }

  std::unique_ptr<Request> start_all_reduce_sum_(Tensor& t) override {
    cudaStream_t compute = cuda::stream(device_);
    after(compute);
    SOFT_NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                                  nccl_type(t, "all_reduce_sum_"), ncclSum, comm_, stream_));
    return std::make_unique<NcclRequest>(record(), compute);
  }

  void broadcast_(Tensor& t, int root) override {
    cudaStream_t compute = cuda::stream(device_);
    after(compute);
    SOFT_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                                  nccl_type(t, "broadcast_"), root, comm_, stream_));
    NcclRequest(record(), compute).wait();
  }

 private:
  // The collectives' stream waits for what `compute` has queued so far.
  void after(cudaStream_t compute) {
    cudaEvent_t ready = record_on(compute);
    SOFT_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
    cudaEventDestroy(ready);  // released once the wait is resolved
  }
  cudaEvent_t record() { return record_on(stream_); }
  static cudaEvent_t record_on(cudaStream_t s) {
    cudaEvent_t e;
    SOFT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    SOFT_CUDA_CHECK(cudaEventRecord(e, s));
    return e;
  }

  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<GpuCollectives> join_nccl(MPI_Comm comm, int device) { return std::make_unique<Nccl>(comm, device); }

}  // namespace soft::dist
