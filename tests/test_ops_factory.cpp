// Factories (zeros, ones, full, eye, arange) and to_dtype against values written out here,
// including bfloat16's round-to-nearest-even checked at the bit level.
#include <cmath>
#include <cstring>

#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

constexpr DType kAllDtypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16};

// The reference float32 -> bfloat16 rounding, by hand: keep the top 16 bits and round the dropped
// 16 to nearest, ties to the even result; NaN stays a (quiet) NaN.
uint16_t naive_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  uint32_t kept = u >> 16, dropped = u & 0xffff;
  if (dropped > 0x8000 || (dropped == 0x8000 && (kept & 1))) ++kept;
  return static_cast<uint16_t>(kept);
}

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

FORWARD_CHECK(zeros) {
  for (DType dtype : kAllDtypes) {
    Tensor t = zeros({2, 3}, dtype);
    CHECK(t.dtype() == dtype);
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t.is_contiguous());
    CHECK(t.to_vector() == std::vector<double>(6, 0.0));
    CHECK_FALSE(t.requires_grad());
  }
  CHECK(zeros({}).to_vector() == std::vector<double>{0.0});  // a scalar
  CHECK(zeros({0, 4}).numel() == 0);
  Tensor like = zeros_like(ones({3}, DType::Float64));
  CHECK(like.dtype() == DType::Float64);
  CHECK(like.to_vector() == std::vector<double>(3, 0.0));
}

FORWARD_CHECK(ones) {
  for (DType dtype : kAllDtypes) CHECK(ones({4, 1}, dtype).to_vector() == std::vector<double>(4, 1.0));
  CHECK(ones_like(zeros({2, 2}, DType::Int64)).to_vector() == std::vector<double>(4, 1.0));
}

FORWARD_CHECK(full) {
  CHECK(full({2, 2}, -2.5).to_vector() == std::vector<double>(4, -2.5));
  CHECK(full({3}, 0.1, DType::Float64).to_vector() == std::vector<double>(3, 0.1));
  CHECK(full({3}, 0.1).to_vector() == std::vector<double>(3, static_cast<double>(0.1f)));
  CHECK(full({2}, 7.9, DType::Int64).to_vector() == std::vector<double>(2, 7.0));  // truncated, as a C cast
  // bfloat16 stores 0.1 rounded to 8 significant bits.
  CHECK(full({1}, 0.1, DType::BFloat16).item() == static_cast<double>(bits_to_float(0x3DCDu << 16)));
}

FORWARD_CHECK(eye) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    Tensor t = eye(4, dtype);
    CHECK(t.shape() == Shape{4, 4});
    std::vector<double> expected;
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 4; ++j) expected.push_back(i == j ? 1.0 : 0.0);
    CHECK(t.to_vector() == expected);
  }
  CHECK(eye(0).shape() == Shape{0, 0});
  CHECK(eye(1).to_vector() == std::vector<double>{1});
  CHECK_THROWS_WITH_AS(eye(-1), "eye: n = -1 is negative", Error);
}

FORWARD_CHECK(arange) {
  CHECK(arange(0, 5).to_vector() == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(arange(2, 5, 1, DType::Int64).to_vector() == std::vector<double>{2, 3, 4});
  // Fractional step: start + i * step for every i with start + i * step < end.
  Tensor f = arange(0, 1, 0.25, DType::Float64);
  CHECK(f.to_vector() == std::vector<double>{0, 0.25, 0.5, 0.75});
  Tensor g = arange(-1, 0.05, 0.1, DType::Float64);  // 11 values: -1.0 ... 0.0
  std::vector<double> expected;
  for (int i = 0; i < 11; ++i) expected.push_back(-1 + i * 0.1);
  expect_close(g, expected, 1e-15, 0);
  // Negative step counts down to (excluding) end.
  CHECK(arange(5, 1, -1.5, DType::Float64).to_vector() == std::vector<double>{5, 3.5, 2});
  // Empty ranges.
  CHECK(arange(3, 3).numel() == 0);
  CHECK(arange(3, 1).numel() == 0);
  CHECK(arange(1, 3, -1).numel() == 0);
  CHECK(arange(3, 1).shape() == Shape{0});
  CHECK_THROWS_WITH_AS(arange(0, 1, 0), "arange: step must be non-zero", Error);
}

FORWARD_CHECK(to_dtype) {
  Tensor x32 = rand_input({3, 4}, -100, 100, DType::Float32, false);
  std::vector<double> v = x32.to_vector();
  // float32 -> float64 is exact; back again is the identity.
  Tensor x64 = to_dtype(x32, DType::Float64);
  CHECK(x64.dtype() == DType::Float64);
  CHECK(x64.to_vector() == v);
  CHECK(to_dtype(x64, DType::Float32).to_vector() == v);
  CHECK(to_dtype(x64, DType::Float64).same(x64));  // same dtype: the tensor itself
  // float64 -> float32 rounds to nearest.
  Tensor third = to_dtype(full({1}, 1.0 / 3.0, DType::Float64), DType::Float32);
  CHECK(third.item() == static_cast<double>(1.0f / 3.0f));
  // Floats -> int64 truncate toward zero; int64 -> floats are exact for small integers.
  Tensor mixed = Tensor::from_vector({-2.7, -0.5, 0.5, 2.7, 1e6}, {5}, DType::Float64);
  Tensor ints = to_dtype(mixed, DType::Int64);
  CHECK(ints.dtype() == DType::Int64);
  CHECK(ints.to_vector() == std::vector<double>{-2, 0, 0, 2, 1000000});
  CHECK(to_dtype(ints, DType::Float32).to_vector() == std::vector<double>{-2, 0, 0, 2, 1000000});
  CHECK_FALSE(to_dtype(mixed.detach().requires_grad_(), DType::Int64).requires_grad());  // no gradient to integers

  // bfloat16: bit patterns against the naive rounding, over values chosen to hit every case
  // (exact, below/above half, ties to even both ways, carry into the exponent, negatives, NaN, inf).
  std::vector<uint32_t> patterns = {0x3F800000, 0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0x3F7FFFFF,
                                    0xBF80C000, 0x7F7FFFFF, 0x00000001, 0x80000000, 0x7F800000, 0x7FC00000};
  std::vector<double> values;
  for (uint32_t p : patterns) values.push_back(bits_to_float(p));
  for (double r : v) values.push_back(r);  // and random ones
  Tensor f = Tensor::from_vector(values, {static_cast<int64_t>(values.size())}, DType::Float32);
  Tensor b = to_dtype(f, DType::BFloat16);
  REQUIRE(b.dtype() == DType::BFloat16);
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("value ", i, " = ", values[i]);
    CHECK(b.data<bfloat16>()[i].bits == naive_bf16_bits(static_cast<float>(values[i])));
  }
  // Back to float32 is exact (the low bits are zero), and float64 -> bfloat16 goes through float32.
  std::vector<double> back = to_dtype(b, DType::Float32).to_vector();
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t expected = static_cast<uint32_t>(naive_bf16_bits(static_cast<float>(values[i]))) << 16;
    if (std::isnan(values[i])) CHECK(std::isnan(back[i]));
    else CHECK(back[i] == static_cast<double>(bits_to_float(expected)));
  }
  std::vector<double> via64 = to_dtype(to_dtype(f, DType::Float64), DType::BFloat16).to_vector();
  std::vector<double> direct = b.to_vector();
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isnan(values[i])) CHECK(via64[i] == direct[i]);
  // bfloat16 -> int64 truncates the rounded value: 2.75 is representable.
  CHECK(to_dtype(to_dtype(full({1}, 2.75), DType::BFloat16), DType::Int64).item() == 2);
}

GRADCHECK(to_dtype) {
  // float64 -> float32 -> float64 loses precision in the forward pass; the gradient of the round
  // trip is the identity, which the central differences see through float32 noise of ~1e-7/eps.
  // So check the composition with a step large enough for float32, and float64 -> float64 exactly.
  GradcheckOptions loose;
  loose.eps = 1e-2;
  loose.atol = 1e-3;
  loose.rtol = 1e-3;
  Fn round_trip = [](const std::vector<Tensor>& in) {
    return to_dtype(to_dtype(in[0], DType::Float32), DType::Float64);
  };
  expect_gradcheck(round_trip, {rand_input({2, 3})}, loose);
  // float64 -> float64 is the identity (no op is recorded): the gradient passes straight through.
  expect_gradcheck([](const std::vector<Tensor>& in) { return to_dtype(in[0], DType::Float64) * 2.0; },
                   {rand_input({2, 3})});
}

// to_device between two devices is checked on a GPU (tests/cuda/test_cuda_core.cpp); on one device
// it is the tensor itself, and a CPU tensor without a backend for the other device is an error.
FORWARD_CHECK(to_device) {
  Tensor x = rand_input({3, 4}, -1, 1, DType::Float32, false);
  CHECK(to_device(x, Device::cpu()).same(x));
  CHECK(x.to(Device::cpu()).same(x));
}

GRADCHECK(to_device) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return to_device(in[0], Device::cpu()) * 3.0; },
                   {rand_input({2, 3})});
}

// clone: a new contiguous tensor with the values of a strided input; the gradient passes through.
FORWARD_CHECK(clone) {
  Tensor x = rand_input({3, 4}, -1, 1, DType::Float64, false);
  std::vector<double> v = x.to_vector(), vt;
  for (int64_t j = 0; j < 4; ++j)
    for (int64_t i = 0; i < 3; ++i) vt.push_back(v[i * 4 + j]);  // x transposed, by hand
  Tensor c = transpose(x, 0, 1).clone();
  CHECK(c.shape() == Shape{4, 3});
  CHECK(c.is_contiguous());
  CHECK(c.storage() != x.storage());
  CHECK(c.to_vector() == vt);
}

GRADCHECK(clone) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return transpose(in[0], 0, 1).clone() * in[0].sum(); },
                   {rand_input({2, 3})});
}

TEST_CASE("to_dtype sends the gradient back in the input's dtype") {
  Tensor x = rand_input({2, 3}, -1, 1, DType::Float32);
  Tensor y = to_dtype(x, DType::Float64);
  CHECK(y.requires_grad());
  sum(y * Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64)).backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == DType::Float32);
  CHECK(x.grad().to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  // Through bfloat16: a bfloat16 gradient arrives as float32.
  Tensor w = rand_input({3}, -1, 1, DType::Float32);
  Tensor b = to_dtype(w, DType::BFloat16);
  CHECK(b.requires_grad());
  b.backward(Tensor::from_vector({0.5, -2, 3}, {3}, DType::BFloat16));
  CHECK(w.grad().dtype() == DType::Float32);
  CHECK(w.grad().to_vector() == std::vector<double>{0.5, -2, 3});
}
