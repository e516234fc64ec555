// Shape ops. reshape/view/permute/transpose/expand/slice return views (shared storage, new
// shape/strides) whenever the layout allows; contiguous() copies when it must.
#include <algorithm>
#include <numeric>

#include "autograd/node.h"
#include "ops/ops.h"

namespace soft {
namespace {

Grads identity_backward(const Tensor& g, const std::vector<bool>&) { return Grads{g}; }

// Resolves one -1 in `shape` so that it holds `numel` elements.
Shape infer_shape(const char* op, Shape shape, int64_t numel, const Shape& from) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SOFT_CHECK(infer_at < 0, op, ": more than one -1 in ", shape_str(shape));
      infer_at = static_cast<int64_t>(i);
    } else {
      SOFT_CHECK(shape[i] >= 0, op, ": negative size in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    SOFT_CHECK(known > 0 && numel % known == 0, op, ": cannot reshape ", shape_str(from), " into ", shape_str(shape));
    shape[infer_at] = numel / known;
  }
  SOFT_CHECK(numel_of(shape) == numel, op, ": cannot reshape ", shape_str(from), " (", numel, " elements) into ",
             shape_str(shape));
  return shape;
}

}  // namespace

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  copy_(y, x.detach());
  return record("contiguous", y, {x}, identity_backward);
}

Tensor view(const Tensor& x, const Shape& shape) {
  Shape s = infer_shape("view", shape, x.numel(), x.shape());
  SOFT_CHECK(x.is_contiguous(), "view: tensor of shape ", shape_str(x.shape()),
             " is not contiguous; use reshape() or contiguous() first");
  Tensor y = make_view(x, s, contiguous_strides(s), x.storage_offset());
  return record("view", y, {x}, [from = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return Grads{reshape(g, from)};
  });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  infer_shape("reshape", shape, x.numel(), x.shape());
  return view(contiguous(x), shape);
}

Tensor permute(const Tensor& x, const Shape& dims) {
  int64_t nd = x.dim();
  SOFT_CHECK(static_cast<int64_t>(dims.size()) == nd, "permute: ", dims.size(), " dims given for a tensor of shape ",
             shape_str(x.shape()));
  Shape shape(nd), strides(nd), inverse(nd), seen(nd, 0);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim(dims[i], nd, "permute");
    SOFT_CHECK(!seen[d]++, "permute: dim ", d, " repeats in ", shape_str(dims));
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
    inverse[d] = i;
  }
  Tensor y = make_view(x, shape, strides, x.storage_offset());
  return record("permute", y, {x}, [inverse](const Tensor& g, const std::vector<bool>&) {
    return Grads{permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  Shape dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(d0, x.dim(), "transpose")], dims[wrap_dim(d1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  SOFT_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand ", shape_str(x.shape()), " to fewer dims ",
             shape_str(shape));
  size_t lead = shape.size() - x.shape().size();
  Shape target = shape, strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      SOFT_CHECK(shape[i] >= 0, "expand: size -1 is not allowed for a new leading dim in ", shape_str(shape));
      continue;
    }
    int64_t have = x.shape()[i - lead];
    if (shape[i] == -1) target[i] = have;
    SOFT_CHECK(have == target[i] || have == 1, "expand: cannot expand ", shape_str(x.shape()), " to ",
               shape_str(shape));
    strides[i] = have == 1 ? 0 : x.strides()[i - lead];
  }
  Tensor y = make_view(x, target, strides, x.storage_offset());
  return record("expand", y, {x}, [from = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return Grads{sum_to(g, from)};
  });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = wrap_dim(dim, x.dim(), "slice");
  SOFT_CHECK(step > 0, "slice: step must be positive, got ", step);
  int64_t n = x.shape()[dim];
  auto clip = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clip(start);
  end = std::max(start, clip(end));
  Shape shape = x.shape(), strides = x.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  Tensor y = make_view(x, shape, strides, x.storage_offset() + start * x.strides()[dim]);
  return record("slice", y, {x}, [from = x.shape(), dim, start, end, step](const Tensor& g, const std::vector<bool>&) {
    Tensor gx = zeros(from, g.dtype(), g.device());
    Tensor window = slice(gx, dim, start, end, step);
    copy_(window, g);
    return Grads{gx};
  });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + dim, 1);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "squeeze");
  SOFT_CHECK(x.shape()[dim] == 1, "squeeze: dim ", dim, " of ", shape_str(x.shape()), " is not 1");
  Shape shape = x.shape();
  shape.erase(shape.begin() + dim);
  return reshape(x, shape);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  int64_t nd = std::max<int64_t>(x.dim(), 1);
  start_dim = wrap_dim(start_dim, nd, "flatten");
  end_dim = wrap_dim(end_dim, nd, "flatten");
  SOFT_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim && d < x.dim(); ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + std::min(end_dim + 1, x.dim()), x.shape().end());
  return reshape(x, shape);
}

// --- Tensor's convenience methods ---------------------------------------------------------
Tensor Tensor::contiguous() const { return soft::contiguous(*this); }
Tensor Tensor::clone() const {
  Tensor y = Tensor::empty(shape(), dtype(), device());
  copy_(y, detach());
  return record("clone", y, {*this}, identity_backward);
}
Tensor Tensor::to(DType dtype) const { return to_dtype(*this, dtype); }
Tensor Tensor::to(Device device, bool non_blocking) const { return to_device(*this, device, non_blocking); }
Tensor Tensor::reshape(const Shape& s) const { return soft::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return soft::view(*this, s); }
Tensor Tensor::permute(const Shape& dims) const { return soft::permute(*this, dims); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return soft::transpose(*this, d0, d1); }
Tensor Tensor::sum() const { return soft::sum(*this); }
Tensor Tensor::mean() const { return soft::mean(*this); }

}  // namespace soft
