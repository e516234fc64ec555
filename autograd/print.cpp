// Printing: tensor(shape=[2, 3], dtype=float32, device=cpu, grad_fn=mul) and nested values.
#include "autograd/print.h"

#include <iomanip>
#include <ostream>

#include "autograd/node.h"

namespace soft {
namespace {

constexpr int64_t kEdgeItems = 3;  // a dim longer than 2*kEdgeItems prints its ends only

void print_values(std::ostream& os, const std::vector<double>& v, const Shape& shape, const Shape& strides,
                  size_t dim, int64_t offset, bool integral) {
  if (shape.empty()) {
    os << v[offset];
    return;
  }
  os << "[";
  int64_t n = shape[dim];
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdgeItems && i == kEdgeItems) {
      os << "..., ";
      i = n - kEdgeItems;
    }
    int64_t off = offset + i * strides[dim];
    if (dim + 1 == shape.size()) {
      if (integral) os << static_cast<int64_t>(v[off]);
      else os << std::setprecision(6) << v[off];
    } else {
      print_values(os, v, shape, strides, dim + 1, off, integral);
    }
    if (i + 1 < n) os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(dim + 1, ' '));
  }
  os << "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(shape=" << shape_str(t.shape()) << ", dtype=" << dtype_name(t.dtype())
     << ", device=" << t.device().str();
  if (t.grad_fn()) os << ", grad_fn=" << t.grad_fn()->op;
  else if (t.requires_grad()) os << ", requires_grad=true";
  os << ")\n";
  if (!t.device().is_cpu()) return os << "<values on " << t.device().str() << ">";
  print_values(os, t.to_vector(), t.shape(), contiguous_strides(t.shape()), 0, 0, t.dtype() == DType::Int64);
  return os;
}

}  // namespace soft
