// Reductions over dims: sum, mean, max, argmax, var, and sum_to (the inverse of broadcasting).
// Kernels see the input as [rows, R] (reduced dims last, made contiguous) or, when the reduced
// dims lead a contiguous tensor, as [R, cols] and sum columns without a copy.
#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"
#include "ops/reduce_kernels.h"

namespace soft {
namespace {

struct Reduction {
  std::vector<bool> reduced;  // per input dim
  Shape kept_shape;           // input shape with reduced dims set to 1 (keepdim form)
  Shape out_shape;
  int64_t row_len = 1;        // product of reduced sizes (R)
};

Reduction plan(const char* op, const Tensor& x, const Shape& dims, bool keepdim) {
  Reduction r;
  int64_t nd = x.dim();
  r.reduced.assign(nd, dims.empty());  // no dims: reduce all
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, nd, op);
    SOFT_CHECK(!r.reduced[w], op, ": dim ", d, " is given twice");
    r.reduced[w] = true;
  }
  for (int64_t d = 0; d < nd; ++d) {
    r.kept_shape.push_back(r.reduced[d] ? 1 : x.shape()[d]);
    if (r.reduced[d]) r.row_len *= x.shape()[d];
    if (!r.reduced[d] || keepdim) r.out_shape.push_back(r.reduced[d] ? 1 : x.shape()[d]);
  }
  return r;
}

// x viewed as [rows, R] with the reduced dims last, contiguous (a copy only when needed).
Tensor as_rows(const Tensor& x, const Reduction& r) {
  Shape order;
  for (int64_t d = 0; d < x.dim(); ++d) if (!r.reduced[d]) order.push_back(d);
  for (int64_t d = 0; d < x.dim(); ++d) if (r.reduced[d]) order.push_back(d);
  return permute(x.detach(), order).contiguous();
}

bool reduces_leading_dims(const Tensor& x, const Reduction& r) {
  int64_t d = 0;
  while (d < x.dim() && r.reduced[d]) ++d;
  for (int64_t k = d; k < x.dim(); ++k) if (r.reduced[k]) return false;
  return d > 0 && x.is_contiguous();
}

// Applies body(row_pointer, R) -> value to each of the n rows of `rows` [n, R]; results in `out`.
template <class Out, class T, class F>
void per_row(const Tensor& rows, int64_t R, Tensor& out, F body) {
  const T* in = rows.data<T>();
  Out* o = out.data<Out>();
  parallel_for(0, out.numel(), std::max<int64_t>(1, 32768 / std::max<int64_t>(R, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = body(in + i * R, R);
  });
}

// CPU kernels of the stubs (ops/reduce_kernels.h describes their layouts). Sums accumulate in double.
Tensor sum_cpu(const Tensor& in, int64_t R, bool leading, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, in.dtype());
  int64_t n = out.numel();
  dispatch_float(in.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* p = in.data<T>();
    T* o = out.data<T>();
    if (n == 1) {  // everything into one value: partial sums of fixed blocks, added in order
      constexpr int64_t kBlock = 65536;
      std::vector<double> partial((R + kBlock - 1) / kBlock, 0.0);
      parallel_for(0, static_cast<int64_t>(partial.size()), 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          double acc = 0;
          for (int64_t k = b * kBlock; k < std::min(R, (b + 1) * kBlock); ++k) acc += p[k];
          partial[b] = acc;
        }
      });
      double total = 0;
      for (double v : partial) total += v;
      o[0] = static_cast<T>(total);
    } else if (leading) {  // [R, n]: accumulate whole rows, columns in parallel
      parallel_for(0, n, 256, [&](int64_t c0, int64_t c1) {
        std::vector<double> acc(c1 - c0, 0.0);
        for (int64_t k = 0; k < R; ++k)
          for (int64_t c = c0; c < c1; ++c) acc[c - c0] += p[k * n + c];
        for (int64_t c = c0; c < c1; ++c) o[c] = static_cast<T>(acc[c - c0]);
      });
    } else {
      per_row<T, T>(in, R, out, [](const T* row, int64_t len) {
        double acc = 0;
        for (int64_t k = 0; k < len; ++k) acc += row[k];
        return static_cast<T>(acc);
      });
    }
  });
  return out;
}

Tensor argmax_cpu(const Tensor& rows, int64_t R, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, DType::Int64);
  dispatch_float(rows.dtype(), "argmax", [&](auto tag) {
    using T = decltype(tag);
    per_row<int64_t, T>(rows, R, out, [](const T* p, int64_t n) {
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k)
        if (p[k] > p[best] || (std::isnan(p[k]) && !std::isnan(p[best]))) best = k;
      return best;
    });
  });
  return out;
}

Tensor max_values_cpu(const Tensor& rows, const Tensor& index, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, rows.dtype());
  int64_t R = rows.numel() / std::max<int64_t>(out.numel(), 1);
  dispatch_float(rows.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    const T* p = rows.data<T>();
    const int64_t* idx = index.data<int64_t>();
    T* o = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = p[i * R + idx[i]];
  });
  return out;
}

Tensor max_backward_cpu(const Tensor& g, const Tensor& index, int64_t R) {
  int64_t n = index.numel();
  Tensor out = zeros({n, R}, g.dtype());
  dispatch_float(g.dtype(), "max_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data<T>();
    const int64_t* idx = index.data<int64_t>();
    T* o = out.data<T>();
    for (int64_t i = 0; i < n; ++i) o[i * R + idx[i]] = pg[i];
  });
  return out;
}

DispatchStub<SumKernel> sum_stub("sum", sum_cpu);
DispatchStub<ArgmaxKernel> argmax_stub("argmax", argmax_cpu);
DispatchStub<MaxValuesKernel> max_values_stub("max_values", max_values_cpu);
DispatchStub<MaxBackwardKernel> max_backward_stub("max_backward", max_backward_cpu);

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  Reduction r = plan("sum", x, dims, keepdim);
  // Leading reduced dims of a contiguous x are summed in place as columns; otherwise the
  // reduced dims are moved last (a copy only when needed). One output: a single row.
  bool leading = numel_of(r.out_shape) > 1 && r.row_len > 0 && reduces_leading_dims(x, r);
  Tensor y = sum_stub(x.device(), leading ? x.detach() : as_rows(x, r), r.row_len, leading, r.out_shape);
  return record("sum", y, {x}, [from = x.shape(), kept = r.kept_shape](const Tensor& g, const std::vector<bool>&) {
    return Grads{expand(reshape(g, kept), from)};
  });
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  Reduction r = plan("mean", x, dims, keepdim);
  SOFT_CHECK(r.row_len > 0, "mean: reducing over an empty dim of shape ", shape_str(x.shape()));
  return mul_scalar(sum(x, dims, keepdim), 1.0 / static_cast<double>(r.row_len));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  Reduction r = plan("argmax", x, {dim}, keepdim);
  SOFT_CHECK(r.row_len > 0, "argmax: dim ", dim, " of ", shape_str(x.shape()), " is empty");
  return argmax_stub(x.device(), as_rows(x, r), r.row_len, r.out_shape);
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  Reduction r = plan("max", x, {dim}, keepdim);
  SOFT_CHECK(r.row_len > 0, "max: dim ", dim, " of ", shape_str(x.shape()), " is empty");
  dim = wrap_dim(dim, x.dim(), "max");
  int64_t R = r.row_len, n_rows = x.numel() / R;
  Tensor rows = as_rows(x, r);
  Tensor index = argmax_stub(x.device(), rows, R, {n_rows});
  Tensor y = max_values_stub(x.device(), rows, index, r.out_shape);
  // Backward: the gradient goes to the first maximum of each row, scattered in the [rows, R]
  // layout and permuted back to x's layout.
  return record("max", y, {x}, [from = x.shape(), R, dim, index](const Tensor& g, const std::vector<bool>&) {
    Tensor grad_rows = max_backward_stub(g.device(), g.contiguous(), index, R);
    Shape moved = from, order;
    moved.erase(moved.begin() + dim);
    moved.push_back(from[dim]);
    for (int64_t d = 0; d < static_cast<int64_t>(from.size()) - 1; ++d) order.push_back(d);
    order.insert(order.begin() + dim, static_cast<int64_t>(from.size()) - 1);
    return Grads{permute(reshape(grad_rows, moved), order).contiguous()};
  });
}

Tensor var(const Tensor& x, const Shape& dims, bool unbiased, bool keepdim) {
  Reduction r = plan("var", x, dims, keepdim);
  double denom = static_cast<double>(r.row_len) - (unbiased ? 1.0 : 0.0);
  SOFT_CHECK(denom > 0, "var: needs more than ", unbiased ? 1 : 0, " elements per reduction, shape ",
             shape_str(x.shape()));
  // Two passes (mean, then squared deviations) for accuracy; composite, so autograd follows.
  Tensor centered = sub(x, mean(x, dims, true));
  return mul_scalar(sum(mul(centered, centered), dims, keepdim), 1.0 / denom);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  SOFT_CHECK(x.shape().size() >= shape.size(), "sum_to: cannot reduce ", shape_str(x.shape()), " to ",
             shape_str(shape));
  size_t lead = x.shape().size() - shape.size();
  Shape dims;
  for (size_t d = 0; d < x.shape().size(); ++d) {
    if (d < lead) {
      dims.push_back(static_cast<int64_t>(d));
      continue;
    }
    int64_t want = shape[d - lead];
    SOFT_CHECK(want == x.shape()[d] || want == 1, "sum_to: cannot reduce ", shape_str(x.shape()), " to ",
               shape_str(shape));
    if (want == 1 && x.shape()[d] != 1) dims.push_back(static_cast<int64_t>(d));
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

}  // namespace soft
