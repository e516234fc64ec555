// gaussian_lowrank_attention against a naive loop of its formula, K1 (P (K1^T v)), for every way
// of cutting K1 into row blocks (one row per block, uneven last block, one block, the default);
// its float64 gradients with K1 made again in backward and with K1 kept; and its memory: a large
// K1 is never made whole.
#include <cmath>

#include "core/storage.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

// K1 (P (K1^T v)) per batch item, K1[n, j] = exp(-||q_n - l_j||^2 / 2), in double.
std::vector<double> naive_lowrank(const Tensor& q, const Tensor& l, const Tensor& p, const Tensor& v) {
  std::vector<double> vq = q.to_vector(), vl = l.to_vector(), vp = p.to_vector(), vv = v.to_vector(), out;
  int64_t N = q.size(-2), d = q.size(-1), m = l.size(-2), e = v.size(-1);
  int64_t batch = numel_of(Shape(q.shape().begin(), q.shape().end() - 2));
  for (int64_t t = 0; t < batch; ++t) {
    std::vector<double> k1(N * m), kv(m * e, 0.0), s(m * e, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < m; ++j) {
        double dist = 0;
        for (int64_t k = 0; k < d; ++k) {
          double diff = vq[(t * N + n) * d + k] - vl[(t * m + j) * d + k];
          dist += diff * diff;
        }
        k1[n * m + j] = std::exp(-dist / 2);
      }
    for (int64_t j = 0; j < m; ++j)
      for (int64_t c = 0; c < e; ++c)
        for (int64_t n = 0; n < N; ++n) kv[j * e + c] += k1[n * m + j] * vv[(t * N + n) * e + c];
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < e; ++c)
        for (int64_t j = 0; j < m; ++j) s[i * e + c] += vp[(t * m + i) * m + j] * kv[j * e + c];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < e; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < m; ++j) acc += k1[n * m + j] * s[j * e + c];
        out.push_back(acc);
      }
  }
  return out;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

Fn lowrank(int64_t block_rows) {
  return [block_rows](const std::vector<Tensor>& in) {
    return gaussian_lowrank_attention(in[0], in[1], in[2], in[3], block_rows);
  };
}

}  // namespace

FORWARD_CHECK(gaussian_lowrank_attention) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    double tol = dtype == DType::Float32 ? 2e-5 : 1e-12;
    Tensor q = rand_input({2, 3, 10, 4}, -0.8, 0.8, dtype, false);
    Tensor l = rand_input({2, 3, 5, 4}, -0.8, 0.8, dtype, false);
    Tensor p = rand_input({2, 3, 5, 5}, -1, 1, dtype, false), v = rand_input({2, 3, 10, 6}, -1, 1, dtype, false);
    std::vector<double> expected = naive_lowrank(q, l, p, v);
    for (int64_t rows : {1, 3, 9, 10, 64, 0}) {
      INFO("block_rows ", rows);
      Tensor out = gaussian_lowrank_attention(q, l, p, v, rows);
      CHECK(out.shape() == Shape{2, 3, 10, 6});
      expect_close(out, expected, tol, tol);
    }
    // Strided operands (a transposed q, a sliced v), no batch dims, and no rows at all.
    Tensor qt = transpose(rand_input({2, 4, 7}, -0.8, 0.8, dtype, false), -1, -2);
    Tensor lt = rand_input({2, 3, 4}, -0.8, 0.8, dtype, false), pt = rand_input({2, 3, 3}, -1, 1, dtype, false);
    Tensor vt = slice(rand_input({2, 7, 5}, -1, 1, dtype, false), -1, 1, 4);
    expect_close(gaussian_lowrank_attention(qt, lt, pt, vt, 2), naive_lowrank(qt, lt, pt, vt), tol, tol);
    Tensor q2 = rand_input({6, 3}, -1, 1, dtype, false), l2 = rand_input({2, 3}, -1, 1, dtype, false);
    Tensor p2 = rand_input({2, 2}, -1, 1, dtype, false), v2 = rand_input({6, 2}, -1, 1, dtype, false);
    expect_close(gaussian_lowrank_attention(q2, l2, p2, v2, 4), naive_lowrank(q2, l2, p2, v2), tol, tol);
    CHECK(gaussian_lowrank_attention(zeros({2, 0, 3}, dtype), zeros({2, 2, 3}, dtype), zeros({2, 2, 2}, dtype),
                                     zeros({2, 0, 5}, dtype))
              .shape() == Shape{2, 0, 5});
  }
}

GRADCHECK(gaussian_lowrank_attention) {
  auto inputs = [] {
    return std::vector<Tensor>{rand_input({2, 7, 3}, -0.8, 0.8), rand_input({2, 4, 3}, -0.8, 0.8),
                               rand_input({2, 4, 4}), rand_input({2, 7, 2})};
  };
  for (int64_t rows : {1, 3, 7}) {  // K1 made again in backward (one row, uneven blocks), then kept
    INFO("block_rows ", rows);
    expect_gradcheck(lowrank(rows), inputs());
  }
  // Only some inputs asking: q and v, then the landmarks and p.
  std::vector<Tensor> qv = inputs();
  qv[1].requires_grad_(false);
  qv[2].requires_grad_(false);
  expect_gradcheck(lowrank(2), qv);
  std::vector<Tensor> lp = inputs();
  lp[0].requires_grad_(false);
  lp[3].requires_grad_(false);
  expect_gradcheck(lowrank(2), lp);
  // One tensor as both q and landmarks: the two shares of its gradient add up.
  auto shared = [](const std::vector<Tensor>& in) { return gaussian_lowrank_attention(in[0], in[0], in[1], in[2], 2); };
  expect_gradcheck(shared, {rand_input({5, 3}, -0.8, 0.8), rand_input({5, 5}), rand_input({5, 2})});
}

TEST_CASE("gaussian_lowrank_attention never makes a large K1 whole, forward or backward") {
  // N = 16,384 rows of m = 512 landmarks: K1 is 32 MiB in float32, here cut into blocks of 2 MiB
  // (1,024 rows); every other tensor is at most 1 MiB. The plain composition's peak holds K1 and
  // its gradient; the blocked one a few blocks, under half of one K1.
  Tensor q = rand_input({16384, 16}, -1, 1, DType::Float32), l = rand_input({512, 16}, -1, 1, DType::Float32);
  Tensor p = rand_input({512, 512}, -0.01, 0.01, DType::Float32), v = rand_input({16384, 16}, -1, 1, DType::Float32);
  const int64_t k1_bytes = int64_t(16384) * 512 * 4;
  reset_peak_memory(Device::cpu());
  int64_t before = static_cast<int64_t>(memory_stats(Device::cpu()).current);
  gaussian_lowrank_attention(q, l, p, v, 1024).backward(ones({16384, 16}));
  int64_t blocked_peak = static_cast<int64_t>(memory_stats(Device::cpu()).peak) - before;
  CHECK(q.grad().defined());
  CHECK(l.grad().defined());
  INFO("peak above the inputs: ", blocked_peak, " bytes");
  CHECK(blocked_peak < k1_bytes / 2);
  for (Tensor* x : {&q, &l, &p, &v}) x->set_grad(Tensor());
  reset_peak_memory(Device::cpu());
  before = static_cast<int64_t>(memory_stats(Device::cpu()).current);
  Tensor k1 = gaussian_kernel(q, l);
  matmul(k1, matmul(p, matmul(transpose(k1, -1, -2), v))).backward(ones({16384, 16}));
  k1 = Tensor();
  // The measure sees what the blocks avoid.
  CHECK(static_cast<int64_t>(memory_stats(Device::cpu()).peak) - before > 2 * k1_bytes);
}

TEST_CASE("gaussian_lowrank_attention rejects bad operands with the op's name") {
  CHECK_THROWS_WITH_AS(gaussian_lowrank_attention(zeros({2, 6, 3}), zeros({2, 4, 3}), zeros({2, 4, 4}),
                                                  zeros({2, 5, 2})),
                       "gaussian_lowrank_attention: q [2, 6, 3], landmarks [2, 4, 3], p [2, 4, 4], v [2, 5, 2]: need "
                       "[..., N, d], [..., m, d], [..., m, m], [..., N, e] with equal batch dims",
                       Error);
  CHECK_THROWS_AS(gaussian_lowrank_attention(zeros({2, 6, 3}), zeros({3, 4, 3}), zeros({2, 4, 4}), zeros({2, 6, 2})),
                  Error);
  CHECK_THROWS_AS(gaussian_lowrank_attention(zeros({6, 3}), zeros({4, 2}), zeros({4, 4}), zeros({6, 2})), Error);
  CHECK_THROWS_AS(gaussian_lowrank_attention(zeros({6, 3}), zeros({4, 3}), zeros({4, 3}), zeros({6, 2})), Error);
  CHECK_THROWS_WITH_AS(gaussian_lowrank_attention(zeros({6, 3}), zeros({4, 3}), zeros({4, 4}), zeros({6, 2}), -1),
                       "gaussian_lowrank_attention: block_rows must be >= 0, got -1", Error);
  CHECK_THROWS_WITH_AS(
      gaussian_lowrank_attention(zeros({6, 3}), zeros({4, 3}), zeros({4, 4}, DType::Float64), zeros({6, 2})),
      doctest::Contains("gaussian_lowrank_attention: dtype mismatch"), Error);
}
