#pragma once
// bfloat16 mixed precision on the GPU, as torch.autocast(device_type="cuda", dtype=torch.bfloat16).
//
// While an AutocastBf16 guard is alive on a thread, the CUDA kernels of matmul, linear and conv2d
// (forward and both gradients) take float32 tensors, round the operands to bfloat16, multiply on
// the tensor cores with float32 accumulation and write float32 results. Everything else stays in
// float32: norms, softmax, losses, the optimiser with its float32 master weights, and SOFT's
// landmark bottleneck, whose ops open an AutocastBf16(false) of their own: the Gaussian kernel
// (K1 and K2, forward and backward), the Newton inverse of K2 (forward and backward) and the
// products with K2^+ inside gaussian_lowrank_attention (forward and backward; the products with
// K1 there do run in bfloat16). docs/ARCHITECTURE.md has the table. Keep the guard alive over
// backward() too, so the gradient products run in bfloat16 like the forward ones. CPU kernels
// ignore it.
namespace soft {

bool autocast_bf16();  // is a guard enabled on this thread?

class AutocastBf16 {
 public:
  explicit AutocastBf16(bool enabled = true);
  ~AutocastBf16();
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool previous_;
};

}  // namespace soft
