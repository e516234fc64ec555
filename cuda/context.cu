#include <array>
#include <mutex>

#include "cuda/check.h"
#include "cuda/context.h"

namespace soft::cuda {
namespace {

constexpr int kMaxDevices = 16;

struct DeviceState {
  std::once_flag once;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
#ifdef SOFT_HAS_CUDNN
  std::once_flag cudnn_once;
  cudnnHandle_t cudnn = nullptr;
#endif
};

std::array<DeviceState, kMaxDevices> states;

DeviceState& state(int device) {
  SOFT_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  DeviceState& s = states[device];
  std::call_once(s.once, [&] {
    set_device(device);
    SOFT_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    SOFT_CUBLAS_CHECK(cublasCreate(&s.cublas));
    SOFT_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
  });
  return s;
}

}  // namespace

void set_device(int device) {
  int current = -1;
  SOFT_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device) SOFT_CUDA_CHECK(cudaSetDevice(device));
}

cudaStream_t stream(int device) { return state(device).stream; }
cublasHandle_t cublas(int device) { return state(device).cublas; }

#ifdef SOFT_HAS_CUDNN
cudnnHandle_t cudnn(int device) {
  DeviceState& s = state(device);
  std::call_once(s.cudnn_once, [&] {
    set_device(device);
    SOFT_CUDNN_CHECK(cudnnCreate(&s.cudnn));
    SOFT_CUDNN_CHECK(cudnnSetStream(s.cudnn, s.stream));
  });
  return s.cudnn;
}
#endif

void synchronize(int device) { SOFT_CUDA_CHECK(cudaStreamSynchronize(stream(device))); }

}  // namespace soft::cuda
