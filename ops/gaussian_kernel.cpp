// gaussian_kernel: SOFT's attention kernel exp(-||a_n - b_m||^2 / 2), distances and exp in one pass.
//
// The distance is summed in the difference form sum_k (a[n,k] - b[m,k])^2, not as
// ||a||^2 + ||b||^2 - 2 a.b (the official code's form, which cancels in float32): identical rows
// give exactly 0, so gaussian_kernel(L, L) has a diagonal of exactly 1 and is exactly symmetric
// ((x-y)^2 == (y-x)^2, summed in the same k order for every pair). At the model's shapes (d = 32,
// M = 49 landmarks) one fused pass is cheaper than the gemm form's product, norms and exp passes.
// b is transposed per batch item to [d, Mp] (M padded with zeros to a whole register block) so
// that kRows rows by kCols<T> columns accumulate in registers along k, vectorised over the
// columns. exp is ops/cpu_math.h's polynomial, which the compiler vectorises.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/autocast.h"
#include "ops/cpu_math.h"
#include "ops/dispatch.h"
#include "ops/gemm.h"
#include "ops/ops.h"

namespace soft {
namespace {

constexpr int64_t kRows = 4;                                     // rows of a per register block
template <class T> constexpr int64_t kCols = 128 / sizeof(T);    // columns per register block (128 bytes)
constexpr int64_t kTaskRows = 256;                               // rows of a per parallel task (at least)
constexpr int64_t kMaxTasksPerItem = 16;                         // longer batch items get longer tasks

// Rows are cut into tasks of whole rows of one batch item; the cut depends only on the shape, so
// the backward's per-task partial sums (and its results) do not depend on the thread count.
struct Tasks {
  int64_t per_item, rows;  // tasks per batch item, rows per task
  explicit Tasks(int64_t N) {
    rows = std::max(kTaskRows, (N + kMaxTasksPerItem - 1) / kMaxTasksPerItem);
    per_item = std::max<int64_t>(1, (N + rows - 1) / rows);
  }
};

// y [R, M] = exp(-||a_r - b_m||^2 / 2) for R rows a [R, d] and bt [d, Mp] (b transposed, padded).
template <class T, int64_t R>
void kernel_rows(const T* a, int64_t d, const T* bt, int64_t M, int64_t Mp, T* y) {
  constexpr int64_t C = kCols<T>;
  for (int64_t m0 = 0; m0 < Mp; m0 += C) {
    T acc[R][C] = {};
    for (int64_t k = 0; k < d; ++k) {
      const T* bk = bt + k * Mp + m0;
      for (int64_t r = 0; r < R; ++r) {
        T ak = a[r * d + k];
        for (int64_t j = 0; j < C; ++j) {
          T diff = ak - bk[j];
          acc[r][j] += diff * diff;
        }
      }
    }
    int64_t cols = std::min(C, M - m0);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = 0; j < cols; ++j) y[r * M + m0 + j] = acc[r][j];
  }
  for (int64_t i = 0; i < R * M; ++i) y[i] = cpu_math::exp_nonpositive(T(-0.5) * y[i]);
}

// y [batch, N, M] from a [batch, N, d] and b [batch, M, d], all contiguous.
void cpu_gaussian_kernel(const Tensor& a, const Tensor& b, Tensor& y) {
  int64_t N = a.size(-2), d = a.size(-1), M = b.size(-2);
  int64_t batch = N * M > 0 ? y.numel() / (N * M) : 0;
  if (batch == 0) return;
  dispatch_float(a.dtype(), "gaussian_kernel", [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t C = kCols<T>;
    int64_t Mp = (M + C - 1) / C * C;
    // bt [batch, d, Mp]: b transposed, zero columns past M.
    std::vector<T> bt(batch * d * Mp, T(0));
    const T* pb = b.data<T>();
    for (int64_t t = 0; t < batch; ++t)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < d; ++k) bt[(t * d + k) * Mp + m] = pb[(t * M + m) * d + k];
    const T* pa = a.data<T>();
    T* py = y.data<T>();
    Tasks tasks(N);
    int64_t grain = std::max<int64_t>(1, (int64_t(1) << 17) / std::max<int64_t>(tasks.rows * Mp * (d + 8), 1));
    parallel_for(0, batch * tasks.per_item, grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t t = i / tasks.per_item, n0 = (i % tasks.per_item) * tasks.rows;
        int64_t n1 = std::min(N, n0 + tasks.rows);
        const T* b_t = bt.data() + t * d * Mp;
        int64_t n = n0;
        for (; n + kRows <= n1; n += kRows)
          kernel_rows<T, kRows>(pa + (t * N + n) * d, d, b_t, M, Mp, py + (t * N + n) * M);
        for (; n < n1; ++n) kernel_rows<T, 1>(pa + (t * N + n) * d, d, b_t, M, Mp, py + (t * N + n) * M);
      }
    });
  });
}

// Backward. With gK = g * K (K the saved output),
//   dA[n] = (gK @ b)[n] - rowsum(gK)[n] a[n],   dB[m] = (gK^T @ a)[m] - colsum(gK)[m] b[m].
// One pass over g and K forms gK and writes dA = -rowsum * a and per-task partial column sums (added
// in task order, so results do not depend on the thread count); then dB = -colsum * b, and gemm
// adds the products onto both (beta = 1). ga [batch, N, d] and gb [batch, M, d] are written when
// defined. All contiguous.
void cpu_gaussian_kernel_backward(const Tensor& g, const Tensor& K, const Tensor& a, const Tensor& b, Tensor& ga,
                                  Tensor& gb) {
  int64_t N = a.size(-2), d = a.size(-1), M = b.size(-2);
  int64_t batch = numel_of(Shape(a.shape().begin(), a.shape().end() - 2));
  dispatch_float(a.dtype(), "gaussian_kernel_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pg = g.data<T>(), *pk = K.data<T>(), *pa = a.data<T>(), *pb = b.data<T>();
    T* pga = ga.defined() ? ga.data<T>() : nullptr;
    T* pgb = gb.defined() ? gb.data<T>() : nullptr;
    Tensor gk_buffer = Tensor::empty(K.shape(), K.dtype());  // gK [batch, N, M]
    T* gk = gk_buffer.data<T>();
    Tasks tasks(N);
    int64_t n_tasks = batch * tasks.per_item;
    std::vector<T> colsums(pgb ? n_tasks * M : 0, T(0));  // [n_tasks, M]
    int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(tasks.rows * (M + d), 1));
    parallel_for(0, n_tasks, grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t t = i / tasks.per_item, n0 = (i % tasks.per_item) * tasks.rows;
        int64_t n1 = std::min(N, n0 + tasks.rows);
        T* colsum = pgb ? colsums.data() + i * M : nullptr;
        for (int64_t row = t * N + n0; row < t * N + n1; ++row) {
          T* gk_n = gk + row * M;
          for (int64_t m = 0; m < M; ++m) gk_n[m] = pg[row * M + m] * pk[row * M + m];
          if (pga) {
            T s[4] = {};  // four partial sums: independent add chains
            for (int64_t m = 0; m < M; ++m) s[m % 4] += gk_n[m];
            T rowsum = (s[0] + s[1]) + (s[2] + s[3]);
            for (int64_t k = 0; k < d; ++k) pga[row * d + k] = -rowsum * pa[row * d + k];
          }
          if (pgb)
            for (int64_t m = 0; m < M; ++m) colsum[m] += gk_n[m];
        }
      }
    });
    if (pgb)
      parallel_for(0, batch * M, std::max<int64_t>(1, 4096 / std::max<int64_t>(d + tasks.per_item, 1)),
                   [&](int64_t r0, int64_t r1) {
                     for (int64_t r = r0; r < r1; ++r) {
                       int64_t t = r / M, m = r % M;
                       T c = T(0);
                       for (int64_t j = 0; j < tasks.per_item; ++j) c += colsums[(t * tasks.per_item + j) * M + m];
                       for (int64_t k = 0; k < d; ++k) pgb[r * d + k] = -c * pb[r * d + k];
                     }
                   });
    // The products, per batch item: gemm runs on one thread inside a parallel region, so either
    // one item per thread at a time or one item at a time on all threads.
    auto products = [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const T* gk_t = gk + t * N * M;
        if (pga) gemm<T>(N, d, M, T(1), {gk_t, M, 1}, {pb + t * M * d, d, 1}, T(1), {pga + t * N * d, d, 1});
        if (pgb) gemm<T>(M, d, N, T(1), {gk_t, 1, M}, {pa + t * N * d, d, 1}, T(1), {pgb + t * M * d, d, 1});
      }
    };
    if (batch >= num_threads()) parallel_for(0, batch, 1, products);
    else products(0, batch);
  });
}

DispatchStub<void(const Tensor&, const Tensor&, Tensor&)> forward_stub("gaussian_kernel", cpu_gaussian_kernel);
DispatchStub<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&)> backward_stub(
    "gaussian_kernel_backward", cpu_gaussian_kernel_backward);

}  // namespace

Tensor gaussian_kernel(const Tensor& a, const Tensor& b) {
  SOFT_CHECK(a.defined() && b.defined(), "gaussian_kernel: undefined operand");
  check_same_device("gaussian_kernel", {&a, &b});
  check_same_dtype("gaussian_kernel", {&a, &b});
  auto shapes = [&] { return "a " + shape_str(a.shape()) + " and b " + shape_str(b.shape()); };
  SOFT_CHECK(a.dim() >= 2 && b.dim() == a.dim(), "gaussian_kernel: ", shapes(),
             ": need [..., N, d] and [..., M, d] with the same number of dims (at least 2)");
  SOFT_CHECK(a.size(-1) == b.size(-1), "gaussian_kernel: ", shapes(), ": feature dims ", a.size(-1), " and ",
             b.size(-1), " differ");
  Shape shape(a.shape().begin(), a.shape().end() - 2);
  SOFT_CHECK(shape == Shape(b.shape().begin(), b.shape().end() - 2), "gaussian_kernel: ", shapes(),
             ": batch dims differ");
  dispatch_float(a.dtype(), "gaussian_kernel", [](auto) {});  // float32 or float64, else an error naming the op
  shape.push_back(a.size(-2));
  shape.push_back(b.size(-2));
  // Saved contiguous: the kernels need that layout, and the backward reuses these copies.
  Tensor ac = a.detach().contiguous(), bc = b.detach().contiguous();
  Tensor y = Tensor::empty(shape, a.dtype(), a.device());
  forward_stub(a.device(), ac, bc, y);
  return record("gaussian_kernel", y, {a, b},
                [ac, bc, K = y.detach()](const Tensor& g, const std::vector<bool>& needs) {
                  auto [ga, gb] = gaussian_kernel_backward(g, K, ac, bc, needs[0], needs[1]);
                  return Grads{ga, gb};
                });
}

std::pair<Tensor, Tensor> gaussian_kernel_backward_by_products(const Tensor& grad_y, const Tensor& y,
                                                               const Tensor& a, const Tensor& b, bool need_a,
                                                               bool need_b) {
  NoGradGuard no_grad;
  AutocastBf16 float32(false);  // the Gaussian kernel stays in float32 under mixed precision
  Tensor gk = mul(grad_y, y);  // [..., N, M]
  Tensor ga, gb;
  if (need_a) ga = sub(matmul(gk, b), mul(sum(gk, {-1}, true), a));
  if (need_b) gb = sub(matmul(transpose(gk, -1, -2), a), mul(transpose(sum(gk, {-2}, true), -1, -2), b));
  return {ga, gb};
}

std::pair<Tensor, Tensor> gaussian_kernel_backward(const Tensor& grad_y, const Tensor& y, const Tensor& a,
                                                   const Tensor& b, bool need_a, bool need_b) {
  if (!a.device().is_cpu()) return gaussian_kernel_backward_by_products(grad_y, y, a, b, need_a, need_b);
  Tensor ac = a.contiguous(), bc = b.contiguous(), ga, gb;
  if (need_a) ga = Tensor::empty(ac.shape(), ac.dtype(), ac.device());
  if (need_b) gb = Tensor::empty(bc.shape(), bc.dtype(), bc.device());
  backward_stub(ac.device(), grad_y.contiguous(), y.contiguous(), ac, bc, ga, gb);
  return {ga, gb};
}

}  // namespace soft
