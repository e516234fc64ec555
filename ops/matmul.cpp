// matmul (batched, broadcasting) and linear, both ending in one or more calls of gemm().
// Strided operands go straight into gemm through their row/col strides: a transpose(-1, -2)
// view, an expanded batch (stride 0) or a weight read as weight^T cost no copy.
#include <algorithm>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/gemm.h"
#include "ops/ops.h"

namespace soft {
namespace {

constexpr int64_t kSmallGemm = int64_t(1) << 21;  // M*N*K below which one thread per matrix is best
constexpr int64_t kThreadWork = int64_t(1) << 18;  // multiply-adds per thread worth waking it for

Shape batch_of(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

// x [..., C] as a matrix [rows, C] (reshape with an explicit row count: C may be 0).
Tensor as_rows(const Tensor& x) {
  return reshape(x, {numel_of(Shape(x.shape().begin(), x.shape().end() - 1)), x.size(-1)});
}

// Element offset of each batch item of x [..., R, C] read as if broadcast to `batch`.
std::vector<int64_t> batch_offsets(const Tensor& x, const Shape& batch) {
  Shape strides = broadcast_strides(batch_of(x), Shape(x.strides().begin(), x.strides().end() - 2), batch);
  int64_t count = numel_of(batch), nd = static_cast<int64_t>(batch.size());
  std::vector<int64_t> offsets(count);
  Shape idx(nd, 0);
  int64_t cur = 0;
  for (int64_t i = 0; i < count; ++i) {
    offsets[i] = cur;
    for (int64_t d = nd - 1; d >= 0; --d) {  // odometer step
      if (++idx[d] < batch[d]) {
        cur += strides[d];
        break;
      }
      cur -= (batch[d] - 1) * strides[d];
      idx[d] = 0;
    }
  }
  return offsets;
}

// When x's dims [0, x.dim() - 1) fold into one dim of rows with a single stride (true of any
// contiguous tensor), returns that stride; else -1.
int64_t folded_row_stride(const Tensor& x) {
  int64_t nd = x.dim();
  if (nd < 2) return x.size(-1);  // one row
  int64_t rs = x.strides()[nd - 2], expected = rs * x.shape()[nd - 2];
  for (int64_t d = nd - 3; d >= 0; --d) {
    if (x.shape()[d] == 1) continue;
    if (x.strides()[d] != expected) return -1;
    expected *= x.shape()[d];
  }
  return rs;
}

// x [..., R, C] is the transpose of a row-major matrix (unit row stride), with R, C > 1.
bool transposed_layout(const Tensor& x) {
  int64_t nd = x.dim();
  return x.size(-2) > 1 && x.size(-1) > 1 && x.strides()[nd - 2] == 1 && x.strides()[nd - 1] == x.size(-2);
}

template <class T>
MatrixRef<const T> matrix(const Tensor& x, int64_t offset = 0) {
  return {x.data<T>() + offset, x.strides()[x.dim() - 2], x.strides()[x.dim() - 1]};
}

// out [batch..., M, N] (contiguous) = a [..., M, K] @ b [..., K, N], batch dims broadcast.
void cpu_matmul(const Tensor& a, const Tensor& b, Tensor& out) {
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape batch = batch_of(out);
  int64_t count = numel_of(batch);
  dispatch_float(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    T* po = out.data<T>();
    std::vector<int64_t> ob = batch_offsets(b, batch);
    bool b_shared = std::all_of(ob.begin(), ob.end(), [](int64_t o) { return o == 0; });
    int64_t a_rows = folded_row_stride(a);
    if (b_shared && a_rows >= 0 && batch_of(a) == batch) {
      // [B, M, K] @ [K, N]: one gemm over B*M rows, so gemm's blocking and threads see it whole.
      gemm<T>(count * M, N, K, T(1), {a.data<T>(), a_rows, a.strides().back()}, matrix<T>(b), T(0),
              {po, N, 1});
      return;
    }
    std::vector<int64_t> oa = batch_offsets(a, batch);
    auto run = [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        gemm<T>(M, N, K, T(1), matrix<T>(a, oa[i]), matrix<T>(b, ob[i]), T(0), {po + i * M * N, N, 1});
    };
    // Enough matrices for every thread and either small (a parallel gemm would not pay) or evenly
    // split: one matrix per thread at a time, gemm single-threaded inside. Otherwise gemm splits
    // each matrix over the threads.
    int64_t nt = num_threads();
    if (count >= nt && (M * N * K <= kSmallGemm || count % nt == 0))
      parallel_for(0, count, std::max<int64_t>(1, kThreadWork / std::max<int64_t>(M * N * K, 1)), run);
    else run(0, count);
  });
}

// y [rows, out] = x [rows, in] @ weight^T (+ bias), x's rows folded with stride x_rs.
void cpu_linear(const Tensor& x, int64_t x_rs, const Tensor& w, const Tensor& bias, Tensor& y) {
  int64_t in = w.size(1), out = w.size(0), rows = numel_of(Shape(y.shape().begin(), y.shape().end() - 1));
  dispatch_float(x.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    if (bias.defined()) {  // y starts as the bias, and gemm accumulates onto it (beta = 1)
      const T* pb = bias.data<T>();
      int64_t bs = bias.strides()[0];
      parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(out, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t j = 0; j < out; ++j) py[r * out + j] = pb[j * bs];
      });
    }
    // weight^T [in, out] is weight read with its strides swapped.
    gemm<T>(rows, out, in, T(1), {x.data<T>(), x_rs, x.strides().back()}, {w.data<T>(), w.strides()[1], w.strides()[0]},
            bias.defined() ? T(1) : T(0), {py, out, 1});
  });
}

DispatchStub<void(const Tensor&, const Tensor&, Tensor&)> matmul_stub("matmul", cpu_matmul);
DispatchStub<void(const Tensor&, int64_t, const Tensor&, const Tensor&, Tensor&)> linear_stub("linear", cpu_linear);

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  SOFT_CHECK(a.defined() && b.defined(), "matmul: undefined operand");
  check_same_device("matmul", {&a, &b});
  check_same_dtype("matmul", {&a, &b});
  auto shapes = [&] { return shape_str(a.shape()) + " @ " + shape_str(b.shape()); };
  SOFT_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: ", shapes(), ": both operands need at least 2 dims");
  SOFT_CHECK(a.size(-1) == b.size(-2), "matmul: ", shapes(), ": inner dims ", a.size(-1), " and ", b.size(-2),
             " differ");
  Shape ba = batch_of(a), bb = batch_of(b);
  for (size_t i = 1; i <= std::min(ba.size(), bb.size()); ++i) {
    int64_t x = ba[ba.size() - i], y = bb[bb.size() - i];
    SOFT_CHECK(x == y || x == 1 || y == 1, "matmul: ", shapes(), ": batch dims ", shape_str(ba), " and ",
               shape_str(bb), " do not broadcast");
  }
  Shape shape = broadcast_shapes(ba, bb, "matmul");
  shape.push_back(a.size(-2));
  shape.push_back(b.size(-1));
  Tensor y = Tensor::empty(shape, a.dtype(), a.device());
  matmul_stub(a.device(), a.detach(), b.detach(), y);
  return record("matmul", y, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& needs) {
    // g [batch..., M, N]. dA = g @ B^T, dB = A^T @ g, summed over the dims each operand was broadcast on.
    // An operand that is a transposed view (k1^T in SOFT's attention) gets its gradient in the same
    // layout, computed as (B g^T)^T or (g^T A)^T: the transpose's backward then yields a
    // contiguous gradient, which later adds and copies read in order instead of gathering
    // across rows (an [N, m] gather of 512 MiB took seconds at 64k tokens).
    Tensor ga, gb;
    if (needs[0])
      ga = sum_to(transposed_layout(a) ? transpose(matmul(b, transpose(g, -1, -2)), -1, -2)
                                       : matmul(g, transpose(b, -1, -2)),
                  a.shape());
    if (needs[1]) {
      if (b.dim() == 2 && a.dim() > 2)  // x [B, M, K] @ W [K, N]: dW = x_rows^T @ g_rows, one gemm, no [B, K, N]
        gb = matmul(transpose(as_rows(a), 0, 1), as_rows(g));
      else
        gb = sum_to(transposed_layout(b) ? transpose(matmul(transpose(g, -1, -2), a), -1, -2)
                                         : matmul(transpose(a, -1, -2), g),
                    b.shape());
    }
    return Grads{ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  SOFT_CHECK(x.defined() && weight.defined(), "linear: undefined x or weight");
  check_same_device("linear", {&x, &weight, &bias});
  check_same_dtype("linear", {&x, &weight, &bias});
  check_dim("linear", "weight [out, in]", weight, 2);
  SOFT_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: x ", shape_str(x.shape()), " and weight ",
             shape_str(weight.shape()), ": in features ", x.dim() ? x.size(-1) : 0, " and ", weight.size(1),
             " differ");
  int64_t in = weight.size(1), out = weight.size(0);
  SOFT_CHECK(!bias.defined() || bias.shape() == Shape{out}, "linear: bias ", shape_str(bias.shape()),
             " does not match weight ", shape_str(weight.shape()), " (expected [", out, "])");
  // x [..., in] as rows [R, in]: a view when its leading dims fold into one, else a copy.
  Tensor xd = x.detach();
  int64_t x_rs = folded_row_stride(xd);
  if (x_rs < 0) {
    xd = xd.contiguous();
    x_rs = in;
  }
  Shape shape = x.shape();
  shape.back() = out;
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  linear_stub(x.device(), xd, x_rs, weight.detach(), bias.defined() ? bias.detach() : Tensor(), y);
  return record("linear", y, {x, weight, bias},
                [x = x.detach(), w = weight.detach()](const Tensor& g, const std::vector<bool>& needs) {
                  // g [..., out] as g_rows [R, out]: dx = g_rows @ W, dW = g_rows^T @ x_rows, db = sum of rows.
                  Tensor g_rows = as_rows(g);
                  Tensor gx, gw, gb;
                  if (needs[0]) gx = reshape(matmul(g_rows, w), x.shape());
                  if (needs[1]) gw = matmul(transpose(g_rows, 0, 1), as_rows(x));
                  if (needs[2]) gb = sum(g_rows, {0});
                  return Grads{gx, gw, gb};
                });
}

}  // namespace soft
