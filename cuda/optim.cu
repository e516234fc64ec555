// CUDA kernels of the optimisers' fused updates (ops/optim_kernels.h): one launch per
// parameter group, whatever its number of tensors. The host writes a table of the tensors
// (their data pointers and sizes) and of fixed-size chunks of them; block b updates chunk b.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"
#include "ops/optim_kernels.h"

namespace soft::cuda {
namespace {

constexpr int64_t kChunk = 16384;  // elements per block

struct Slot {
  void* data[4];  // param, grad, then the state tensors of the update
  int64_t n;
};
struct Chunk {
  int64_t slot, begin;
};

// Checks the lists, uploads the slot and chunk tables to the device and returns them (one
// allocation: slots, then chunks) with the number of chunks.
struct Tables {
  Tensor storage;
  const Slot* slots;
  const Chunk* chunks;
  int64_t count;
};
Tables upload_tables(const char* op, const std::vector<const std::vector<Tensor>*>& lists) {
  const std::vector<Tensor>& params = *lists[0];
  Device device = params[0].device();
  std::vector<Slot> slots(params.size());
  std::vector<Chunk> chunks;
  for (size_t k = 0; k < params.size(); ++k) {
    for (size_t l = 0; l < lists.size(); ++l) {
      const Tensor& t = (*lists[l])[k];
      SOFT_CHECK(t.device() == device && t.dtype() == params[0].dtype() && t.shape() == params[k].shape() &&
                     t.is_contiguous(),
                 op, ": tensor ", l, " of parameter ", k, " (", shape_str(t.shape()), ", ", dtype_name(t.dtype()),
                 ", ", t.device().str(), ") does not match the parameter");
      slots[k].data[l] = t.raw_data();
    }
    slots[k].n = params[k].numel();
    for (int64_t b = 0; b < slots[k].n; b += kChunk) chunks.push_back({static_cast<int64_t>(k), b});
  }
  size_t slot_bytes = slots.size() * sizeof(Slot), chunk_bytes = chunks.size() * sizeof(Chunk);
  Tensor storage = Tensor::empty({static_cast<int64_t>((slot_bytes + chunk_bytes + 7) / 8)}, DType::Int64, device);
  auto* base = static_cast<unsigned char*>(storage.raw_data());
  cudaStream_t s = stream(device.index);
  SOFT_CUDA_CHECK(cudaMemcpyAsync(base, slots.data(), slot_bytes, cudaMemcpyHostToDevice, s));
  SOFT_CUDA_CHECK(cudaMemcpyAsync(base + slot_bytes, chunks.data(), chunk_bytes, cudaMemcpyHostToDevice, s));
  return {storage, reinterpret_cast<const Slot*>(base), reinterpret_cast<const Chunk*>(base + slot_bytes),
          static_cast<int64_t>(chunks.size())};
}

template <class T, class Update>
__global__ void multi_tensor_kernel(const Slot* slots, const Chunk* chunks, Update update) {
  Chunk c = chunks[blockIdx.x];
  Slot s = slots[c.slot];
  int64_t end = c.begin + kChunk < s.n ? c.begin + kChunk : s.n;
  for (int64_t i = c.begin + threadIdx.x; i < end; i += blockDim.x) update(s, i);
}

template <class T>
struct AdamWUpdate {
  T decay, b1, b2, one_b1, one_b2, step_size, bc2_sqrt, eps;
  __device__ void operator()(const Slot& s, int64_t i) const {
    T *p = static_cast<T*>(s.data[0]), *m = static_cast<T*>(s.data[2]), *v = static_cast<T*>(s.data[3]);
    T g = static_cast<const T*>(s.data[1])[i];
    T mi = b1 * m[i] + one_b1 * g;
    T vi = b2 * v[i] + one_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * (mi / (sqrt(vi) / bc2_sqrt + eps));
  }
};

template <class T>
struct SgdUpdate {
  T lr, wd, mu;
  bool momentum, nesterov;
  __device__ void operator()(const Slot& s, int64_t i) const {
    T* p = static_cast<T*>(s.data[0]);
    T d = static_cast<const T*>(s.data[1])[i] + wd * p[i];
    if (momentum) {
      T* buf = static_cast<T*>(s.data[2]);
      T b = mu * buf[i] + d;
      buf[i] = b;
      d = nesterov ? d + mu * b : b;
    }
    p[i] -= lr * d;
  }
};

template <class T, class Update>
void launch_update(const Tables& t, int device, const Update& update) {
  launch(multi_tensor_kernel<T, Update>, device, static_cast<unsigned>(t.count), kThreads, t.slots, t.chunks, update);
}

void cuda_adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avg,
                const std::vector<Tensor>& exp_avg_sq, const AdamWCoeffs& c) {
  int device = params[0].device().index;
  Tables tables = upload_tables("adamw", {&params, &grads, &exp_avg, &exp_avg_sq});
  dispatch_float(params[0].dtype(), "adamw", [&](auto tag) {
    using T = decltype(tag);
    AdamWUpdate<T> u{static_cast<T>(1.0 - c.lr * c.weight_decay), static_cast<T>(c.beta1), static_cast<T>(c.beta2),
                     static_cast<T>(1.0 - c.beta1),  static_cast<T>(1.0 - c.beta2), static_cast<T>(c.lr / c.bias_correction1),
                     static_cast<T>(std::sqrt(c.bias_correction2)), static_cast<T>(c.eps)};
    launch_update<T>(tables, device, u);
  });
}

void cuda_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdCoeffs& c) {
  int device = params[0].device().index;
  bool momentum = !momentum_buffers.empty();
  Tables tables = momentum ? upload_tables("sgd", {&params, &grads, &momentum_buffers})
                           : upload_tables("sgd", {&params, &grads});
  dispatch_float(params[0].dtype(), "sgd", [&](auto tag) {
    using T = decltype(tag);
    SgdUpdate<T> u{static_cast<T>(c.lr), static_cast<T>(c.weight_decay), static_cast<T>(c.momentum), momentum,
                   c.nesterov};
    launch_update<T>(tables, device, u);
  });
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("adamw_step", cuda_adamw);
SOFT_REGISTER_CUDA_KERNEL("sgd_step", cuda_sgd);

}  // namespace soft::cuda
