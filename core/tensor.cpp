#include "core/tensor.h"

#include <cstring>

namespace soft {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, bool pinned) {
  for (int64_t s : shape) SOFT_CHECK(s >= 0, "empty: negative size in shape ", shape_str(shape));
  SOFT_CHECK(!pinned || device.is_cpu(), "empty: pinned memory is host memory; asked for it on ", device.str());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape) * dtype_size(dtype), device, pinned);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  SOFT_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::Float32: t.data<float>()[i] = static_cast<float>(values[i]); break;
      case DType::Float64: t.data<double>()[i] = values[i]; break;
      case DType::Int64: t.data<int64_t>()[i] = static_cast<int64_t>(values[i]); break;
      case DType::BFloat16: t.data<bfloat16>()[i] = bfloat16(static_cast<float>(values[i])); break;
    }
  }
  return t;
}

const TensorImpl& Tensor::checked() const {
  SOFT_CHECK(impl_, "use of an undefined tensor");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }
const Shape& Tensor::strides() const { return checked().strides; }
DType Tensor::dtype() const { return checked().dtype; }
Device Tensor::device() const { return checked().storage->device(); }
bool Tensor::is_pinned() const { return checked().storage->pinned(); }
int64_t Tensor::storage_offset() const { return checked().offset; }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked().storage; }

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  const TensorImpl& i = checked();
  int64_t expected = 1;
  for (size_t d = i.shape.size(); d-- > 0;) {
    if (i.shape[d] == 1) continue;
    if (i.strides[d] != expected) return false;
    expected *= i.shape[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  const TensorImpl& i = checked();
  return static_cast<char*>(i.storage->data()) + i.offset * dtype_size(i.dtype);
}

std::vector<double> Tensor::to_vector() const {
  if (!device().is_cpu()) return cpu_copy(*this).to_vector();
  std::vector<double> out(numel());
  const TensorImpl& i = checked();
  Shape index(i.shape.size(), 0);
  for (int64_t n = 0; n < numel(); ++n) {
    int64_t off = i.offset;
    for (size_t d = 0; d < index.size(); ++d) off += index[d] * i.strides[d];
    const char* base = static_cast<const char*>(i.storage->data());
    switch (i.dtype) {
      case DType::Float32: out[n] = reinterpret_cast<const float*>(base)[off]; break;
      case DType::Float64: out[n] = reinterpret_cast<const double*>(base)[off]; break;
      case DType::Int64: out[n] = static_cast<double>(reinterpret_cast<const int64_t*>(base)[off]); break;
      case DType::BFloat16: out[n] = static_cast<float>(reinterpret_cast<const bfloat16*>(base)[off]); break;
    }
    for (size_t d = index.size(); d-- > 0;) {  // odometer increment
      if (++index[d] < i.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

double Tensor::item() const {
  SOFT_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(),
             " elements, not one");
  return to_vector()[0];
}

bool Tensor::requires_grad() const { return checked().requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  SOFT_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad (this one comes from ",
             "an op); use detach() first");
  SOFT_CHECK(!on || is_floating(dtype()), "requires_grad_: tensors of dtype ", dtype_name(dtype()),
             " cannot require gradients");
  impl_->requires_grad = on;
  return *this;
}

const Tensor& Tensor::grad() const { return checked().grad; }

void Tensor::set_grad(Tensor g) {
  SOFT_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient of shape ", shape_str(g.shape()),
             " for a tensor of shape ", shape_str(shape()));
  impl_->grad = std::move(g);
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), storage_offset()); }

Tensor cpu_copy(const Tensor& t) {
  if (t.device().is_cpu() && t.is_contiguous()) return t.detach();
  const int64_t item = dtype_size(t.dtype());
  Tensor out = Tensor::empty(t.shape(), t.dtype());
  if (t.numel() == 0) return out;
  // The elements t can reach: from its offset to its last element (strides are not negative).
  int64_t span = 1;
  for (size_t d = 0; d < t.shape().size(); ++d) span += (t.shape()[d] - 1) * t.strides()[d];
  std::vector<char> staged;
  const char* src = static_cast<const char*>(t.raw_data());
  if (!t.device().is_cpu()) {
    staged.resize(span * item);
    copy_between_devices(staged.data(), Device::cpu(), src, t.device(), staged.size());
    src = staged.data();
  }
  char* dst = static_cast<char*>(out.raw_data());
  if (t.is_contiguous()) {
    std::memcpy(dst, src, t.numel() * item);
    return out;
  }
  Shape index(t.dim(), 0);
  for (int64_t n = 0; n < t.numel(); ++n) {
    int64_t off = 0;
    for (size_t d = 0; d < index.size(); ++d) off += index[d] * t.strides()[d];
    std::memcpy(dst + n * item, src + off * item, item);
    for (size_t d = index.size(); d-- > 0;) {  // odometer increment
      if (++index[d] < t.shape()[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

}  // namespace soft
