// batch_norm and layer_norm against plain loops (including the running-statistic update), their
// float64 gradients, and their errors for bad inputs.
#include <cmath>

#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

double tol_of(DType dtype) { return dtype == DType::Float32 ? 1e-5 : 1e-10; }

struct NaiveBatchNorm {
  std::vector<double> y, mean, var;  // var: biased, over the batch (training) or the running one (eval)
};

// x [B, C, S] in logical order; w, b empty for none; running stats used in eval only.
NaiveBatchNorm naive_batch_norm(const std::vector<double>& x, int64_t B, int64_t C, int64_t S,
                                const std::vector<double>& w, const std::vector<double>& b,
                                const std::vector<double>& running_mean, const std::vector<double>& running_var,
                                bool training, double eps) {
  NaiveBatchNorm r{std::vector<double>(x.size()), std::vector<double>(C), std::vector<double>(C)};
  double n = static_cast<double>(B * S);
  for (int64_t c = 0; c < C; ++c) {
    if (training) {
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < B; ++i)
        for (int64_t s = 0; s < S; ++s) sum += x[(i * C + c) * S + s];
      r.mean[c] = sum / n;
      for (int64_t i = 0; i < B; ++i)
        for (int64_t s = 0; s < S; ++s) sq += std::pow(x[(i * C + c) * S + s] - r.mean[c], 2);
      r.var[c] = sq / n;
    } else {
      r.mean[c] = running_mean[c];
      r.var[c] = running_var[c];
    }
    for (int64_t i = 0; i < B; ++i)
      for (int64_t s = 0; s < S; ++s) {
        int64_t k = (i * C + c) * S + s;
        double v = (x[k] - r.mean[c]) / std::sqrt(r.var[c] + eps);
        r.y[k] = v * (w.empty() ? 1.0 : w[c]) + (b.empty() ? 0.0 : b[c]);
      }
  }
  return r;
}

// x [rows, M] in logical order, normalised per row; w, b empty for none.
std::vector<double> naive_layer_norm(const std::vector<double>& x, int64_t M, const std::vector<double>& w,
                                     const std::vector<double>& b, double eps) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / M; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < M; ++j) mean += x[r * M + j] / M;
    for (int64_t j = 0; j < M; ++j) var += std::pow(x[r * M + j] - mean, 2) / M;
    for (int64_t j = 0; j < M; ++j)
      y[r * M + j] = (x[r * M + j] - mean) / std::sqrt(var + eps) * (w.empty() ? 1.0 : w[j]) + (b.empty() ? 0.0 : b[j]);
  }
  return y;
}

}  // namespace

FORWARD_CHECK(batch_norm) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = tol_of(dtype);
    Tensor x = rand_input({3, 4, 2, 3}, -2, 3, dtype, false);
    Tensor w = rand_input({4}, 0.5, 1.5, dtype, false), b = rand_input({4}, -1, 1, dtype, false);
    Tensor rm = rand_input({4}, -0.5, 0.5, dtype, false), rv = rand_input({4}, 0.5, 1.5, dtype, false);
    std::vector<double> rm0 = rm.to_vector(), rv0 = rv.to_vector();

    // Training: batch statistics, and running = 0.8 * running + 0.2 * batch (unbiased variance, n = 18).
    NaiveBatchNorm ref = naive_batch_norm(x.to_vector(), 3, 4, 6, w.to_vector(), b.to_vector(), {}, {}, true, 1e-5);
    expect_close(batch_norm(x, w, b, rm, rv, true, 0.2, 1e-5), ref.y, tol, tol);
    std::vector<double> rm1(4), rv1(4);
    for (int c = 0; c < 4; ++c) {
      rm1[c] = 0.8 * rm0[c] + 0.2 * ref.mean[c];
      rv1[c] = 0.8 * rv0[c] + 0.2 * ref.var[c] * 18.0 / 17.0;
    }
    expect_close(rm, rm1, tol, tol);
    expect_close(rv, rv1, tol, tol);

    // Eval: the running statistics, left unchanged.
    NaiveBatchNorm ev = naive_batch_norm(x.to_vector(), 3, 4, 6, w.to_vector(), b.to_vector(), rm1, rv1, false, 1e-3);
    expect_close(batch_norm(x, w, b, rm, rv, false, 0.2, 1e-3), ev.y, tol, tol);
    expect_close(rm, rm1, tol, tol);
    expect_close(rv, rv1, tol, tol);

    // [B, C] input, no affine parameters, no running statistics; and a non-contiguous input.
    Tensor none, x2 = rand_input({6, 3}, -1, 2, dtype, false);
    expect_close(batch_norm(x2, none, none, none, none, true),
                 naive_batch_norm(x2.to_vector(), 6, 3, 1, {}, {}, {}, {}, true, 1e-5).y, tol, tol);
    Tensor xt = transpose(rand_input({5, 3, 4}, -1, 2, dtype, false), 0, 2);  // [4, 3, 5]
    Tensor w3 = slice(w, 0, 0, 3);
    expect_close(batch_norm(xt, w3, none, none, none, true),
                 naive_batch_norm(xt.to_vector(), 4, 3, 5, w3.to_vector(), {}, {}, {}, true, 1e-5).y, tol, tol);
  }
}

GRADCHECK(batch_norm) {
  Fn training = [](const std::vector<Tensor>& in) {
    Tensor rm = zeros({2}, DType::Float64), rv = ones({2}, DType::Float64);
    return batch_norm(in[0], in[1], in[2], rm, rv, true);
  };
  expect_gradcheck(training, {rand_input({3, 2, 4}, -1, 2), rand_input({2}, 0.5, 1.5), rand_input({2})});
  Fn plain = [](const std::vector<Tensor>& in) {
    Tensor none;
    return batch_norm(in[0], none, none, none, none, true);
  };
  expect_gradcheck(plain, {rand_input({2, 3, 2, 2}, -1, 2)});

  Tensor rm = rand_input({2}, -0.5, 0.5, DType::Float64, false), rv = rand_input({2}, 0.5, 1.5, DType::Float64, false);
  Fn eval = [rm, rv](const std::vector<Tensor>& in) mutable { return batch_norm(in[0], in[1], in[2], rm, rv, false); };
  expect_gradcheck(eval, {rand_input({3, 2, 4}, -1, 2), rand_input({2}, 0.5, 1.5), rand_input({2})});
}

TEST_CASE("batch_norm rejects bad inputs with the op's name") {
  Tensor none, x = zeros({2, 4, 3}), rm = zeros({4}), rv = ones({4});
  CHECK_THROWS_WITH_AS(batch_norm(x, zeros({3}), none, rm, rv, true),
                       "batch_norm: weight of shape [3] does not match the 4 channels of input [2, 4, 3]", Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, none, none, none, none, false),
                       "batch_norm: eval mode needs running_mean and running_var", Error);
  CHECK_THROWS_WITH_AS(batch_norm(zeros({4}), none, none, none, none, true),
                       "batch_norm: input must be [B, C, ...] (at least 2 dims), got shape [4]", Error);
  Tensor one = rand_input({1, 4}, -1, 1, DType::Float32, false);
  CHECK_THROWS_WITH_AS(batch_norm(one, none, none, rm, rv, true),
                       "batch_norm: expected more than 1 value per channel when training, got input of shape [1, 4]",
                       Error);
  CHECK_NOTHROW(batch_norm(one, none, none, rm, rv, false));  // eval needs no batch statistics
  Tensor rv64 = ones({4}, DType::Float64);
  CHECK_THROWS_WITH_AS(batch_norm(x, none, none, rm, rv64, true), "batch_norm: dtype mismatch (float32 and float64)",
                       Error);
}

FORWARD_CHECK(layer_norm) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = tol_of(dtype);
    Tensor x = rand_input({2, 3, 5}, -2, 3, dtype, false);
    // One trailing dim, with and without weight/bias.
    Tensor w = rand_input({5}, 0.5, 1.5, dtype, false), b = rand_input({5}, -1, 1, dtype, false), none;
    expect_close(layer_norm(x, {5}, w, b), naive_layer_norm(x.to_vector(), 5, w.to_vector(), b.to_vector(), 1e-5),
                 tol, tol);
    expect_close(layer_norm(x, {5}, none, none, 1e-2), naive_layer_norm(x.to_vector(), 5, {}, {}, 1e-2), tol, tol);
    // Two trailing dims; and a non-contiguous input.
    Tensor w2 = rand_input({3, 5}, 0.5, 1.5, dtype, false), b2 = rand_input({3, 5}, -1, 1, dtype, false);
    expect_close(layer_norm(x, {3, 5}, w2, b2),
                 naive_layer_norm(x.to_vector(), 15, w2.to_vector(), b2.to_vector(), 1e-5), tol, tol);
    Tensor xt = transpose(rand_input({5, 4}, -2, 3, dtype, false), 0, 1);  // [4, 5]
    expect_close(layer_norm(xt, {5}, w, none), naive_layer_norm(xt.to_vector(), 5, w.to_vector(), {}, 1e-5), tol, tol);
  }
}

GRADCHECK(layer_norm) {
  Fn affine1 = [](const std::vector<Tensor>& in) { return layer_norm(in[0], {4}, in[1], in[2]); };
  expect_gradcheck(affine1, {rand_input({2, 3, 4}, -1, 2), rand_input({4}, 0.5, 1.5), rand_input({4})});
  Fn affine2 = [](const std::vector<Tensor>& in) { return layer_norm(in[0], {2, 3}, in[1], in[2]); };
  expect_gradcheck(affine2, {rand_input({3, 2, 3}, -1, 2), rand_input({2, 3}, 0.5, 1.5), rand_input({2, 3})});
  Fn plain = [](const std::vector<Tensor>& in) { return layer_norm(in[0], {5}, Tensor(), Tensor()); };
  expect_gradcheck(plain, {rand_input({3, 5}, -1, 2)});
}

TEST_CASE("layer_norm weight and bias gradients over many rows (several partial-sum blocks) match naive sums") {
  int64_t rows = 600, M = 128;
  Tensor x = rand_input({rows, M}, -1, 2, DType::Float64, false);
  Tensor w = rand_input({M}, 0.5, 1.5), b = rand_input({M});
  Tensor g = rand_input({rows, M}, -1, 1, DType::Float64, false);
  layer_norm(x, {M}, w, b).backward(g);
  std::vector<double> xv = x.to_vector(), gv = g.to_vector(), dw(M, 0.0), db(M, 0.0);
  std::vector<double> xhat = naive_layer_norm(xv, M, {}, {}, 1e-5);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < M; ++j) {
      dw[j] += gv[r * M + j] * xhat[r * M + j];
      db[j] += gv[r * M + j];
    }
  expect_close(w.grad(), dw, 1e-9, 1e-9);
  expect_close(b.grad(), db, 1e-9, 1e-9);
}

TEST_CASE("layer_norm rejects bad inputs with the op's name") {
  Tensor none, x = zeros({2, 3, 5});
  CHECK_THROWS_WITH_AS(layer_norm(x, {4}, none, none),
                       "layer_norm: normalized_shape [4] does not match the trailing dims of input [2, 3, 5]", Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {2, 2, 3, 5}, none, none),
                       "layer_norm: normalized_shape [2, 2, 3, 5] does not match the trailing dims of input [2, 3, 5]",
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {3, 5}, zeros({5}), none),
                       "layer_norm: weight of shape [5] does not match normalized_shape [3, 5]", Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {}, none, none), "layer_norm: normalized_shape is empty (input [2, 3, 5])", Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {5}, zeros({5}, DType::Float64), none),
                       "layer_norm: dtype mismatch (float32 and float64)", Error);
}
