// CUDA kernels of ops/conv2d.cpp: the forward and both gradients are cuDNN calls on NCHW
// float/double tensors, groups through the convolution descriptor. Each (direction, shapes,
// params, dtype, device) picks its algorithm on first use by timing cuDNN's algorithms on the
// actual tensors (cudnnFind*, as PyTorch's benchmark mode), trying them fastest first until one
// runs, and keeps it in a map. float32 runs with CUDNN_FMA_MATH: cuDNN's default math allows TF32
// tensor cores on Ampere and later, which would miss the CPU by ~1e-3. Under AutocastBf16
// (ops/autocast.h) the operands are rounded to bfloat16 and the convolution runs on the tensor
// cores with float32 accumulation; its bfloat16 result is converted to float32.
// Depthwise convolutions (groups == Cin == Cout) go to the hand-written kernels of
// cuda/depthwise_conv2d.cu instead, unless SOFT_DEPTHWISE=cudnn.
// A build without cuDNN registers nothing here: ops/conv2d.cpp then reports that GPU
// convolutions need cuDNN.
#ifdef SOFT_HAS_CUDNN

#include <array>
#include <climits>
#include <map>
#include <mutex>
#include <vector>

#include "cuda/bf16.h"
#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/depthwise_conv2d.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft::cuda {
namespace {

// A cuDNN descriptor destroyed with its owner, also when the owner's constructor throws.
template <class H, cudnnStatus_t (*destroy)(H)>
struct Owned {
  H h = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (h) destroy(h);  // cannot fail on a valid descriptor; a destructor must not throw
  }
};

// The descriptors of one convolution: x [B, Cin, H, W], w [Cout, Cin/G, kh, kw], y [B, Cout, Ho, Wo].
class ConvDescriptors {
 public:
  ConvDescriptors(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p, DType dtype) {
    for (const Shape* s : {&x, &w, &y})
      SOFT_CHECK(numel_of(*s) <= INT_MAX, "conv2d: cuDNN takes tensors of at most 2^31 - 1 elements, got ",
                 shape_str(*s));
    type_ = dtype == DType::Float32 ? CUDNN_DATA_FLOAT : dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_BFLOAT16;
    cudnnDataType_t compute = type_ == CUDNN_DATA_BFLOAT16 ? CUDNN_DATA_FLOAT : type_;
    SOFT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_.h));
    SOFT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_.h));
    SOFT_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_.h));
    SOFT_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_.h));
    SOFT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_.h, CUDNN_TENSOR_NCHW, type_, i(x[0]), i(x[1]), i(x[2]), i(x[3])));
    SOFT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_.h, CUDNN_TENSOR_NCHW, type_, i(y[0]), i(y[1]), i(y[2]), i(y[3])));
    SOFT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_.h, type_, CUDNN_TENSOR_NCHW, i(w[0]), i(w[1]), i(w[2]), i(w[3])));
    SOFT_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_.h, i(p.padding[0]), i(p.padding[1]), i(p.stride[0]),
                                                     i(p.stride[1]), 1, 1, CUDNN_CROSS_CORRELATION, compute));
    SOFT_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv_.h, i(p.groups)));
    set_math(type_ == CUDNN_DATA_FLOAT ? CUDNN_FMA_MATH : type_ == CUDNN_DATA_BFLOAT16 ? CUDNN_TENSOR_OP_MATH
                                                                                     : CUDNN_DEFAULT_MATH);
  }

  void set_math(cudnnMathType_t math) { SOFT_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_.h, math)); }
  cudnnDataType_t type() const { return type_; }
  cudnnTensorDescriptor_t x() const { return x_.h; }
  cudnnTensorDescriptor_t y() const { return y_.h; }
  cudnnFilterDescriptor_t w() const { return w_.h; }
  cudnnConvolutionDescriptor_t conv() const { return conv_.h; }

 private:
  static int i(int64_t v) { return static_cast<int>(v); }
  cudnnDataType_t type_;
  Owned<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor> x_, y_;
  Owned<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor> w_;
  Owned<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor> conv_;
};

// An algorithm of one direction (the enum value of cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t),
// the math type it runs with, and its workspace in bytes.
struct Choice {
  int algo;
  cudnnMathType_t math;
  size_t workspace;
};

enum class Direction { Forward, GradInput, GradWeight };
using ChoiceKey = std::array<int64_t, 16>;

ChoiceKey key_of(Direction dir, int device, DType dtype, const Shape& x, const Shape& w, const Conv2dParams& p) {
  return {static_cast<int64_t>(dir), device, static_cast<int64_t>(dtype), x[0], x[1], x[2], x[3], w[0], w[1], w[2],
          w[3], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.groups};
}

std::mutex choices_mutex;
std::map<ChoiceKey, Choice> choices;  // guarded by choices_mutex

constexpr int kMaxCandidates = 16;  // more than any direction's algorithm count

// The supported results in cuDNN's order (fastest first), float32 ones only on FMA math (never TF32).
template <class Perf>
std::vector<Choice> usable(const Perf* perfs, int count, cudnnDataType_t type) {
  std::vector<Choice> out;
  for (int k = 0; k < count; ++k)
    if (perfs[k].status == CUDNN_STATUS_SUCCESS && (type != CUDNN_DATA_FLOAT || perfs[k].mathType == CUDNN_FMA_MATH))
      out.push_back({static_cast<int>(perfs[k].algo), perfs[k].mathType, 0});
  return out;
}

constexpr size_t kSearchWorkspace = size_t(256) << 20;  // the most workspace an algorithm may use

// Workspace from the caching allocator (int64 elements: the allocator deals in tensors).
Tensor workspace(size_t bytes, int device) {
  return Tensor::empty({static_cast<int64_t>((bytes + 7) / 8)}, DType::Int64, Device::cuda(device));
}

// Runs one direction: with its cached choice, or on first use with each candidate in turn until
// one runs, which is then cached. candidates() -> std::vector<Choice>; workspace_size(algo,
// size_t*) and run(algo, workspace, bytes) return cuDNN's status.
template <class Candidates, class WorkspaceSize, class Run>
void run_conv(const char* op, const ChoiceKey& key, int device, ConvDescriptors& d, Candidates candidates,
              WorkspaceSize workspace_size, Run run) {
  bool known = false;
  Choice c{};
  {
    std::lock_guard<std::mutex> lock(choices_mutex);
    auto it = choices.find(key);
    if (it != choices.end()) known = true, c = it->second;
  }
  if (known) {
    d.set_math(c.math);
    Tensor ws = workspace(c.workspace, device);
    SOFT_CUDNN_CHECK(run(c.algo, ws.numel() ? ws.raw_data() : nullptr, c.workspace));
    return;
  }
  std::vector<Choice> list = candidates();
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  for (Choice& cand : list) {
    d.set_math(cand.math);
    if ((last = workspace_size(cand.algo, &cand.workspace)) != CUDNN_STATUS_SUCCESS) continue;
    Tensor ws = workspace(cand.workspace, device);
    if ((last = run(cand.algo, ws.numel() ? ws.raw_data() : nullptr, cand.workspace)) != CUDNN_STATUS_SUCCESS)
      continue;
    std::lock_guard<std::mutex> lock(choices_mutex);
    choices.emplace(key, cand);
    return;
  }
  throw Error(detail::concat(op, ": none of cuDNN's ", list.size(), " candidate algorithms ran for this ",
                             "convolution (last status: ", cudnnGetErrorString(last), ")"));
}

// alpha = 1, beta = 0: cuDNN reads them as double for double data, else as float.
struct Scalars {
  float f1 = 1, f0 = 0;
  double d1 = 1, d0 = 0;
  const void* one(cudnnDataType_t t) const { return t != CUDNN_DATA_DOUBLE ? static_cast<const void*>(&f1) : &d1; }
  const void* zero(cudnnDataType_t t) const { return t != CUDNN_DATA_DOUBLE ? static_cast<const void*>(&f0) : &d0; }
};

// y [B, C, plane] += bias [C].
template <class T>
__global__ void add_bias_kernel(T* y, const T* bias, int64_t channels, int64_t plane, int64_t n) {
  int64_t i = thread_index();
  if (i < n) y[i] += bias[i / plane % channels];
}

void check_dtype(const char* op, DType dtype) {
  SOFT_CHECK(dtype == DType::Float32 || dtype == DType::Float64, op, ": dtype ", dtype_name(dtype),
             " is not supported on the GPU (float32 or float64)");
}

void cuda_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, Tensor& y) {
  check_dtype("conv2d", x.dtype());
  if (depthwise_kernels_take(x.shape(), w.shape(), p, x.dtype())) return depthwise_conv2d(x, w, bias, p, y);
  if (y.numel() == 0) return;
  int device = y.device().index;
  set_device(device);
  bool bf16 = use_bf16(x.dtype());
  Tensor xc = bf16 ? to_bf16(x) : x.contiguous(), wc = bf16 ? to_bf16(w) : w.contiguous();
  Tensor yc = bf16 ? Tensor::empty(y.shape(), DType::BFloat16, y.device()) : y;  // what cuDNN writes
  ConvDescriptors d(x.shape(), w.shape(), y.shape(), p, xc.dtype());
  cudnnHandle_t h = cudnn(device);
  Scalars s;
  run_conv(
      "conv2d", key_of(Direction::Forward, device, xc.dtype(), x.shape(), w.shape(), p), device, d,
      [&] {
        cudnnConvolutionFwdAlgoPerf_t perfs[kMaxCandidates];
        int count = 0;
        Tensor ws = workspace(kSearchWorkspace, device);
        SOFT_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, d.x(), xc.raw_data(), d.w(), wc.raw_data(), d.conv(),
                                                                d.y(), yc.raw_data(), kMaxCandidates, &count, perfs,
                                                                ws.raw_data(), kSearchWorkspace));
        return usable(perfs, count, d.type());
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, d.x(), d.w(), d.conv(), d.y(),
                                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionForward(h, s.one(d.type()), d.x(), xc.raw_data(), d.w(), wc.raw_data(), d.conv(),
                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes, s.zero(d.type()),
                                       d.y(), yc.raw_data());
      });
  if (bf16) copy_converted(y, yc);
  if (!bias.defined()) return;
  Tensor bc = bias.contiguous();
  int64_t n = y.numel(), channels = y.size(1), plane = y.size(2) * y.size(3);
  dispatch_float(y.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    launch_threads(add_bias_kernel<T>, device, n, y.data<T>(), bc.data<T>(), channels, plane, n);
  });
}

void cuda_conv2d_grad_input(const Tensor& gy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  check_dtype("conv2d_grad_input", gy.dtype());
  if (depthwise_kernels_take(dx.shape(), w.shape(), p, gy.dtype())) return depthwise_conv2d_grad_input(gy, w, p, dx);
  if (dx.numel() == 0) return;
  int device = dx.device().index;
  set_device(device);
  if (gy.numel() == 0) return zero_fill(dx);  // no output channels: nothing reads x
  bool bf16 = use_bf16(gy.dtype());
  Tensor gc = bf16 ? to_bf16(gy) : gy.contiguous(), wc = bf16 ? to_bf16(w) : w.contiguous();
  Tensor dxc = bf16 ? Tensor::empty(dx.shape(), DType::BFloat16, dx.device()) : dx;  // what cuDNN writes
  ConvDescriptors d(dx.shape(), w.shape(), gy.shape(), p, gc.dtype());
  cudnnHandle_t h = cudnn(device);
  Scalars s;
  run_conv(
      "conv2d_grad_input", key_of(Direction::GradInput, device, gc.dtype(), dx.shape(), w.shape(), p), device, d,
      [&] {
        cudnnConvolutionBwdDataAlgoPerf_t perfs[kMaxCandidates];
        int count = 0;
        Tensor ws = workspace(kSearchWorkspace, device);
        SOFT_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w(), wc.raw_data(), d.y(), gc.raw_data(),
                                                                     d.conv(), d.x(), dxc.raw_data(), kMaxCandidates,
                                                                     &count, perfs, ws.raw_data(), kSearchWorkspace));
        return usable(perfs, count, d.type());
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w(), d.y(), d.conv(), d.x(),
                                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardData(h, s.one(d.type()), d.w(), wc.raw_data(), d.y(), gc.raw_data(), d.conv(),
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws, bytes,
                                            s.zero(d.type()), d.x(), dxc.raw_data());
      });
  if (bf16) copy_converted(dx, dxc);
}

void cuda_conv2d_grad_weight(const Tensor& gy, const Tensor& x, const Conv2dParams& p, Tensor& dw) {
  check_dtype("conv2d_grad_weight", gy.dtype());
  if (depthwise_kernels_take(x.shape(), dw.shape(), p, gy.dtype())) return depthwise_conv2d_grad_weight(gy, x, p, dw);
  if (dw.numel() == 0) return;
  int device = dw.device().index;
  set_device(device);
  if (gy.numel() == 0) return zero_fill(dw);  // an empty batch sums to 0
  bool bf16 = use_bf16(gy.dtype());
  Tensor gc = bf16 ? to_bf16(gy) : gy.contiguous(), xc = bf16 ? to_bf16(x) : x.contiguous();
  Tensor dwc = bf16 ? Tensor::empty(dw.shape(), DType::BFloat16, dw.device()) : dw;  // what cuDNN writes
  ConvDescriptors d(x.shape(), dw.shape(), gy.shape(), p, gc.dtype());
  cudnnHandle_t h = cudnn(device);
  Scalars s;
  run_conv(
      "conv2d_grad_weight", key_of(Direction::GradWeight, device, gc.dtype(), x.shape(), dw.shape(), p), device, d,
      [&] {
        cudnnConvolutionBwdFilterAlgoPerf_t perfs[kMaxCandidates];
        int count = 0;
        Tensor ws = workspace(kSearchWorkspace, device);
        SOFT_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x(), xc.raw_data(), d.y(), gc.raw_data(),
                                                                       d.conv(), d.w(), dwc.raw_data(), kMaxCandidates,
                                                                       &count, perfs, ws.raw_data(), kSearchWorkspace));
        return usable(perfs, count, d.type());
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, d.x(), d.y(), d.conv(), d.w(), static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardFilter(h, s.one(d.type()), d.x(), xc.raw_data(), d.y(), gc.raw_data(),
                                              d.conv(), static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws, bytes,
                                              s.zero(d.type()), d.w(), dwc.raw_data());
      });
  if (bf16) copy_converted(dw, dwc);
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("conv2d", cuda_conv2d);
SOFT_REGISTER_CUDA_KERNEL("conv2d_grad_input", cuda_conv2d_grad_input);
SOFT_REGISTER_CUDA_KERNEL("conv2d_grad_weight", cuda_conv2d_grad_weight);

}  // namespace soft::cuda

#endif  // SOFT_HAS_CUDNN
