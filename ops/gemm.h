#pragma once
// The CPU matrix-multiply kernel every matmul, linear and convolution ends in:
//   C[M, N] = alpha * op(A)[M, K] @ op(B)[K, N] + beta * C
// with A, B, C addressed by row stride and column stride (so transposed and strided views need
// no copy). Cache-blocked and packed, parallel over OpenMP threads; implemented in ops/gemm.cpp.
#include <cstdint>

namespace soft {

template <class T>
struct MatrixRef {
  T* data;
  int64_t row_stride;  // elements between (i, j) and (i + 1, j)
  int64_t col_stride;  // elements between (i, j) and (i, j + 1)
};

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, MatrixRef<const T> A, MatrixRef<const T> B, T beta,
          MatrixRef<T> C);

}  // namespace soft
