#pragma once
// Kernel signatures of ops/reduce.cpp's stubs, shared with the CUDA backend (cuda/reduce.cu).
// Every input is contiguous; outputs are new tensors on the input's device.
#include "core/tensor.h"

namespace soft {

// "sum": n = numel(out_shape) sums of R values each, in `in`'s dtype. leading: `in` is [R, n]
// and each column is summed (the reduced dims lead); otherwise `in` is [n, R], each row summed.
using SumKernel = Tensor(const Tensor& in, int64_t R, bool leading, const Shape& out_shape);

// "argmax": rows [n, R] (R > 0) -> int64 of out_shape (n elements): the index of each row's
// first maximum, or of its first NaN when it has one.
using ArgmaxKernel = Tensor(const Tensor& rows, int64_t R, const Shape& out_shape);

// "max_values": rows [n, R], index int64 [n] -> rows[i, index[i]], shaped out_shape.
using MaxValuesKernel = Tensor(const Tensor& rows, const Tensor& index, const Shape& out_shape);

// "max_backward": g [n] (any shape of n elements), index int64 [n] -> [n, R]: zeros except
// g[i] at (i, index[i]).
using MaxBackwardKernel = Tensor(const Tensor& g, const Tensor& index, int64_t R);

}  // namespace soft
