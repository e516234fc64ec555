// Reductions over dims: sum, mean, max, argmax, var, and sum_to (the inverse of broadcasting).
// Kernels see the input as [rows, R] (reduced dims last, made contiguous) or, when the reduced
// dims lead a contiguous tensor, as [R, cols] and sum columns without a copy.
#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

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

// Applies body(row_pointer, R) -> value to each of `rows` rows; results in a new tensor.
template <class Out, class T, class F>
Tensor per_row(const Tensor& rows, int64_t n_rows, int64_t R, const Shape& out_shape, DType out_dtype, F body) {
  Tensor out = Tensor::empty(out_shape, out_dtype);
  const T* in = rows.data<T>();
  Out* o = out.data<Out>();
  parallel_for(0, n_rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(R, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = body(in + i * R, R);
  });
  return out;
}

Tensor sum_kernel(const Tensor& x, const Reduction& r) {
  SOFT_CHECK(x.device().is_cpu(), "sum: no CUDA kernel for this op in this build");
  int64_t R = r.row_len, n_rows = R ? x.numel() / R : numel_of(r.out_shape);
  return dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    if (n_rows == 1 && x.is_contiguous()) {  // everything into one value: per-thread partial sums
      const T* in = x.data<T>();
      double total = 0;
#pragma omp parallel for reduction(+ : total) if (R > 65536)
      for (int64_t k = 0; k < R; ++k) total += in[k];
      Tensor out = Tensor::empty(r.out_shape, x.dtype());
      out.data<T>()[0] = static_cast<T>(total);
      return out;
    }
    if (reduces_leading_dims(x, r) && R > 0) {  // [R, cols]: accumulate whole rows, columns in parallel
      Tensor out = Tensor::empty(r.out_shape, x.dtype());
      const T* in = x.data<T>();
      T* o = out.data<T>();
      parallel_for(0, n_rows, 256, [&](int64_t c0, int64_t c1) {
        std::vector<double> acc(c1 - c0, 0.0);
        for (int64_t k = 0; k < R; ++k)
          for (int64_t c = c0; c < c1; ++c) acc[c - c0] += in[k * n_rows + c];
        for (int64_t c = c0; c < c1; ++c) o[c] = static_cast<T>(acc[c - c0]);
      });
      return out;
    }
    return per_row<T, T>(as_rows(x, r), n_rows, R, r.out_shape, x.dtype(), [](const T* p, int64_t n) {
      double acc = 0;
      for (int64_t k = 0; k < n; ++k) acc += p[k];
      return static_cast<T>(acc);
    });
  });
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  Reduction r = plan("sum", x, dims, keepdim);
  Tensor y = sum_kernel(x, r);
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
  SOFT_CHECK(x.device().is_cpu(), "argmax: no CUDA kernel for this op in this build");
  int64_t n_rows = x.numel() / r.row_len;
  return dispatch_float(x.dtype(), "argmax", [&](auto tag) {
    using T = decltype(tag);
    return per_row<int64_t, T>(as_rows(x, r), n_rows, r.row_len, r.out_shape, DType::Int64,
                               [](const T* p, int64_t n) {
                                 int64_t best = 0;
                                 for (int64_t k = 1; k < n; ++k)
                                   if (p[k] > p[best] || (std::isnan(p[k]) && !std::isnan(p[best]))) best = k;
                                 return best;
                               });
  });
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  Reduction r = plan("max", x, {dim}, keepdim);
  SOFT_CHECK(r.row_len > 0, "max: dim ", dim, " of ", shape_str(x.shape()), " is empty");
  SOFT_CHECK(x.device().is_cpu(), "max: no CUDA kernel for this op in this build");
  dim = wrap_dim(dim, x.dim(), "max");
  int64_t R = r.row_len, n_rows = x.numel() / R;
  Tensor index = argmax(x, dim, false);
  Tensor y = dispatch_float(x.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    Tensor rows = as_rows(x, r);
    Tensor out = Tensor::empty(r.out_shape, x.dtype());
    const int64_t* idx = index.data<int64_t>();
    for (int64_t i = 0; i < n_rows; ++i) out.data<T>()[i] = rows.data<T>()[i * R + idx[i]];
    return out;
  });
  // Backward: the gradient goes to the first maximum of each row, through a one-hot mask
  // built in the [rows, R] layout and permuted back to x's layout.
  return record("max", y, {x}, [from = x.shape(), r, dim, index](const Tensor& g, const std::vector<bool>&) {
    int64_t R = r.row_len, n_rows = numel_of(from) / R;
    Tensor mask_rows = zeros({n_rows, R}, g.dtype());
    dispatch_float(g.dtype(), "max_backward", [&](auto tag) {
      using T = decltype(tag);
      for (int64_t i = 0; i < n_rows; ++i) mask_rows.data<T>()[i * R + index.data<int64_t>()[i]] = T(1);
    });
    Shape moved = from, order;
    moved.erase(moved.begin() + dim);
    moved.push_back(from[dim]);
    for (int64_t d = 0; d < static_cast<int64_t>(from.size()) - 1; ++d) order.push_back(d);
    order.insert(order.begin() + dim, static_cast<int64_t>(from.size()) - 1);
    Tensor mask = permute(reshape(mask_rows, moved), order);
    return Grads{mul(expand(reshape(g, r.kept_shape), from), mask)};
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
