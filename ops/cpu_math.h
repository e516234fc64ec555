#pragma once
// Float math the compiler can vectorise, for the CPU kernels' hot loops: the C library's expf,
// tanhf and erff are calls a loop cannot vectorise (GELU's forward and backward spent most of
// their time in them). Each is branch-free (selects, no early returns), accurate to a few ulp,
// and has a test against the C library over its whole range (tests/test_cpu_math.cpp).
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace soft::cpu_math {

// exp(x) for x <= 0 (or NaN), to about 1 ulp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of
// ln2), a Taylor polynomial for e^r (degree 7 for float, 13 for double), times 2^n built in the
// exponent bits. Results below the smallest normal number flush to 0. exp_nonpositive(0) == 1.
template <class T>
inline T exp_nonpositive(T x) {
  constexpr bool is_float = std::is_same_v<T, float>;
  using Int = std::conditional_t<is_float, int32_t, int64_t>;
  constexpr T lo = is_float ? T(-87.33654) : T(-708.3964);  // log of the smallest normal number
  constexpr T ln2_hi = is_float ? T(0.693359375) : T(6.93145751953125e-1);
  constexpr T ln2_lo = is_float ? T(-2.12194440e-4) : T(1.42860682030941723212e-6);
  constexpr int degree = is_float ? 7 : 13;
  constexpr int mantissa_bits = is_float ? 23 : 52;
  constexpr Int bias = is_float ? 127 : 1023;
  T xc = x > lo ? x : lo;  // keeps the int conversion below in range (NaN too)
  T n = std::nearbyint(xc * T(1.4426950408889634));  // (std::floor would not vectorise)
  T r = xc - n * ln2_hi - n * ln2_lo;
  constexpr std::array<T, degree + 1> coeff = [] {  // 1/k!
    std::array<T, degree + 1> c{T(1)};
    for (int k = 1; k <= degree; ++k) c[k] = c[k - 1] / T(k);
    return c;
  }();
  T p = coeff[degree];
  for (int k = degree - 1; k >= 0; --k) p = p * r + coeff[k];
  T scale = std::bit_cast<T>(static_cast<Int>((static_cast<Int>(n) + bias) << mantissa_bits));
  return x >= lo ? p * scale : (x < lo ? T(0) : x);  // the last case is NaN, passed on
}

// The logistic function s = 1 / (1 + e^-z) and s (1 - s), both to a few ulp: with t = e^-|z| <= 1
// (no overflow), s and 1 - s are 1 / (1 + t) and t / (1 + t) in the order of z's sign, so neither
// is formed as a difference of nearby numbers.
struct Logistic {
  float s, s_1ms;
};
inline Logistic logistic(float z) {
  float t = exp_nonpositive(z > 0 ? -z : z);
  float inv = 1.0f / (1.0f + t);
  return {z >= 0 ? inv : t * inv, t * inv * inv};
}

// erf(x): x P(x^2) / Q(x^2) on [-4, 4] (a rational minimax fit, the form of Eigen's and XLA's
// float erf), +-1 beyond, where erf differs from 1 by less than half a float ulp.
inline float erf(float x) {
  float c = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
  float x2 = c * c;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 - 2.10102402082508e-06f;
  p = p * x2 - 5.69250639462346e-05f;
  p = p * x2 - 7.34990630326855e-04f;
  p = p * x2 - 2.95459980854025e-03f;
  p = p * x2 - 1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 - 2.13374055278905e-04f;
  q = q * x2 - 1.68282697438203e-03f;
  q = q * x2 - 7.37332916720468e-03f;
  q = q * x2 - 1.42647390514189e-02f;
  return c * p / q;
}

// GELU and its derivative in float, with the constants of ops/pointwise_math.h's gelu_math.
// Tanh form: 0.5 x (1 + tanh(u)) = x s(2u) with s the logistic function,
// u = sqrt(2/pi) (x + 0.044715 x^3); its derivative s(2u) + x 0.5 (1 - tanh^2 u) u' with
// 0.5 (1 - tanh^2 u) = 2 s(2u) (1 - s(2u)).
inline float gelu_tanh(float x) {
  float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x * logistic(2.0f * u).s;
}
inline float gelu_tanh_grad(float x) {
  float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x * x);
  Logistic l = logistic(2.0f * u);
  return l.s + 2.0f * x * l.s_1ms * du;
}
// Exact (erf) form: x Phi(x); derivative Phi(x) + x phi(x).
inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f)); }
inline float gelu_erf_grad(float x) {
  float cdf = 0.5f * (1.0f + erf(x * 0.70710678118654752f));
  return cdf + x * 0.3989422804014327f * exp_nonpositive(-0.5f * x * x);
}

}  // namespace soft::cpu_math
