// softmax, log_softmax, cross_entropy, dropout and drop_path against plain loops, their float64
// gradients, and their errors for bad inputs.
#include <cmath>

#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

double tol_of(DType dtype) { return dtype == DType::Float32 ? 1e-5 : 1e-10; }

// (log_)softmax of x along dim, by looping over every lane: the elements that differ only in dim.
std::vector<double> naive_softmax(const Tensor& x, int64_t dim, bool log) {
  std::vector<double> v = x.to_vector(), y(v.size());
  int64_t outer = 1, D = x.shape()[dim], inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.shape()[d];
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t d) { return (o * D + d) * inner + i; };
      double m = -INFINITY, s = 0;
      for (int64_t d = 0; d < D; ++d) m = std::max(m, v[at(d)]);
      for (int64_t d = 0; d < D; ++d) s += std::exp(v[at(d)] - m);
      for (int64_t d = 0; d < D; ++d) y[at(d)] = log ? v[at(d)] - m - std::log(s) : std::exp(v[at(d)] - m) / s;
    }
  return y;
}

void check_softmax_forward(bool log) {
  auto op = log ? log_softmax : softmax;
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = tol_of(dtype);
    Tensor x = rand_input({3, 4, 5}, -3, 3, dtype, false);
    expect_close(op(x, -1), naive_softmax(x, 2, log), tol, tol);
    expect_close(op(x, 1), naive_softmax(x, 1, log), tol, tol);
    expect_close(op(x, 0), naive_softmax(x, 0, log), tol, tol);
    // More lanes than one block holds (inner = 150), a non-contiguous input, and large values.
    Tensor wide = rand_input({2, 3, 150}, -3, 3, dtype, false);
    expect_close(op(wide, 1), naive_softmax(wide, 1, log), tol, tol);
    Tensor xt = transpose(x, 0, 2);  // [5, 4, 3]
    expect_close(op(xt, -1), naive_softmax(xt.contiguous(), 2, log), tol, tol);
    Tensor big = x * 1000.0;
    expect_close(op(big, 1), naive_softmax(big, 1, log), tol, tol);
  }
}

// Mean cross-entropy by the definition: t_eff = (1 - eps) * t + eps / C, loss = -sum t_eff * logp.
double naive_cross_entropy(const Tensor& logits, const std::vector<double>& soft_target, double eps) {
  int64_t B = logits.shape()[0], C = logits.shape()[1];
  std::vector<double> logp = naive_softmax(logits, 1, true);
  double total = 0;
  for (int64_t r = 0; r < B; ++r)
    for (int64_t c = 0; c < C; ++c) total -= ((1 - eps) * soft_target[r * C + c] + eps / C) * logp[r * C + c];
  return total / B;
}

std::vector<double> one_hot(const std::vector<double>& classes, int64_t C) {
  std::vector<double> t(classes.size() * C, 0.0);
  for (size_t r = 0; r < classes.size(); ++r) t[r * C + static_cast<int64_t>(classes[r])] = 1;
  return t;
}

// Every output is 0 or x / (1 - p); returns the fraction kept.
double check_dropped_or_scaled(const Tensor& y, const Tensor& x, double p) {
  std::vector<double> yv = y.to_vector(), xv = x.to_vector();
  size_t kept = 0, bad = 0;
  for (size_t i = 0; i < yv.size(); ++i) {
    if (yv[i] == 0) continue;
    ++kept;
    bad += std::fabs(yv[i] - xv[i] / (1 - p)) > 1e-5 * std::fabs(xv[i] / (1 - p));
  }
  CHECK_MESSAGE(bad == 0, bad, " outputs are neither 0 nor x / (1 - p)");
  return static_cast<double>(kept) / static_cast<double>(yv.size());
}

}  // namespace

FORWARD_CHECK(softmax) { check_softmax_forward(false); }
FORWARD_CHECK(log_softmax) { check_softmax_forward(true); }

GRADCHECK(softmax) {
  for (int64_t dim : {-1, 1})
    expect_gradcheck([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); },
                     {rand_input({2, 3, 4}, -2, 2)});
}

GRADCHECK(log_softmax) {
  for (int64_t dim : {-1, 1})
    expect_gradcheck([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); },
                     {rand_input({2, 3, 4}, -2, 2)});
}

TEST_CASE("softmax and log_softmax reject a bad dim with the op's name") {
  CHECK_THROWS_WITH_AS(softmax(zeros({2, 3}), 2), "softmax: dim 2 is out of range for a tensor with 2 dims", Error);
  CHECK_THROWS_WITH_AS(log_softmax(zeros({2, 3}), -3), "log_softmax: dim -3 is out of range for a tensor with 2 dims",
                       Error);
  CHECK_THROWS_AS(softmax(zeros({2}, DType::Int64), 0), Error);
}

FORWARD_CHECK(cross_entropy) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = tol_of(dtype);
    Tensor logits = rand_input({4, 5}, -3, 3, dtype, false);
    std::vector<double> classes = {1, 0, 4, 2};
    Tensor target = Tensor::from_vector(classes, {4}, DType::Int64);
    CHECK(cross_entropy(logits, target).shape() == Shape{});
    expect_close(cross_entropy(logits, target), {naive_cross_entropy(logits, one_hot(classes, 5), 0)}, tol, tol);
    expect_close(cross_entropy(logits, target, 0.1), {naive_cross_entropy(logits, one_hot(classes, 5), 0.1)}, tol,
                 tol);
    // Soft targets (rows summing to 1, as mixup makes them), with and without smoothing.
    Tensor probs = softmax(rand_input({4, 5}, -2, 2, dtype, false), 1);
    expect_close(cross_entropy(logits, probs), {naive_cross_entropy(logits, probs.to_vector(), 0)}, tol, tol);
    expect_close(cross_entropy(logits, probs, 0.2), {naive_cross_entropy(logits, probs.to_vector(), 0.2)}, tol, tol);
    // Large logits stay finite.
    Tensor big = logits * 200.0;
    expect_close(cross_entropy(big, target), {naive_cross_entropy(big, one_hot(classes, 5), 0)}, tol, tol);
  }
}

GRADCHECK(cross_entropy) {
  Tensor target = Tensor::from_vector({2, 0, 3}, {3}, DType::Int64);
  for (double eps : {0.0, 0.1})
    expect_gradcheck([target, eps](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, eps); },
                     {rand_input({3, 4}, -2, 2)});
  // Soft targets: gradients for the logits and the target; rows not summing to 1 also check the
  // sum(t) factor of the logits' gradient.
  for (double eps : {0.0, 0.2})
    expect_gradcheck([eps](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], eps); },
                     {rand_input({3, 4}, -2, 2), rand_input({3, 4}, 0.1, 0.9)});
}

TEST_CASE("cross_entropy rejects bad inputs with the op's name") {
  Tensor logits = zeros({4, 5});
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({5}), Tensor::from_vector({1}, {1}, DType::Int64)),
                       "cross_entropy: logits must have 2 dims, got shape [5]", Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::from_vector({1, 5, 0, 2}, {4}, DType::Int64)),
                       "cross_entropy: target 5 at batch index 1 is out of range for 5 classes", Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::from_vector({1, 0, -1, 2}, {4}, DType::Int64)),
                       "cross_entropy: target -1 at batch index 2 is out of range for 5 classes", Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::from_vector({1, 0, 2}, {3}, DType::Int64)),
                       "cross_entropy: target must be int64 class indices [4] or float32 probabilities [4, 5] for "
                       "logits [4, 5], got int64 [3]",
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, zeros({4, 5}, DType::Float64)),
                       "cross_entropy: target must be int64 class indices [4] or float32 probabilities [4, 5] for "
                       "logits [4, 5], got float64 [4, 5]",
                       Error);
  CHECK_THROWS_AS(cross_entropy(logits, zeros({4})), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, zeros({4, 5}), 1.5),
                       "cross_entropy: label_smoothing 1.5 is outside [0, 1]", Error);
}

FORWARD_CHECK(dropout) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({100000}, 0.5, 1.5, dtype, false);  // never 0, so a 0 output means dropped
    Generator gen(42), same(42), other(43);
    Tensor y = dropout(x, 0.3, true, gen);
    double kept = check_dropped_or_scaled(y, x, 0.3);
    CHECK(kept == doctest::Approx(0.7).epsilon(0.02));
    CHECK(dropout(x, 0.3, true, same).to_vector() == y.to_vector());
    CHECK(dropout(x, 0.3, true, other).to_vector() != y.to_vector());
    CHECK(dropout(x, 0.3, true, gen).to_vector() != y.to_vector());  // the generator moved on
    // Identity when not training or p == 0; all zeros when p == 1.
    CHECK(dropout(x, 0.3, false, gen).same(x));
    CHECK(dropout(x, 0.0, true, gen).same(x));
    expect_close(dropout(x, 1.0, true, gen), std::vector<double>(x.numel(), 0.0), 0, 0);
  }
}

FORWARD_CHECK(drop_path) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    int64_t B = 4000, per_sample = 6;
    Tensor x = rand_input({B, 2, 3}, 0.5, 1.5, dtype, false);
    Generator gen(7), same(7);
    Tensor y = drop_path(x, 0.25, true, gen);
    check_dropped_or_scaled(y, x, 0.25);
    std::vector<double> yv = y.to_vector();
    int64_t kept = 0, mixed = 0;
    for (int64_t b = 0; b < B; ++b) {
      int64_t zeros_in_sample = 0;
      for (int64_t k = 0; k < per_sample; ++k) zeros_in_sample += yv[b * per_sample + k] == 0;
      kept += zeros_in_sample == 0;
      mixed += zeros_in_sample != 0 && zeros_in_sample != per_sample;
    }
    CHECK_MESSAGE(mixed == 0, mixed, " samples are only partly dropped");
    CHECK(static_cast<double>(kept) / B == doctest::Approx(0.75).epsilon(0.05));
    CHECK(drop_path(x, 0.25, true, same).to_vector() == yv);
    CHECK(drop_path(x, 0.25, false, gen).same(x));
    CHECK(drop_path(x, 0.0, true, gen).same(x));
    expect_close(drop_path(x, 1.0, true, gen), std::vector<double>(x.numel(), 0.0), 0, 0);
  }
}

GRADCHECK(dropout) {
  // A new Generator with a fixed seed inside the function: every call draws the same mask.
  expect_gradcheck([](const std::vector<Tensor>& in) {
    Generator gen(5);
    return dropout(in[0], 0.4, true, gen);
  }, {rand_input({3, 4})});
}

GRADCHECK(drop_path) {
  expect_gradcheck([](const std::vector<Tensor>& in) {
    Generator gen(3);
    return drop_path(in[0], 0.5, true, gen);
  }, {rand_input({6, 2, 2})});
}

TEST_CASE("dropout and drop_path reject bad inputs with the op's name") {
  Tensor x = ones({4, 3});
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, true), "dropout: probability p = 1.5 is outside [0, 1]", Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1, false), "dropout: probability p = -0.1 is outside [0, 1]", Error);
  CHECK_THROWS_WITH_AS(drop_path(x, 2, true), "drop_path: probability p = 2 is outside [0, 1]", Error);
  CHECK_THROWS_WITH_AS(drop_path(ones({}), 0.5, true), "drop_path: input must have a batch dim, got shape []", Error);
  CHECK_THROWS_WITH_AS(dropout(zeros({3}, DType::Int64), 0.5, true),
                       "dropout: dtype int64 is not supported (float32 or float64)", Error);
}
