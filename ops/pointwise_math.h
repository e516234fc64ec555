#pragma once
// The math of every pointwise op, written once for the CPU and the GPU. An op is named by a
// UnaryOp or BinaryOp value; its scalar parameters travel as two doubles p0, p1 (see the lists).
// unary_fn<Op>(x, p0, p1) and binary_fn<Op>(a, b, p0, p1) compute one element. The CPU loops
// (ops/unary.cpp, ops/binary.cpp) and the CUDA kernels (cuda/elementwise.cu) are instantiated
// per op through visit_op, so inside a loop the op is a constant and the call inlines away.
// C++17 and no OpenMP: nvcc compiles this header.
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "core/host_device.h"

namespace soft {

// X(enumerator, name); the name is the op's (in errors, and as in ops/registry.cpp).
#define SOFT_UNARY_OPS(X)                                                                  \
  X(Neg, "neg") X(Exp, "exp") X(Log, "log") X(Sqrt, "sqrt") X(Rsqrt, "rsqrt") X(Abs, "abs") \
  X(Pow, "pow")                                      /* p0: the exponent */                 \
  X(Clamp, "clamp")                                  /* p0, p1: min, max */                 \
  X(AddScalar, "add_scalar") X(MulScalar, "mul_scalar") /* p0: the scalar */                \
  X(Tanh, "tanh") X(Sigmoid, "sigmoid") X(Relu, "relu") X(Gelu, "gelu") X(GeluTanh, "gelu_tanh")

// The backward helpers take (gradient, saved tensor): y is the forward's output, x its input.
#define SOFT_BINARY_OPS(X)                                                                     \
  X(Add, "add") X(Sub, "sub") X(Mul, "mul") X(Div, "div")                                      \
  X(SqrtBackward, "sqrt_backward") X(RsqrtBackward, "rsqrt_backward") /* (g, y) */             \
  X(AbsBackward, "abs_backward")                                      /* (g, x) */             \
  X(PowBackward, "pow_backward")                                      /* (g, x), p0: exponent */ \
  X(ClampBackward, "clamp_backward")                                  /* (g, x), p0, p1: min, max */ \
  X(TanhBackward, "tanh_backward") X(SigmoidBackward, "sigmoid_backward")                      \
  X(ReluBackward, "relu_backward")                                    /* (g, y) */             \
  X(GeluBackward, "gelu_backward") X(GeluTanhBackward, "gelu_tanh_backward") /* (g, x) */

#define SOFT_POINTWISE_ENUMERATOR_(e, name) e,
enum class UnaryOp { SOFT_UNARY_OPS(SOFT_POINTWISE_ENUMERATOR_) };
enum class BinaryOp { SOFT_BINARY_OPS(SOFT_POINTWISE_ENUMERATOR_) };
#undef SOFT_POINTWISE_ENUMERATOR_

// Every op's name, in enumerator order: tests/test_op_registry.cpp checks each is registered and
// tests/cuda/test_cuda_elementwise.cpp that each has a GPU-vs-CPU case.
#define SOFT_POINTWISE_NAME_LIST_(e, name) name,
inline constexpr const char* kUnaryOpNames[] = {SOFT_UNARY_OPS(SOFT_POINTWISE_NAME_LIST_)};
inline constexpr const char* kBinaryOpNames[] = {SOFT_BINARY_OPS(SOFT_POINTWISE_NAME_LIST_)};
#undef SOFT_POINTWISE_NAME_LIST_

#define SOFT_POINTWISE_NAME_(e, name) \
  case Op::e:                         \
    return name;
inline const char* op_name(UnaryOp op) {
  using Op = UnaryOp;
  switch (op) { SOFT_UNARY_OPS(SOFT_POINTWISE_NAME_) }
  return "unknown unary op";
}
inline const char* op_name(BinaryOp op) {
  using Op = BinaryOp;
  switch (op) { SOFT_BINARY_OPS(SOFT_POINTWISE_NAME_) }
  return "unknown binary op";
}
#undef SOFT_POINTWISE_NAME_

// Calls f(std::integral_constant<UnaryOp, op>{}): turns the runtime op into a template argument.
#define SOFT_POINTWISE_VISIT_(e, name)       \
  case Op::e:                                \
    return f(std::integral_constant<Op, Op::e>{});
template <class F>
void visit_op(UnaryOp op, F&& f) {
  using Op = UnaryOp;
  switch (op) { SOFT_UNARY_OPS(SOFT_POINTWISE_VISIT_) }
  throw Error("unknown unary op");
}
template <class F>
void visit_op(BinaryOp op, F&& f) {
  using Op = BinaryOp;
  switch (op) { SOFT_BINARY_OPS(SOFT_POINTWISE_VISIT_) }
  throw Error("unknown binary op");
}
#undef SOFT_POINTWISE_VISIT_

// float and double overloads of the math functions: the C++ library's on the CPU, the CUDA math
// API's in device code (expf for float, so float math stays in float on the GPU).
#if defined(__CUDA_ARCH__)
#define SOFT_MATH_(cuda_call, cpu_call) cuda_call
#else
#define SOFT_MATH_(cuda_call, cpu_call) cpu_call
#endif
namespace math {
SOFT_HOST_DEVICE inline float exp(float x) { return SOFT_MATH_(::expf(x), std::exp(x)); }
SOFT_HOST_DEVICE inline double exp(double x) { return SOFT_MATH_(::exp(x), std::exp(x)); }
SOFT_HOST_DEVICE inline float log(float x) { return SOFT_MATH_(::logf(x), std::log(x)); }
SOFT_HOST_DEVICE inline double log(double x) { return SOFT_MATH_(::log(x), std::log(x)); }
SOFT_HOST_DEVICE inline float sqrt(float x) { return SOFT_MATH_(::sqrtf(x), std::sqrt(x)); }
SOFT_HOST_DEVICE inline double sqrt(double x) { return SOFT_MATH_(::sqrt(x), std::sqrt(x)); }
SOFT_HOST_DEVICE inline float rsqrt(float x) { return SOFT_MATH_(::rsqrtf(x), 1 / std::sqrt(x)); }
SOFT_HOST_DEVICE inline double rsqrt(double x) { return SOFT_MATH_(::rsqrt(x), 1 / std::sqrt(x)); }
SOFT_HOST_DEVICE inline float abs(float x) { return SOFT_MATH_(::fabsf(x), std::abs(x)); }
SOFT_HOST_DEVICE inline double abs(double x) { return SOFT_MATH_(::fabs(x), std::abs(x)); }
SOFT_HOST_DEVICE inline float tanh(float x) { return SOFT_MATH_(::tanhf(x), std::tanh(x)); }
SOFT_HOST_DEVICE inline double tanh(double x) { return SOFT_MATH_(::tanh(x), std::tanh(x)); }
SOFT_HOST_DEVICE inline float erf(float x) { return SOFT_MATH_(::erff(x), std::erf(x)); }
SOFT_HOST_DEVICE inline double erf(double x) { return SOFT_MATH_(::erf(x), std::erf(x)); }
SOFT_HOST_DEVICE inline float pow(float x, float e) { return SOFT_MATH_(::powf(x, e), std::pow(x, e)); }
SOFT_HOST_DEVICE inline double pow(double x, double e) { return SOFT_MATH_(::pow(x, e), std::pow(x, e)); }
}  // namespace math
#undef SOFT_MATH_

// GELU. Exact: x * Phi(x). Tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
namespace gelu_math {
constexpr double kSqrt1Over2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1/sqrt(2 pi)

template <class T> SOFT_HOST_DEVICE T erf_form(T x) { return T(0.5) * x * (T(1) + math::erf(x * T(kSqrt1Over2))); }
template <class T> SOFT_HOST_DEVICE T erf_form_grad(T x) {
  T cdf = T(0.5) * (T(1) + math::erf(x * T(kSqrt1Over2)));
  T pdf = math::exp(T(-0.5) * x * x) * T(kInvSqrt2Pi);
  return cdf + x * pdf;
}
template <class T> SOFT_HOST_DEVICE T tanh_form(T x) {
  return T(0.5) * x * (T(1) + math::tanh(T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x)));
}
template <class T> SOFT_HOST_DEVICE T tanh_form_grad(T x) {
  T inner = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
  T t = math::tanh(inner);
  T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner;
}
}  // namespace gelu_math

template <auto> constexpr bool kNoMathFor = false;

// One element of a unary op. Clamp is written with comparisons (not fmin/fmax) so NaN passes
// through, as std::min(std::max(x, lo), hi) does.
template <UnaryOp Op, class T>
SOFT_HOST_DEVICE inline T unary_fn(T x, double p0, double p1) {
  if constexpr (Op == UnaryOp::Neg) return -x;
  else if constexpr (Op == UnaryOp::Exp) return math::exp(x);
  else if constexpr (Op == UnaryOp::Log) return math::log(x);
  else if constexpr (Op == UnaryOp::Sqrt) return math::sqrt(x);
  else if constexpr (Op == UnaryOp::Rsqrt) return math::rsqrt(x);
  else if constexpr (Op == UnaryOp::Abs) return math::abs(x);
  else if constexpr (Op == UnaryOp::Pow) return math::pow(x, T(p0));
  else if constexpr (Op == UnaryOp::Clamp) {
    T low = x < T(p0) ? T(p0) : x;
    return low > T(p1) ? T(p1) : low;
  } else if constexpr (Op == UnaryOp::AddScalar) return x + T(p0);
  else if constexpr (Op == UnaryOp::MulScalar) return x * T(p0);
  else if constexpr (Op == UnaryOp::Tanh) return math::tanh(x);
  else if constexpr (Op == UnaryOp::Sigmoid) return T(1) / (T(1) + math::exp(-x));
  else if constexpr (Op == UnaryOp::Relu) return x > 0 ? x : T(0);
  else if constexpr (Op == UnaryOp::Gelu) return gelu_math::erf_form(x);
  else if constexpr (Op == UnaryOp::GeluTanh) return gelu_math::tanh_form(x);
  else static_assert(kNoMathFor<Op>, "unary_fn: this UnaryOp has no math");
}

// One element of a binary op. Clamp's backward compares in double, against the exact bounds.
template <BinaryOp Op, class T>
SOFT_HOST_DEVICE inline T binary_fn(T a, T b, double p0, double p1) {
  if constexpr (Op == BinaryOp::Add) return a + b;
  else if constexpr (Op == BinaryOp::Sub) return a - b;
  else if constexpr (Op == BinaryOp::Mul) return a * b;
  else if constexpr (Op == BinaryOp::Div) return a / b;
  else if constexpr (Op == BinaryOp::SqrtBackward) return a / (T(2) * b);
  else if constexpr (Op == BinaryOp::RsqrtBackward) return a * T(-0.5) * b * b * b;  // d x^(-1/2) = -y^3 / 2
  else if constexpr (Op == BinaryOp::AbsBackward) return b > 0 ? a : (b < 0 ? -a : T(0));
  else if constexpr (Op == BinaryOp::PowBackward) return a * T(p0) * math::pow(b, T(p0 - 1));
  else if constexpr (Op == BinaryOp::ClampBackward) return (b >= p0 && b <= p1) ? a : T(0);
  else if constexpr (Op == BinaryOp::TanhBackward) return a * (T(1) - b * b);
  else if constexpr (Op == BinaryOp::SigmoidBackward) return a * b * (T(1) - b);
  else if constexpr (Op == BinaryOp::ReluBackward) return b > 0 ? a : T(0);
  else if constexpr (Op == BinaryOp::GeluBackward) return a * gelu_math::erf_form_grad(b);
  else if constexpr (Op == BinaryOp::GeluTanhBackward) return a * gelu_math::tanh_form_grad(b);
  else static_assert(kNoMathFor<Op>, "binary_fn: this BinaryOp has no math");
}

}  // namespace soft

#undef SOFT_UNARY_OPS
#undef SOFT_BINARY_OPS
