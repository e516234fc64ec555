#include "cuda/check.h"
#include "cuda/device.h"

namespace soft::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver / no device" error
    return 0;
  }
  return count;
}

std::vector<DeviceInfo> devices() {
  std::vector<DeviceInfo> out;
  for (int i = 0; i < device_count(); ++i) {
    cudaDeviceProp p;
    SOFT_CUDA_CHECK(cudaGetDeviceProperties(&p, i));
    out.push_back({i, p.name, p.major, p.minor, p.totalGlobalMem, p.multiProcessorCount});
  }
  return out;
}

std::string library_versions() {
  int runtime = 0, cublas_major = 0, cublas_minor = 0;
  SOFT_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  SOFT_CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &cublas_major));
  SOFT_CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &cublas_minor));
  std::string s = detail::concat("CUDA runtime ", runtime / 1000, ".", (runtime % 1000) / 10, ", cuBLAS ",
                                 cublas_major, ".", cublas_minor);
#ifdef SOFT_HAS_CUDNN
  size_t v = cudnnGetVersion();
  s += detail::concat(", cuDNN ", v / 10000, ".", (v % 10000) / 100, ".", v % 100);
#else
  s += ", no cuDNN";
#endif
  return s;
}

std::string describe_devices() {
  std::vector<DeviceInfo> list = devices();
  if (list.empty()) return "no CUDA device (no GPU or no driver on this machine)";
  std::string s;
  for (const DeviceInfo& d : list)
    s += detail::concat("cuda:", d.index, " ", d.name, ", sm_", d.compute_major, d.compute_minor, ", ",
                        d.total_memory >> 20, " MiB, ", d.multiprocessors, " SMs\n");
  return s;
}

}  // namespace soft::cuda
