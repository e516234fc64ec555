#include "ops/registry.h"

namespace soft {

const std::vector<OpInfo>& op_registry() {
  static const std::vector<OpInfo> ops = {
      // elementwise with broadcasting
      {"add", "ops/binary.cpp", true},
      {"sub", "ops/binary.cpp", true},
      {"mul", "ops/binary.cpp", true},
      {"div", "ops/binary.cpp", true},
      {"add_scalar", "ops/binary.cpp", true},
      {"mul_scalar", "ops/binary.cpp", true},
      // pointwise math
      {"neg", "ops/unary.cpp", true},
      {"exp", "ops/unary.cpp", true},
      {"log", "ops/unary.cpp", true},
      {"sqrt", "ops/unary.cpp", true},
      {"rsqrt", "ops/unary.cpp", true},
      {"abs", "ops/unary.cpp", true},
      {"pow", "ops/unary.cpp", true},
      {"clamp", "ops/unary.cpp", true},
      // activations
      {"tanh", "ops/activation.cpp", true},
      {"sigmoid", "ops/activation.cpp", true},
      {"relu", "ops/activation.cpp", true},
      {"gelu", "ops/activation.cpp", true},
      {"gelu_tanh", "ops/activation.cpp", true},
      // reductions
      {"sum", "ops/reduce.cpp", true},
      {"mean", "ops/reduce.cpp", true},
      {"max", "ops/reduce.cpp", true},
      {"argmax", "ops/reduce.cpp", false},
      {"var", "ops/reduce.cpp", true},
      {"sum_to", "ops/reduce.cpp", true},
      // linear algebra
      {"matmul", "ops/matmul.cpp", true},
      {"linear", "ops/matmul.cpp", true},
      {"pairwise_sqdist", "ops/pairwise.cpp", true},
      // SOFT attention
      {"gaussian_kernel", "ops/gaussian_kernel.cpp", true},
      {"newton_inverse", "ops/newton_inverse.cpp", true},
      {"gaussian_lowrank_attention", "ops/gaussian_lowrank_attention.cpp", true},
      // the attention zoo: compositions of the ops above
      {"adaptive_avg_pool_tokens", "ops/attention_zoo.cpp", true},
      {"linformer_attention", "ops/attention_zoo.cpp", true},
      {"favor_attention", "ops/attention_zoo.cpp", true},
      {"nystrom_pinv", "ops/attention_zoo.cpp", true},
      {"nystrom_attention", "ops/attention_zoo.cpp", true},
      // convolution and pooling
      {"conv2d", "ops/conv2d.cpp", true},
      {"max_pool2d", "ops/pool.cpp", true},
      {"avg_pool2d", "ops/pool.cpp", true},
      // normalisation, softmax, losses, regularisers
      {"batch_norm", "ops/batch_norm.cpp", true},
      {"layer_norm", "ops/layer_norm.cpp", true},
      {"softmax", "ops/softmax.cpp", true},
      {"log_softmax", "ops/softmax.cpp", true},
      {"cross_entropy", "ops/cross_entropy.cpp", true},
      {"dropout", "ops/dropout.cpp", true},
      {"drop_path", "ops/dropout.cpp", true},
      // shapes and views
      {"reshape", "ops/view.cpp", true},
      {"view", "ops/view.cpp", true},
      {"permute", "ops/view.cpp", true},
      {"transpose", "ops/view.cpp", true},
      {"contiguous", "ops/view.cpp", true},
      {"expand", "ops/view.cpp", true},
      {"slice", "ops/view.cpp", true},
      {"cat", "ops/join.cpp", true},
      {"stack", "ops/join.cpp", true},
      {"split", "ops/join.cpp", true},
      {"index_select", "ops/join.cpp", true},
      // resampling, dtype
      {"interpolate_bilinear", "ops/interpolate.cpp", true},
      {"to_dtype", "ops/convert.cpp", true},
      {"to_device", "ops/convert.cpp", true},
      {"clone", "ops/view.cpp", true},
      // collectives of data-parallel training
      {"all_reduce_sum", "dist/functional.cpp", true},
      // factories
      {"zeros", "ops/factory.cpp", false},
      {"ones", "ops/factory.cpp", false},
      {"full", "ops/factory.cpp", false},
      {"eye", "ops/factory.cpp", false},
      {"arange", "ops/factory.cpp", false},
  };
  return ops;
}

const OpInfo* find_op(const std::string& name) {
  for (const OpInfo& op : op_registry())
    if (name == op.name) return &op;
  return nullptr;
}

const std::vector<CpuOnlyKernel>& cpu_only_kernels() {
  static const std::vector<CpuOnlyKernel> kernels = {
      // On a GPU the backward is two matmuls and sums (gaussian_kernel_backward_by_products).
      {"gaussian_kernel_backward", "the GPU runs gaussian_kernel's backward as matmuls"},
  };
  return kernels;
}

}  // namespace soft
