#pragma once
// Tensor: a cheap handle (shared_ptr) to a TensorImpl, which is a strided view into a Storage
// plus the autograd fields (requires_grad, grad, grad_fn). Ops live in ops/ops.h.
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace soft {

struct Node;  // autograd/node.h
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: an absent optional input or gradient
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialised contiguous tensor. pinned (CPU only): in page-locked host memory, which
  // to(device, non_blocking) copies to the GPU asynchronously; ordinary memory where
  // pinned_memory_available() is false (core/storage.h). A pinned tensor is a CPU tensor like any other.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu(),
                      bool pinned = false);
  // Copies `values` into a new CPU tensor of `shape` (float64 values converted to `dtype`).
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::Float32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_of(shape()); }
  DType dtype() const;
  Device device() const;
  bool is_pinned() const;  // in page-locked host memory
  bool is_contiguous() const;
  int64_t storage_offset() const;  // in elements
  const std::shared_ptr<Storage>& storage() const;

  // Typed pointer to the first element; throws when T does not match dtype().
  template <class T> T* data() const;
  void* raw_data() const;
  // Value of a one-element tensor (any dtype), as double.
  double item() const;
  // All elements in logical order, converted to double (for tests and printing).
  std::vector<double> to_vector() const;

  // --- autograd -------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on leaves
  const Tensor& grad() const;              // undefined until a backward reaches this leaf
  void set_grad(Tensor g);
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  // Reverse-mode pass from this tensor. A scalar needs no gradient argument.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  // Same data, no graph: gradients stop here.
  Tensor detach() const;

  // --- common ops as methods (defined in ops/) ----------------------------------------
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  // non_blocking: a host-to-device copy from pinned memory is queued on the device's stream and
  // returns at once (later work on that device is ordered after it); from ordinary memory, and from
  // the device to the host, the copy has finished when it returns. Do not write to the pinned
  // source before the device has used the copy (freeing it is safe: core/storage.h).
  Tensor to(Device device, bool non_blocking = false) const;
  // A contiguous copy of this CPU tensor in pinned memory (this tensor itself when it is both).
  Tensor pin_memory() const;
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor sum() const;
  Tensor mean() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // elements from the start of storage
  Shape shape;
  Shape strides;  // in elements
  DType dtype = DType::Float32;

  bool requires_grad = false;
  Tensor grad;                    // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;  // the op that produced this tensor, if recorded
};

// A new tensor that views `base`'s storage with another shape/strides/offset.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

// A contiguous CPU tensor with t's values, outside the graph: t itself (detached) when it is
// already one, else a copy through the device's copy hook (core/storage.h). The differentiable
// move between devices is to_device (ops/ops.h).
Tensor cpu_copy(const Tensor& t);

template <class T>
T* Tensor::data() const {
  const TensorImpl& i = checked();
  SOFT_CHECK(i.dtype == dtype_of<T>(), "data<", dtype_name(dtype_of<T>()), ">(): tensor has dtype ",
             dtype_name(i.dtype));
  return static_cast<T*>(i.storage->data()) + i.offset;
}

}  // namespace soft
