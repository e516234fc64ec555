// Strided copies between any two layouts and dtypes: the kernel behind contiguous(), clone(),
// copy_(), cat() and to_dtype(). Also the other in-place updates (fill_, add_, mul_).
#include "autograd/grad_mode.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

template <class T> double load(const T& v) { return static_cast<double>(v); }
template <> double load(const bfloat16& v) { return static_cast<float>(v); }
template <class T> T store(double v) { return static_cast<T>(v); }
template <> bfloat16 store(double v) { return bfloat16(static_cast<float>(v)); }

template <class F>
decltype(auto) dispatch_any(DType dtype, F&& body) {
  switch (dtype) {
    case DType::Float32: return body(float{});
    case DType::Float64: return body(double{});
    case DType::Int64: return body(int64_t{});
    case DType::BFloat16: return body(bfloat16{});
  }
  throw Error("unknown dtype");
}

// dst[i] = src[i] over the logical index space, walking rows of the last dim in parallel.
template <class S, class D>
void copy_kernel(const Tensor& src, Tensor& dst) {
  const S* ps = src.data<S>();
  D* pd = dst.data<D>();
  const Shape& shape = dst.shape();
  const Shape& ss = src.strides();
  const Shape& sd = dst.strides();
  int64_t nd = dst.dim();
  if (src.is_contiguous() && dst.is_contiguous()) {
    parallel_for(0, dst.numel(), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) pd[i] = store<D>(load(ps[i]));
    });
    return;
  }
  int64_t inner = nd ? shape.back() : 1;
  int64_t is = nd ? ss.back() : 0, id = nd ? sd.back() : 0;
  int64_t rows = inner ? dst.numel() / inner : 0;
  parallel_for(0, rows, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t os = 0, od = 0, rem = r;
      for (int64_t d = nd - 2; d >= 0; --d) {
        int64_t idx = rem % shape[d];
        rem /= shape[d];
        os += idx * ss[d];
        od += idx * sd[d];
      }
      for (int64_t j = 0; j < inner; ++j) pd[od + j * id] = store<D>(load(ps[os + j * is]));
    }
  });
}

void cpu_copy(const Tensor& src, Tensor& dst) {
  dispatch_any(src.dtype(), [&](auto s) {
    dispatch_any(dst.dtype(), [&](auto d) { copy_kernel<decltype(s), decltype(d)>(src, dst); });
  });
}

void cpu_fill(Tensor& dst, double value) {
  Tensor one = Tensor::from_vector({value}, {}, DType::Float64);
  cpu_copy(expand(one.detach(), dst.shape()), dst);
}

DispatchStub<void(const Tensor&, Tensor&)> copy_stub("copy_", cpu_copy);
DispatchStub<void(Tensor&, double)> fill_stub("fill_", cpu_fill);

void check_not_recording(const char* op, const Tensor& t) {
  SOFT_CHECK(!(GradMode::enabled() && t.requires_grad()), op, ": in-place update of a tensor that requires ",
             "grad while the graph is recorded; do it under NoGradGuard");
}

}  // namespace

void copy_(Tensor& dst, const Tensor& src) {
  check_not_recording("copy_", dst);
  check_same_device("copy_", {&dst, &src});
  SOFT_CHECK(dst.shape() == src.shape(), "copy_: source shape ", shape_str(src.shape()),
             " differs from destination shape ", shape_str(dst.shape()));
  copy_stub(dst.device(), src, dst);
}

void fill_(Tensor& dst, double value) {
  check_not_recording("fill_", dst);
  fill_stub(dst.device(), dst, value);
}

namespace {

// dst += alpha * src, both contiguous with the same shape.
void cpu_add_(Tensor& dst, const Tensor& src, double alpha) {
  dispatch_float(dst.dtype(), "add_", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* p = src.data<T>();
    T a = static_cast<T>(alpha);
    parallel_for(0, dst.numel(), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] += a * p[i];
    });
  });
}

// dst *= s, dst contiguous.
void cpu_mul_(Tensor& dst, double s) {
  dispatch_float(dst.dtype(), "mul_", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    T v = static_cast<T>(s);
    parallel_for(0, dst.numel(), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] *= v;
    });
  });
}

DispatchStub<void(Tensor&, const Tensor&, double)> add_stub("add_", cpu_add_);
DispatchStub<void(Tensor&, double)> mul_stub("mul_", cpu_mul_);

}  // namespace

void add_(Tensor& dst, const Tensor& src, double alpha) {
  check_not_recording("add_", dst);
  check_same_device("add_", {&dst, &src});
  check_same_dtype("add_", {&dst, &src});
  SOFT_CHECK(dst.shape() == src.shape(), "add_: shapes ", shape_str(dst.shape()), " and ", shape_str(src.shape()),
             " differ");
  SOFT_CHECK(dst.is_contiguous(), "add_: destination must be contiguous");
  add_stub(dst.device(), dst, src.contiguous(), alpha);
}

void mul_(Tensor& dst, double s) {
  check_not_recording("mul_", dst);
  SOFT_CHECK(dst.is_contiguous(), "mul_: destination must be contiguous");
  mul_stub(dst.device(), dst, s);
}

}  // namespace soft
