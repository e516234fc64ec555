// CUDA kernels of ops/matmul.cpp: matmul (batched, broadcasting) and linear, through cuBLAS.
//
// cuBLAS is column-major: a row-major C [M, N] is the column-major C^T [N, M], so every product
// is issued as C^T = B^T A^T. An operand whose last two dims are row-major (column stride 1) or a
// transpose of row-major (row stride 1) goes in as it is, with the matching op flag; any other
// layout is made contiguous first. float32 runs with CUBLAS_COMPUTE_32F (no TF32, so results
// agree with the CPU kernel to float32 rounding), float64 with CUBLAS_COMPUTE_64F. Under
// AutocastBf16 (ops/autocast.h) float32 products run with CUBLAS_COMPUTE_32F_FAST_16BF: cuBLAS
// rounds the float32 operands to bfloat16 as it loads them and multiplies on the tensor cores,
// accumulating and writing float32, so no conversion pass over the operands runs before it.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "cuda/bf16.h"
#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

constexpr int64_t kMaxBatchPerCall = 65535;  // batch items per cuBLAS call

// One operand as cuBLAS reads it: `op` applied to the column-major matrix at data with leading
// dimension ld gives the operand transposed (what C^T = B^T A^T needs).
struct BlasMatrix {
  const char* data;
  cublasOperation_t op;
  int64_t ld;
};

// The cuBLAS reading of a row-major operand X [R, C] with element (i, j) at i * rs + j * cs, or
// false when its layout needs a copy. (Strides of a dim of size 1 never matter.)
bool blas_layout(int64_t R, int64_t C, int64_t rs, int64_t cs, cublasOperation_t& op, int64_t& ld) {
  if (C == 1 || cs == 1) {  // row-major: column-major X^T [C, R] with leading dim rs
    ld = R == 1 ? std::max<int64_t>(C, 1) : rs;
    if (ld >= std::max<int64_t>(C, 1)) {
      op = CUBLAS_OP_N;
      return true;
    }
  }
  if (R == 1 || rs == 1) {  // column-major X [R, C] with leading dim cs; transposed by cuBLAS
    ld = C == 1 ? std::max<int64_t>(R, 1) : cs;
    if (ld >= std::max<int64_t>(R, 1)) {
      op = CUBLAS_OP_T;
      return true;
    }
  }
  return false;
}

bool blas_layout(const Tensor& x, cublasOperation_t& op, int64_t& ld) {
  int64_t nd = x.dim();
  return blas_layout(x.size(-2), x.size(-1), x.strides()[nd - 2], x.strides()[nd - 1], op, ld);
}

int to_int(int64_t v, const char* op) {
  SOFT_CHECK(v <= std::numeric_limits<int>::max(), op, ": size ", v, " is too large for cuBLAS");
  return static_cast<int>(v);
}

// C[i] [M, N] (row-major, ldc = N, items M * N apart) = A[i] [M, K] @ B[i] [K, N] + beta C[i] for
// `count` items, A[i] and B[i] at sa * i and sb * i elements past A and B, all of `dtype`. beta is
// 0 or 1. bf16: float32 operands multiplied in bfloat16 (use_bf16).
void gemm_batched(int device, DType dtype, bool bf16, int64_t M, int64_t N, int64_t K, BlasMatrix A, int64_t sa,
                  BlasMatrix B, int64_t sb, double beta, void* C, int64_t count, const char* opname) {
  if (M == 0 || N == 0 || count == 0) return;
  size_t elem = dtype_size(dtype);
  bool f32 = dtype == DType::Float32;
  cudaDataType type = f32 ? CUDA_R_32F : CUDA_R_64F;
  cublasComputeType_t compute = !f32 ? CUBLAS_COMPUTE_64F : bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
  float alpha_f = 1.0f, beta_f = static_cast<float>(beta);
  double alpha_d = 1.0, beta_d = beta;
  const void* alpha_p = f32 ? static_cast<const void*>(&alpha_f) : &alpha_d;
  const void* beta_p = f32 ? static_cast<const void*>(&beta_f) : &beta_d;
  set_device(device);
  cublasHandle_t handle = cublas(device);
  int m = to_int(N, opname), n = to_int(M, opname), k = to_int(K, opname);
  int lda = to_int(B.ld, opname), ldb = to_int(A.ld, opname);
  for (int64_t i0 = 0; i0 < count; i0 += kMaxBatchPerCall) {
    int batch = static_cast<int>(std::min(kMaxBatchPerCall, count - i0));
    SOFT_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle, B.op, A.op, m, n, k, alpha_p, B.data + i0 * sb * elem, type, lda, sb, A.data + i0 * sa * elem, type,
        ldb, sa, beta_p, static_cast<char*>(C) + i0 * M * N * elem, type, m, M * N, batch, compute,
        CUBLAS_GEMM_DEFAULT));
  }
}

Shape batch_of(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

// out [batch..., M, N] (contiguous) = a [..., M, K] @ b [..., K, N], batch dims broadcast.
// The batch dims fold, from the innermost, into one run that each operand steps through with a
// single stride (0 where broadcast): one strided-batched call per index of the remaining outer dims.
void cuda_matmul(const Tensor& a_in, const Tensor& b_in, Tensor& out) {
  dispatch_float(out.dtype(), "matmul", [](auto) {});  // float32 or float64, else an error naming the op
  const bool bf16 = use_bf16(out.dtype());
  Tensor a = a_in, b = b_in;
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  int device = out.device().index;
  if (out.numel() == 0) return;
  if (K == 0) {  // empty sums
    zero_fill(out);
    return;
  }
  BlasMatrix A{nullptr, CUBLAS_OP_N, 0}, B{nullptr, CUBLAS_OP_N, 0};
  if (!blas_layout(a, A.op, A.ld)) {
    a = a.contiguous();
    blas_layout(a, A.op, A.ld);
  }
  if (!blas_layout(b, B.op, B.ld)) {
    b = b.contiguous();
    blas_layout(b, B.op, B.ld);
  }
  A.data = static_cast<const char*>(a.raw_data());
  B.data = static_cast<const char*>(b.raw_data());
  Shape batch = batch_of(out);
  Shape sa = broadcast_strides(batch_of(a), Shape(a.strides().begin(), a.strides().end() - 2), batch);
  Shape sb = broadcast_strides(batch_of(b), Shape(b.strides().begin(), b.strides().end() - 2), batch);
  // Dims of size 1 play no part; what is left is folded from the innermost.
  Shape size, stride_a, stride_b;
  for (size_t d = 0; d < batch.size(); ++d)
    if (batch[d] != 1) {
      size.push_back(batch[d]);
      stride_a.push_back(sa[d]);
      stride_b.push_back(sb[d]);
    }
  int64_t inner = 1, step_a = 0, step_b = 0;  // the folded run: count and per-item strides
  int64_t outer_dims = static_cast<int64_t>(size.size());
  if (outer_dims > 0) {
    --outer_dims;
    inner = size.back();
    step_a = stride_a.back();
    step_b = stride_b.back();
    while (outer_dims > 0 && stride_a[outer_dims - 1] == step_a * inner &&
           stride_b[outer_dims - 1] == step_b * inner) {
      --outer_dims;
      inner *= size[outer_dims];
    }
  }
  size_t elem = dtype_size(out.dtype());
  if (outer_dims == 0 && step_b == 0 && A.op == CUBLAS_OP_N && (inner == 1 || step_a == M * A.ld)) {
    // [batch, M, K] @ [K, N] with a's rows evenly spaced: one gemm over batch * M rows.
    gemm_batched(device, out.dtype(), bf16, inner * M, N, K, A, 0, B, 0, 0.0, out.raw_data(), 1, "matmul");
    return;
  }
  int64_t outer = numel_of(Shape(size.begin(), size.begin() + outer_dims));
  Shape idx(outer_dims, 0);
  int64_t off_a = 0, off_b = 0;
  for (int64_t o = 0; o < outer; ++o) {
    BlasMatrix Ao{A.data + off_a * elem, A.op, A.ld}, Bo{B.data + off_b * elem, B.op, B.ld};
    gemm_batched(device, out.dtype(), bf16, M, N, K, Ao, step_a, Bo, step_b, 0.0,
                 static_cast<char*>(out.raw_data()) + o * inner * M * N * elem, inner, "matmul");
    for (int64_t d = outer_dims - 1; d >= 0; --d) {  // odometer step over the outer dims
      if (++idx[d] < size[d]) {
        off_a += stride_a[d];
        off_b += stride_b[d];
        break;
      }
      off_a -= (size[d] - 1) * stride_a[d];
      off_b -= (size[d] - 1) * stride_b[d];
      idx[d] = 0;
    }
  }
}

// y [rows, out] (contiguous) = bias, broadcast over the rows.
template <class T>
__global__ void fill_rows_kernel(const T* bias, int64_t bias_stride, int64_t out, T* y, int64_t n) {
  int64_t i = thread_index();
  if (i < n) y[i] = bias[(i % out) * bias_stride];
}

// y [rows, out] = x [rows, in] @ weight^T (+ bias), x's rows folded with stride x_rs: y starts as
// the bias and the gemm accumulates onto it (beta = 1), as on the CPU.
void cuda_linear(const Tensor& x_in, int64_t x_rs, const Tensor& w_in, const Tensor& bias, Tensor& y) {
  dispatch_float(y.dtype(), "linear", [](auto) {});
  int64_t in = w_in.size(1), out = w_in.size(0), rows = out > 0 ? y.numel() / out : 0;
  int device = y.device().index;
  if (rows == 0 || out == 0) return;
  const bool bf16 = use_bf16(y.dtype());
  Tensor x = x_in, w = w_in;
  BlasMatrix X{nullptr, CUBLAS_OP_N, 0}, Wt{nullptr, CUBLAS_OP_N, 0};
  if (!blas_layout(rows, in, x_rs, x.strides().back(), X.op, X.ld)) {
    x = x.contiguous();  // x's leading dims fold, so the copy's rows are `in` apart
    x_rs = in;
    blas_layout(rows, in, x_rs, 1, X.op, X.ld);
  }
  if (!blas_layout(in, out, w.strides()[1], w.strides()[0], Wt.op, Wt.ld)) {  // weight^T [in, out]
    w = w.contiguous();
    blas_layout(in, out, 1, in, Wt.op, Wt.ld);
  }
  X.data = static_cast<const char*>(x.raw_data());
  Wt.data = static_cast<const char*>(w.raw_data());
  int64_t n = y.numel();
  set_device(device);
  if (bias.defined()) {
    dispatch_float(y.dtype(), "linear", [&](auto tag) {
      using T = decltype(tag);
      launch_threads(fill_rows_kernel<T>, device, n, bias.data<T>(), bias.strides()[0], out, y.data<T>(), n);
    });
  } else if (in == 0) {  // empty sums
    zero_fill(y);
  }
  if (in > 0)
    gemm_batched(device, y.dtype(), bf16, rows, out, in, X, 0, Wt, 0, bias.defined() ? 1.0 : 0.0, y.raw_data(),
                 1, "linear");
}

}  // namespace

SOFT_REGISTER_CUDA_KERNEL("matmul", cuda_matmul);
SOFT_REGISTER_CUDA_KERNEL("linear", cuda_linear);

}  // namespace soft::cuda
