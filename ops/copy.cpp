// Strided copies between any two layouts and dtypes: the kernel behind contiguous(), clone(),
// copy_(), cat() and to_dtype(). Also the other in-place updates (fill_, add_, mul_).
#include <algorithm>

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

// The copy's index space with size-1 dims dropped and neighbouring dims merged where both src
// and dst step through them as through one dim.
struct CopyDims {
  Shape shape, ss, sd;
  CopyDims(const Shape& shape0, const Shape& ss0, const Shape& sd0) {
    for (size_t d = 0; d < shape0.size(); ++d) {
      if (shape0[d] == 1) continue;
      if (!shape.empty() && ss.back() == ss0[d] * shape0[d] && sd.back() == sd0[d] * shape0[d]) {
        shape.back() *= shape0[d];
        ss.back() = ss0[d];
        sd.back() = sd0[d];
        continue;
      }
      shape.push_back(shape0[d]);
      ss.push_back(ss0[d]);
      sd.push_back(sd0[d]);
    }
  }
};

// A permuted copy: dst's last dim has unit stride but is strided in src, while another dim t
// has unit stride in src (the [B, N, C] <-> [B, C, H, W] copies of the model). Copies kTile x
// kTile tiles of (t, last dim), read along t and written along the last dim while in L1,
// instead of walking dst's rows with a long stride through src. False when not that case.
template <class S, class D>
bool copy_transposed(const S* ps, D* pd, const CopyDims& c) {
  constexpr int64_t kTile = 16;
  int64_t nd = static_cast<int64_t>(c.shape.size());
  if (nd < 2 || c.sd.back() != 1 || c.ss.back() == 1) return false;
  int64_t t = std::find(c.ss.begin(), c.ss.end() - 1, int64_t(1)) - c.ss.begin();
  if (t == nd - 1) return false;
  int64_t inner = c.shape.back(), along = c.shape[t], tiles = (along + kTile - 1) / kTile;
  int64_t rows = 1;  // the other dims
  for (int64_t d = 0; d < nd - 1; ++d)
    if (d != t) rows *= c.shape[d];
  int64_t si = c.ss.back(), st = c.sd[t];
  parallel_for(0, rows * tiles, std::max<int64_t>(1, (1 << 14) / (kTile * inner)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t os = 0, od = 0, rem = i / tiles;
      for (int64_t d = nd - 2; d >= 0; --d) {
        if (d == t) continue;
        int64_t idx = rem % c.shape[d];
        rem /= c.shape[d];
        os += idx * c.ss[d];
        od += idx * c.sd[d];
      }
      int64_t a0 = i % tiles * kTile, a1 = std::min(along, a0 + kTile);
      for (int64_t j0 = 0; j0 < inner; j0 += kTile) {
        int64_t j1 = std::min(inner, j0 + kTile);
        for (int64_t a = a0; a < a1; ++a) {
          const S* src = ps + os + a;
          D* dst = pd + od + a * st;
          for (int64_t j = j0; j < j1; ++j) dst[j] = store<D>(load(src[j * si]));
        }
      }
    }
  });
  return true;
}

// dst[i] = src[i] over the logical index space, walking rows of the last dim in parallel.
template <class S, class D>
void copy_kernel(const Tensor& src, Tensor& dst) {
  const S* ps = src.data<S>();
  D* pd = dst.data<D>();
  if (src.is_contiguous() && dst.is_contiguous()) {
    parallel_for(0, dst.numel(), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) pd[i] = store<D>(load(ps[i]));
    });
    return;
  }
  CopyDims c(dst.shape(), src.strides(), dst.strides());
  if (copy_transposed(ps, pd, c)) return;
  const Shape& shape = c.shape;
  const Shape& ss = c.ss;
  const Shape& sd = c.sd;
  int64_t nd = static_cast<int64_t>(shape.size());
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
