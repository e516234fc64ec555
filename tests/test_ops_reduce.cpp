// Reductions (sum, mean, max, argmax, var, sum_to) against loops over the input's index space,
// and their float64 gradients.
#include <cmath>

#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

// The index of input element `flat` (row-major over `shape`) in the output of reducing `dims`:
// the row-major position among the kept dims.
int64_t out_index(int64_t flat, const Shape& shape, const std::vector<int64_t>& dims) {
  int64_t out = 0, out_stride = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    int64_t i = flat % shape[d];
    flat /= shape[d];
    bool reduced = dims.empty();
    for (int64_t r : dims) reduced |= r == d;
    if (!reduced) {
      out += i * out_stride;
      out_stride *= shape[d];
    }
  }
  return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    bool reduced = dims.empty();
    for (int64_t r : dims) reduced |= r == static_cast<int64_t>(d);
    if (reduced) n *= shape[d];
  }
  return n;
}

// Naive sum of x's values (logical order) over `dims` (all when empty), non-negative dims.
std::vector<double> naive_sum(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<double> v = x.to_vector(), out(v.size() / std::max<int64_t>(reduced_count(x.shape(), dims), 1), 0.0);
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i) out[out_index(i, x.shape(), dims)] += v[i];
  return out;
}

std::vector<double> naive_var(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased) {
  std::vector<double> v = x.to_vector(), mean = naive_sum(x, dims), out(mean.size(), 0.0);
  double n = static_cast<double>(reduced_count(x.shape(), dims));
  for (double& m : mean) m /= n;
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i) {
    int64_t o = out_index(i, x.shape(), dims);
    out[o] += (v[i] - mean[o]) * (v[i] - mean[o]);
  }
  for (double& e : out) e /= unbiased ? n - 1 : n;
  return out;
}

// Value and position (first maximum) of each row of `dim`.
std::pair<std::vector<double>, std::vector<double>> naive_max(const Tensor& x, int64_t dim) {
  std::vector<double> v = x.to_vector();
  int64_t n = x.shape()[dim], inner = 1;
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  int64_t outer = static_cast<int64_t>(v.size()) / (n * inner);
  std::vector<double> values, positions;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k)
        if (v[(o * n + k) * inner + i] > v[(o * n + best) * inner + i]) best = k;
      values.push_back(v[(o * n + best) * inner + i]);
      positions.push_back(static_cast<double>(best));
    }
  return {values, positions};
}

// Distinct values (a shuffled ramp), so that max's argmax is stable under gradcheck's perturbation.
Tensor distinct_input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  int64_t n = numel_of(shape);
  std::vector<double> p = randperm(n, gen).to_vector();
  for (double& e : p) e = (e - n / 2.0) * 0.37;
  Tensor t = Tensor::from_vector(p, shape, DType::Float64);
  t.requires_grad_(true);
  return t;
}

double tol(DType dtype) { return dtype == DType::Float32 ? 1e-5 : 1e-12; }

}  // namespace

FORWARD_CHECK(sum) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({2, 3, 4}, -1, 1, dtype, false);
    double t = tol(dtype);
    Tensor all = sum(x);
    CHECK(all.shape() == Shape{});
    expect_close(all, naive_sum(x, {}), t, t);
    expect_close(sum(x, {1}), naive_sum(x, {1}), t, t);
    CHECK(sum(x, {1}).shape() == Shape{2, 4});
    expect_close(sum(x, {-1}), naive_sum(x, {2}), t, t);
    expect_close(sum(x, {0, 2}), naive_sum(x, {0, 2}), t, t);
    Tensor kept = sum(x, {0, 2}, true);
    CHECK(kept.shape() == Shape{1, 3, 1});
    expect_close(kept, naive_sum(x, {0, 2}), t, t);
    // Leading dims of a contiguous tensor: the column-sum path, with enough columns for threads.
    Tensor wide = rand_input({3, 2, 700}, -1, 1, dtype, false);
    expect_close(sum(wide, {0}), naive_sum(wide, {0}), t, t);
    expect_close(sum(wide, {0, 1}), naive_sum(wide, {0, 1}), t, t);
    CHECK(sum(wide, {0, 1}, true).shape() == Shape{1, 1, 700});
    // A non-contiguous input, and a contiguous slice with a storage offset (leading-dims path).
    Tensor xt = transpose(x, 0, 2);  // [4, 3, 2]
    expect_close(sum(xt, {0}), naive_sum(xt, {0}), t, t);
    expect_close(sum(xt, {1, 2}), naive_sum(xt, {1, 2}), t, t);
    Tensor tail = slice(x, 0, 1, 2);  // [1, 3, 4], offset 12
    expect_close(sum(tail, {0, 1}), naive_sum(tail, {0, 1}), t, t);
  }
  // Summing an empty dim gives zeros.
  CHECK(sum(zeros({2, 0}), {1}).to_vector() == std::vector<double>{0, 0});
  CHECK_THROWS_WITH_AS(sum(zeros({2, 3}), {0, 0}), "sum: dim 0 is given twice", Error);
  CHECK_THROWS_AS(sum(zeros({2, 3}), {2}), Error);
}

GRADCHECK(sum) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0]); }, {rand_input({2, 3})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {0, 2}, true); }, {rand_input({2, 3, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {1}); }, {rand_input({2, 3, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(transpose(in[0], 0, 1), {0}); },
                   {rand_input({3, 4})});
}

FORWARD_CHECK(mean) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 2, 4}, -1, 1, dtype, false);
    double t = tol(dtype);
    std::vector<double> all = naive_sum(x, {}), rows = naive_sum(x, {0, 2});
    all[0] /= 24;
    for (double& e : rows) e /= 12;
    expect_close(mean(x), all, t, t);
    expect_close(mean(x, {0, 2}), rows, t, t);
    CHECK(mean(x, {0, 2}, true).shape() == Shape{1, 2, 1});
  }
  CHECK_THROWS_AS(mean(zeros({2, 0}), {1}), Error);
}

GRADCHECK(mean) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return mean(in[0]); }, {rand_input({2, 3})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {1}, true); }, {rand_input({2, 3, 2})});
}

FORWARD_CHECK(max) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 4, 5}, -1, 1, dtype, false);
    for (int64_t dim = 0; dim < 3; ++dim) {
      auto [values, positions] = naive_max(x, dim);
      Tensor y = max(x, dim);
      Shape out = x.shape();
      out.erase(out.begin() + dim);
      CHECK(y.shape() == out);
      expect_close(y, values, 0, 0);
      Shape kept = x.shape();
      kept[dim] = 1;
      CHECK(max(x, dim, true).shape() == kept);
    }
    auto [values, positions] = naive_max(transpose(x, 0, 2), 1);  // a non-contiguous input
    expect_close(max(transpose(x, 0, 2), 1), values, 0, 0);
  }
}

GRADCHECK(max) {
  // Over each dim (the mask is permuted back to x's layout) and with keepdim.
  for (int64_t dim = 0; dim < 3; ++dim)
    expect_gradcheck([dim](const std::vector<Tensor>& in) { return max(in[0], dim); },
                     {distinct_input({2, 3, 4}, 10 + dim)});
  expect_gradcheck([](const std::vector<Tensor>& in) { return max(in[0], -2, true); }, {distinct_input({3, 4}, 3)});
}

TEST_CASE("max sends the gradient to the first maximum of a row") {
  Tensor x = Tensor::from_vector({1, 5, 5, 2, /**/ 7, 0, 7, 7}, {2, 4}, DType::Float64);
  x.requires_grad_(true);
  Tensor y = max(x, 1);
  CHECK(y.to_vector() == std::vector<double>{5, 7});
  y.backward(Tensor::from_vector({2, 3}, {2}, DType::Float64));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 2, 0, 0, 3, 0, 0, 0});
  // The same along dim 0: columns (5, 0) ... and a tie in column 2.
  Tensor z = Tensor::from_vector({1, 4, 4, /**/ 3, 4, 2}, {2, 3}, DType::Float64);
  z.requires_grad_(true);
  sum(max(z, 0)).backward();
  CHECK(z.grad().to_vector() == std::vector<double>{0, 1, 1, 1, 0, 0});
}

FORWARD_CHECK(argmax) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 4, 5}, -1, 1, dtype, false);
    for (int64_t dim = 0; dim < 3; ++dim) {
      Tensor a = argmax(x, dim);
      CHECK(a.dtype() == DType::Int64);
      expect_close(a, naive_max(x, dim).second, 0, 0);
    }
    CHECK(argmax(x, -1, true).shape() == Shape{3, 4, 1});
  }
  // Ties: the first maximum wins.
  Tensor ties = Tensor::from_vector({3, 1, 3, /**/ 0, 2, 2, /**/ 4, 4, 4}, {3, 3});
  CHECK(argmax(ties, 1).to_vector() == std::vector<double>{0, 1, 0});
  CHECK(argmax(ties, 0).to_vector() == std::vector<double>{2, 2, 2});
  CHECK_THROWS_AS(argmax(zeros({2, 0}), 1), Error);
}

FORWARD_CHECK(var) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 4, 2}, -1, 1, dtype, false);
    double t = dtype == DType::Float32 ? 1e-5 : 1e-12;
    expect_close(var(x, {1}), naive_var(x, {1}, true), t, t);
    expect_close(var(x, {1}, false), naive_var(x, {1}, false), t, t);
    expect_close(var(x, {0, 2}), naive_var(x, {0, 2}, true), t, t);
    expect_close(var(x, {0, 2}, false, true), naive_var(x, {0, 2}, false), t, t);
    CHECK(var(x, {0, 2}, false, true).shape() == Shape{1, 4, 1});
    expect_close(var(x, {}), naive_var(x, {}, true), t, t);  // no dims: all
  }
  CHECK_THROWS_AS(var(zeros({3, 1}), {1}), Error);  // unbiased over one element
}

GRADCHECK(var) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return var(in[0], {1}); }, {rand_input({3, 4})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return var(in[0], {0, 2}, false, true); },
                   {rand_input({2, 3, 2})});
}

FORWARD_CHECK(sum_to) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({2, 3, 4}, -1, 1, dtype, false);
    double t = tol(dtype);
    std::vector<double> v = x.to_vector();
    // [2, 3, 4] -> [3, 1]: sum over dim 0 (dropped) and dim 2 (kept as 1).
    std::vector<double> e31(3, 0.0), e4(4, 0.0);
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t k = 0; k < 4; ++k) {
          e31[j] += v[(i * 3 + j) * 4 + k];
          e4[k] += v[(i * 3 + j) * 4 + k];
        }
    Tensor y = sum_to(x, {3, 1});
    CHECK(y.shape() == Shape{3, 1});
    expect_close(y, e31, t, t);
    expect_close(sum_to(x, {4}), e4, t, t);
    expect_close(sum_to(x, {1, 1, 4}), e4, t, t);
    CHECK(sum_to(x, {2, 3, 4}).same(x));  // nothing to reduce
  }
  CHECK_THROWS_AS(sum_to(zeros({2, 3}), {2}), Error);
  CHECK_THROWS_AS(sum_to(zeros({3}), {2, 3}), Error);
}

GRADCHECK(sum_to) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum_to(in[0], {3, 1}); }, {rand_input({2, 3, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum_to(in[0], {1, 2}); }, {rand_input({3, 2})});
}
