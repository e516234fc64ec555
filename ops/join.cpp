// Joining and picking along a dim: cat, stack, split, index_select. cat and split are built on
// slice views (cat copies each input into its window of one output with copy_, so it runs
// wherever copy_ does); index_select has its own gather kernel and a scatter-add backward.
#include <algorithm>
#include <cstring>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

// Every tensor on tensor 0's device, with its dtype, rank, and sizes in every dim but `dim`.
void check_cat_shapes(const char* op, const std::vector<Tensor>& xs, int64_t dim) {
  const Tensor& ref = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    SOFT_CHECK(x.device() == ref.device(), op, ": tensor ", i, " is on ", x.device().str(), " but tensor 0 on ",
               ref.device().str());
    SOFT_CHECK(x.dtype() == ref.dtype(), op, ": tensor ", i, " has dtype ", dtype_name(x.dtype()),
               " but tensor 0 has ", dtype_name(ref.dtype()));
    bool same = x.dim() == ref.dim();
    for (int64_t d = 0; same && d < x.dim(); ++d) same = d == dim || x.shape()[d] == ref.shape()[d];
    SOFT_CHECK(same, op, ": tensor ", i, " has shape ", shape_str(x.shape()), " but tensor 0 has shape ",
               shape_str(ref.shape()), " (they must match in every dim except ", dim, ")");
  }
}

// x viewed as [outer, n, inner] around `dim`.
struct AroundDim {
  int64_t outer = 1, n = 1, inner = 1;
  AroundDim(const Shape& shape, int64_t dim) {
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
      if (d < dim) outer *= shape[d];
      else if (d > dim) inner *= shape[d];
    }
    n = shape[dim];
  }
};

constexpr int64_t kColumnBlock = 512;  // columns of `inner` one task of the scatter-add owns

// Every index in [0, size); the message names the first bad one.
void check_indices(const int64_t* idx, int64_t k, int64_t size, int64_t dim) {
  for (int64_t i = 0; i < k; ++i)
    SOFT_CHECK(idx[i] >= 0 && idx[i] < size, "index_select: index[", i, "] = ", idx[i],
               " is out of range for dim ", dim, " of size ", size);
}

// out [outer, K, inner] = x [outer, n, inner] at rows index[K] of the middle dim; any dtype
// (a byte copy of each inner row).
void cpu_index_select(const Tensor& x, const Tensor& index, int64_t dim, Tensor& out) {
  Tensor xc = x.contiguous(), ic = index.contiguous();
  AroundDim a(xc.shape(), dim);
  int64_t k = ic.numel();
  const int64_t* idx = ic.data<int64_t>();
  check_indices(idx, k, a.n, dim);
  size_t row_bytes = static_cast<size_t>(a.inner) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(xc.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(0, a.outer * k, std::max<int64_t>(1, 16384 / std::max<int64_t>(a.inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t o = r / k, j = r % k;
      std::memcpy(dst + r * row_bytes, src + (o * a.n + idx[j]) * row_bytes, row_bytes);
    }
  });
}

// gx [outer, n, inner] (zeros) += g [outer, K, inner] at rows index[K]. Indices may repeat, so
// tasks split gx by (outer row, block of columns), never by k: no two threads touch one element.
void cpu_index_select_backward(const Tensor& g, const Tensor& index, int64_t dim, Tensor& gx) {
  Tensor gc = g.contiguous(), ic = index.contiguous();
  AroundDim a(gx.shape(), dim);
  int64_t k = ic.numel();
  const int64_t* idx = ic.data<int64_t>();
  int64_t blocks = (a.inner + kColumnBlock - 1) / kColumnBlock;
  dispatch_float(g.dtype(), "index_select_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gc.data<T>();
    T* px = gx.data<T>();
    parallel_for(0, a.outer * blocks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / blocks, c0 = (t % blocks) * kColumnBlock, c1 = std::min(a.inner, c0 + kColumnBlock);
        for (int64_t j = 0; j < k; ++j) {
          const T* from = pg + (o * k + j) * a.inner;
          T* to = px + (o * a.n + idx[j]) * a.inner;
          for (int64_t c = c0; c < c1; ++c) to[c] += from[c];
        }
      }
    });
  });
}

DispatchStub<void(const Tensor&, const Tensor&, int64_t, Tensor&)> index_select_stub("index_select",
                                                                                    cpu_index_select);
DispatchStub<void(const Tensor&, const Tensor&, int64_t, Tensor&)> index_select_backward_stub(
    "index_select_backward", cpu_index_select_backward);

}  // namespace

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  SOFT_CHECK(!xs.empty(), "cat: needs at least one tensor, got an empty list");
  dim = wrap_dim(dim, xs[0].dim(), "cat");
  check_cat_shapes("cat", xs, dim);
  Shape shape = xs[0].shape();
  shape[dim] = 0;
  for (const Tensor& x : xs) shape[dim] += x.shape()[dim];

  // One allocation; input i lands in the window [starts[i], ends[i]) of dim.
  Tensor y = Tensor::empty(shape, xs[0].dtype(), xs[0].device());
  std::vector<int64_t> starts, ends;
  for (const Tensor& x : xs) {
    starts.push_back(ends.empty() ? 0 : ends.back());
    ends.push_back(starts.back() + x.shape()[dim]);
    Tensor window = slice(y, dim, starts.back(), ends.back());
    copy_(window, x.detach());
  }
  return record("cat", y, xs, [dim, starts, ends](const Tensor& g, const std::vector<bool>& needs) {
    Grads grads(needs.size());
    for (size_t i = 0; i < needs.size(); ++i)
      if (needs[i]) grads[i] = slice(g, dim, starts[i], ends[i]);
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  SOFT_CHECK(!xs.empty(), "stack: needs at least one tensor, got an empty list");
  for (size_t i = 1; i < xs.size(); ++i)
    SOFT_CHECK(xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " has shape ", shape_str(xs[i].shape()),
               " but tensor 0 has shape ", shape_str(xs[0].shape()), " (all must be equal)");
  dim = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (const Tensor& x : xs) parts.push_back(unsqueeze(x, dim));
  return cat(parts, dim);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  SOFT_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size);
  dim = wrap_dim(dim, x.dim(), "split");
  int64_t n = x.shape()[dim];
  std::vector<Tensor> parts;
  // Like PyTorch, an empty dim gives one empty part.
  for (int64_t start = 0; start < n || parts.empty(); start += split_size)
    parts.push_back(slice(x, dim, start, std::min(n, start + split_size)));
  return parts;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  SOFT_CHECK(index.dtype() == DType::Int64 && index.dim() == 1, "index_select: index must be a 1-D int64 tensor, got ",
             dtype_name(index.dtype()), " of shape ", shape_str(index.shape()));
  check_same_device("index_select", {&x, &index});
  dim = wrap_dim(dim, x.dim(), "index_select");
  // x [..., n, ...] -> y [..., K, ...]
  Shape shape = x.shape();
  shape[dim] = index.numel();
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  index_select_stub(x.device(), x.detach(), index, dim, y);
  return record("index_select", y, {x}, [index = index.detach(), dim, from = x.shape()](
                                            const Tensor& g, const std::vector<bool>&) {
    Tensor gx = zeros(from, g.dtype(), g.device());
    index_select_backward_stub(g.device(), g, index, dim, gx);
    return Grads{gx};
  });
}

}  // namespace soft
