// pairwise_sqdist: squared Euclidean distance of every row of a to every row of b.
//
// Computed in the direct form sum_k (a[n,k] - b[m,k])^2 rather than ||a||^2 + ||b||^2 - 2 a.b
// through gemm: for the small feature dims it is used with (d = 32 in the target model) the cost is
// close, and the result is exact where the gemm form cancels: never negative, exactly 0 for
// identical rows, and exactly symmetric for pairwise_sqdist(x, x) ((a-b)^2 == (b-a)^2, summed
// in the same k order). b is transposed to [..., d, M] once so the inner loop runs along M,
// vectorised, accumulating a whole output row at a time.
#include <algorithm>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

constexpr int64_t kColumnBlock = 512;  // output columns per pass: the accumulated row stays in L1

// out [batch, N, M] from a [batch, N, d] and bt [batch, d, M], both contiguous.
void cpu_pairwise_sqdist(const Tensor& a, const Tensor& bt, Tensor& out) {
  int64_t N = a.size(-2), d = a.size(-1), M = bt.size(-1);
  int64_t rows = numel_of(out.shape()) / std::max<int64_t>(M, 1);
  dispatch_float(a.dtype(), "pairwise_sqdist", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = bt.data<T>();
    T* po = out.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(M * d, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* arow = pa + r * d;
        const T* b = pb + (r / std::max<int64_t>(N, 1)) * d * M;
        T* o = po + r * M;
        for (int64_t m0 = 0; m0 < M; m0 += kColumnBlock) {
          int64_t m1 = std::min(M, m0 + kColumnBlock);
          for (int64_t m = m0; m < m1; ++m) o[m] = T(0);
          for (int64_t k = 0; k < d; ++k) {
            T ak = arow[k];
            const T* bk = b + k * M;
            for (int64_t m = m0; m < m1; ++m) {
              T diff = ak - bk[m];
              o[m] += diff * diff;
            }
          }
        }
      }
    });
  });
}

DispatchStub<void(const Tensor&, const Tensor&, Tensor&)> pairwise_stub("pairwise_sqdist", cpu_pairwise_sqdist);

}  // namespace

Tensor pairwise_sqdist(const Tensor& a, const Tensor& b) {
  SOFT_CHECK(a.defined() && b.defined(), "pairwise_sqdist: undefined operand");
  check_same_device("pairwise_sqdist", {&a, &b});
  check_same_dtype("pairwise_sqdist", {&a, &b});
  auto shapes = [&] { return "a " + shape_str(a.shape()) + " and b " + shape_str(b.shape()); };
  SOFT_CHECK(a.dim() >= 2 && b.dim() == a.dim(), "pairwise_sqdist: ", shapes(),
             ": need [..., N, d] and [..., M, d] with the same number of dims (at least 2)");
  SOFT_CHECK(a.size(-1) == b.size(-1), "pairwise_sqdist: ", shapes(), ": feature dims ", a.size(-1), " and ",
             b.size(-1), " differ");
  Shape batch(a.shape().begin(), a.shape().end() - 2);
  SOFT_CHECK(batch == Shape(b.shape().begin(), b.shape().end() - 2), "pairwise_sqdist: ", shapes(),
             ": batch dims differ");
  Shape shape = batch;
  shape.push_back(a.size(-2));
  shape.push_back(b.size(-2));
  Tensor y = Tensor::empty(shape, a.dtype(), a.device());
  pairwise_stub(a.device(), a.detach().contiguous(), transpose(b.detach(), -1, -2).contiguous(), y);
  return record("pairwise_sqdist", y, {a, b},
                [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& needs) {
                  // g [..., N, M]. dA[n] = 2 (rowsum(g)[n] a[n] - (g @ b)[n]),
                  //                dB[m] = 2 (colsum(g)[m] b[m] - (g^T @ a)[m]).
                  Tensor ga, gb;
                  if (needs[0]) ga = mul_scalar(sub(mul(sum(g, {-1}, true), a), matmul(g, b)), 2.0);
                  if (needs[1]) {
                    Tensor gt = transpose(g, -1, -2);
                    gb = mul_scalar(sub(mul(sum(gt, {-1}, true), b), matmul(gt, a)), 2.0);
                  }
                  return Grads{ga, gb};
                });
}

}  // namespace soft
