// gemm against a triple loop over odd sizes, layouts and alpha/beta; matmul, linear and
// pairwise_sqdist against naive loops over their index spaces, and their float64 gradients.
#include <cmath>
#include <limits>
#include <random>

#include <omp.h>

#include "ops/gemm.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// ---- gemm -----------------------------------------------------------------------------------

struct GemmCase {
  int64_t M, N, K;
  double alpha, beta;
  bool a_trans, b_trans, c_trans;  // column-major storage instead of row-major
  int64_t c_pad;                   // extra elements between C's rows/columns (a strided view)
};

// C = alpha A B + beta C through gemm, checked element by element against a loop in double.
template <class T>
void check_gemm(const GemmCase& c) {
  CAPTURE(c.M);
  CAPTURE(c.N);
  CAPTURE(c.K);
  CAPTURE(c.alpha);
  CAPTURE(c.beta);
  CAPTURE(c.a_trans);
  CAPTURE(c.b_trans);
  CAPTURE(c.c_trans);
  std::mt19937 rng(static_cast<unsigned>(c.M * 7919 + c.N * 31 + c.K));
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> a(c.M * c.K), b(c.K * c.N);
  for (T& v : a) v = static_cast<T>(u(rng));
  for (T& v : b) v = static_cast<T>(u(rng));
  MatrixRef<const T> A = c.a_trans ? MatrixRef<const T>{a.data(), 1, c.M} : MatrixRef<const T>{a.data(), c.K, 1};
  MatrixRef<const T> B = c.b_trans ? MatrixRef<const T>{b.data(), 1, c.K} : MatrixRef<const T>{b.data(), c.N, 1};
  int64_t ld = (c.c_trans ? c.M : c.N) + c.c_pad;
  std::vector<T> out((c.c_trans ? c.N : c.M) * ld);
  // beta == 0 must not read C: fill it with NaN, which would poison any read.
  for (T& v : out) v = c.beta == 0 ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(u(rng));
  std::vector<T> before = out;
  MatrixRef<T> C = c.c_trans ? MatrixRef<T>{out.data(), 1, ld} : MatrixRef<T>{out.data(), ld, 1};
  gemm<T>(c.M, c.N, c.K, static_cast<T>(c.alpha), A, B, static_cast<T>(c.beta), C);

  double eps = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  int64_t bad = 0;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double dot = 0, mag = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        double p = double(A.data[i * A.row_stride + k * A.col_stride]) *
                   double(B.data[k * B.row_stride + j * B.col_stride]);
        dot += p;
        mag += std::fabs(p);
      }
      int64_t at = i * C.row_stride + j * C.col_stride;
      double old = c.beta == 0 ? 0.0 : double(before[at]);
      double expected = c.alpha * dot + c.beta * old;
      double tol = 4 * eps * (std::fabs(c.alpha) * mag + std::fabs(c.beta * old) + 1) * std::sqrt(double(c.K) + 1);
      if (!(std::fabs(double(out[at]) - expected) <= tol)) ++bad;
    }
  CHECK_MESSAGE(bad == 0, bad, " of ", c.M * c.N, " elements wrong");
  // Padding between C's rows or columns is outside the matrix and must be left alone.
  int64_t touched = 0;
  for (size_t k = 0; k < out.size(); ++k)
    if (static_cast<int64_t>(k) % ld >= (c.c_trans ? c.M : c.N) &&
        !(out[k] == before[k] || (std::isnan(out[k]) && std::isnan(before[k]))))
      ++touched;
  CHECK(touched == 0);
}

// ---- naive references -----------------------------------------------------------------------

// Row-major index of `idx` (aligned to the right of `out_batch`) into a tensor of `batch` dims,
// reading broadcast dims (size 1) at 0.
int64_t broadcast_index(const std::vector<int64_t>& idx, const Shape& batch) {
  int64_t flat = 0, lead = static_cast<int64_t>(idx.size() - batch.size());
  for (size_t d = 0; d < batch.size(); ++d) flat = flat * batch[d] + (batch[d] == 1 ? 0 : idx[lead + d]);
  return flat;
}

// [..., M, K] @ [..., K, N] with broadcast batch dims, from the logical values of a and b.
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_vector(), vb = b.to_vector(), out;
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "test");
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t t = 0; t < numel_of(batch); ++t) {
    int64_t rem = t;
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) idx[d] = rem % batch[d], rem /= batch[d];
    const double* pa = va.data() + broadcast_index(idx, ba) * M * K;
    const double* pb = vb.data() + broadcast_index(idx, bb) * K * N;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += pa[i * K + k] * pb[k * N + j];
        out.push_back(s);
      }
  }
  return out;
}

std::vector<double> naive_linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  std::vector<double> vx = x.to_vector(), vw = w.to_vector(), vb, out;
  if (bias.defined()) vb = bias.to_vector();
  int64_t in = w.size(1), n_out = w.size(0), rows = x.numel() / in;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < n_out; ++o) {
      double s = bias.defined() ? vb[o] : 0.0;
      for (int64_t k = 0; k < in; ++k) s += vx[r * in + k] * vw[o * in + k];
      out.push_back(s);
    }
  return out;
}

std::vector<double> naive_sqdist(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_vector(), vb = b.to_vector(), out;
  int64_t N = a.size(-2), M = b.size(-2), d = a.size(-1), batch = a.numel() / std::max<int64_t>(N * d, 1);
  for (int64_t t = 0; t < batch; ++t)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) {
        double s = 0;
        for (int64_t k = 0; k < d; ++k) {
          double diff = va[(t * N + n) * d + k] - vb[(t * M + m) * d + k];
          s += diff * diff;
        }
        out.push_back(s);
      }
  return out;
}

void check_matmul(const Tensor& a, const Tensor& b, const Shape& expected_shape) {
  Tensor y = matmul(a, b);
  CHECK(y.shape() == expected_shape);
  CHECK(y.is_contiguous());
  double tol = a.dtype() == DType::Float32 ? 1e-5 : 1e-12;
  expect_close(y, naive_matmul(a, b), tol, tol);
}

}  // namespace

TEST_CASE("gemm matches a triple loop over edge tiles, blocks, layouts and alpha/beta") {
  // Sizes straddle the register tile (MR, NR), the MC/KC blocks (300 rows, 600 deep) and the NC
  // block (4200 columns), and large ones run on several threads (split along N or along M).
  std::vector<GemmCase> cases = {
      {1, 1, 1, 1, 0, false, false, false, 0},        {7, 13, 5, 1, 0, false, false, false, 0},
      {65, 129, 33, 1, 0, false, false, false, 0},    {300, 257, 190, 1, 0, false, false, false, 0},
      {257, 300, 190, -0.5, 1.5, true, true, false, 3}, {300, 31, 190, 2.5, 0, true, false, true, 0},
      {29, 300, 600, 1, 1, false, true, false, 0},    {70, 90, 600, 0.75, -1, true, true, true, 5},
      {13, 4200, 7, 1, 0, false, false, false, 0},    {5, 9, 0, 1, 0.5, false, false, false, 0},
      {6, 7, 0, 1, 0, false, false, false, 2},        {4, 5, 6, 0, 2, false, false, false, 0},
  };
  for (const GemmCase& c : cases) {
    check_gemm<float>(c);
    check_gemm<double>(c);
  }
}

TEST_CASE("gemm inside a parallel region runs on the calling thread and agrees") {
  GemmCase c{96, 130, 70, 1, 0, false, false, false, 0};
  bool all_ok = true;
#pragma omp parallel num_threads(2)
  {
    std::vector<double> a(c.M * c.K, 0.5), b(c.K * c.N, -0.25), out(c.M * c.N, 1.0);
    gemm<double>(c.M, c.N, c.K, 1.0, {a.data(), c.K, 1}, {b.data(), c.N, 1}, 0.0, {out.data(), c.N, 1});
    for (double v : out)
      if (v != -0.125 * c.K) {
#pragma omp atomic write
        all_ok = false;
      }
  }
  CHECK(all_ok);
  check_gemm<float>(c);
}

FORWARD_CHECK(matmul) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    auto r = [dtype](const Shape& s) { return rand_input(s, -1, 1, dtype, false); };
    check_matmul(r({2, 3}), r({3, 4}), {2, 4});
    check_matmul(r({2, 1, 3, 4}), r({3, 4, 5}), {2, 3, 3, 5});     // broadcast batch dims
    check_matmul(r({2, 2, 3, 4}), r({4, 5}), {2, 2, 3, 5});        // [B, h, N, d] @ [d, m]: one folded gemm
    check_matmul(r({2, 1, 3, 4}), r({1, 3, 4, 2}), {2, 3, 3, 2});  // [B, 1, M, K] @ [1, h, K, N]
    check_matmul(r({3, 4}), r({2, 4, 5}), {2, 3, 5});             // unbatched @ batched
    check_matmul(r({8, 20, 30}), r({8, 30, 10}), {8, 20, 10});     // many small: parallel over the batch
    check_matmul(r({3, 100, 120}), r({3, 120, 180}), {3, 100, 180});  // 3 large: gemm's own threads
    // Strided operands: transpose views on either side, a sliced rows view, an expanded b.
    check_matmul(transpose(r({2, 5, 3}), -1, -2), r({2, 5, 4}), {2, 3, 4});
    check_matmul(r({2, 3, 5}), transpose(r({4, 5}), 0, 1), {2, 3, 4});
    check_matmul(slice(r({2, 6, 5}), 1, 0, 6, 2), r({5, 4}), {2, 3, 4});
    check_matmul(r({1, 3, 4}), expand(r({4, 5}), {3, 4, 5}), {3, 3, 5});
    check_matmul(r({3, 3, 4}), expand(r({4, 5}), {3, 4, 5}), {3, 3, 5});
    // Empty dims: K = 0 gives zeros, M = 0 an empty result.
    check_matmul(r({2, 0}), r({0, 3}), {2, 3});
    check_matmul(r({0, 4}), r({4, 3}), {0, 3});
  }
}

GRADCHECK(matmul) {
  Fn mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  expect_gradcheck(mm, {rand_input({2, 3}), rand_input({3, 2})});
  expect_gradcheck(mm, {rand_input({2, 1, 2, 3}), rand_input({2, 3, 2})});  // broadcast on both sides
  expect_gradcheck(mm, {rand_input({2, 2, 2, 3}), rand_input({3, 2})});     // dB summed over the batch
  expect_gradcheck(mm, {rand_input({2, 3}), rand_input({2, 3, 2})});        // dA summed over the batch
  expect_gradcheck([](const std::vector<Tensor>& in) { return matmul(transpose(in[0], -1, -2), in[1]); },
                   {rand_input({2, 3, 2}), rand_input({2, 3, 2})});
}

FORWARD_CHECK(linear) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    double tol = dtype == DType::Float32 ? 1e-5 : 1e-12;
    auto r = [dtype](const Shape& s) { return rand_input(s, -1, 1, dtype, false); };
    Tensor w = r({5, 4}), bias = r({5});
    Tensor x = r({2, 3, 4});
    Tensor y = linear(x, w, bias);
    CHECK(y.shape() == Shape{2, 3, 5});
    expect_close(y, naive_linear(x, w, bias), tol, tol);
    expect_close(linear(x, w, Tensor()), naive_linear(x, w, Tensor()), tol, tol);
    Tensor x1 = r({4});
    CHECK(linear(x1, w, bias).shape() == Shape{5});
    expect_close(linear(x1, w, bias), naive_linear(x1, w, bias), tol, tol);
    Tensor xt = transpose(r({3, 2, 4}), 0, 1);  // rows do not fold: copied first
    expect_close(linear(xt, w, bias), naive_linear(xt, w, bias), tol, tol);
    Tensor wt = transpose(r({4, 5}), 0, 1);  // a transposed weight is read through its strides
    expect_close(linear(x, wt, bias), naive_linear(x, wt, bias), tol, tol);
    Tensor big = r({4, 50, 64}), wb = r({96, 64}), bb = r({96});  // large enough for gemm's threads
    expect_close(linear(big, wb, bb), naive_linear(big, wb, bb), 10 * tol, tol);
  }
}

GRADCHECK(linear) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                   {rand_input({2, 2, 3}), rand_input({4, 3}), rand_input({4})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); },
                   {rand_input({2, 2, 3}), rand_input({4, 3})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                   {rand_input({3}), rand_input({2, 3}), rand_input({2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return linear(transpose(in[0], 0, 1), in[1], in[2]); },
                   {rand_input({2, 3, 3}), rand_input({2, 3}), rand_input({2})});
}

FORWARD_CHECK(pairwise_sqdist) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    double tol = dtype == DType::Float32 ? 1e-5 : 1e-12;
    auto r = [dtype](const Shape& s) { return rand_input(s, -1, 1, dtype, false); };
    Tensor a = r({2, 5, 3}), b = r({2, 4, 3});
    Tensor y = pairwise_sqdist(a, b);
    CHECK(y.shape() == Shape{2, 5, 4});
    expect_close(y, naive_sqdist(a, b), tol, tol);
    Tensor a2 = r({7, 32}), bt = transpose(r({32, 600}), 0, 1);  // strided b, more columns than one block
    expect_close(pairwise_sqdist(a2, bt), naive_sqdist(a2, bt), tol, tol);
    // The same tensor twice: exactly symmetric, exactly zero on the diagonal, never negative.
    Tensor x = r({40, 32});
    x = cat({x, slice(x, 0, 0, 5)}, 0);  // rows 40..44 repeat rows 0..4
    std::vector<double> d = pairwise_sqdist(x, x).to_vector();
    int64_t n = 45;
    bool symmetric = true, zero_diag = true, zero_repeats = true, nonneg = true;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        symmetric &= d[i * n + j] == d[j * n + i];
        nonneg &= d[i * n + j] >= 0;
      }
    for (int64_t i = 0; i < n; ++i) zero_diag &= d[i * n + i] == 0;
    for (int64_t i = 0; i < 5; ++i) zero_repeats &= d[i * n + 40 + i] == 0;
    CHECK(symmetric);
    CHECK(zero_diag);
    CHECK(zero_repeats);
    CHECK(nonneg);
  }
}

GRADCHECK(pairwise_sqdist) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return pairwise_sqdist(in[0], in[1]); },
                   {rand_input({2, 3, 2}), rand_input({2, 4, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return pairwise_sqdist(in[0], in[0]); },
                   {rand_input({4, 3})});
}

TEST_CASE("matmul, linear and pairwise_sqdist reject bad shapes with the op's name") {
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}), zeros({4, 5})), "matmul: [2, 3] @ [4, 5]: inner dims 3 and 4 differ",
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({3}), zeros({3, 4})), "matmul: [3] @ [3, 4]: both operands need at least 2 dims",
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4}), zeros({3, 4, 5})),
                       "matmul: [2, 3, 4] @ [3, 4, 5]: batch dims [2] and [3] do not broadcast", Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}), zeros({3, 4}, DType::Float64)),
                       "matmul: dtype mismatch (float32 and float64)", Error);
  CHECK_THROWS_AS(matmul(zeros({2, 3}, DType::Int64), zeros({3, 4}, DType::Int64)), Error);
  CHECK_THROWS_WITH_AS(linear(zeros({2, 3}), zeros({4, 5}), Tensor()),
                       "linear: x [2, 3] and weight [4, 5]: in features 3 and 5 differ", Error);
  CHECK_THROWS_WITH_AS(linear(zeros({2, 5}), zeros({4, 5}), zeros({5})),
                       "linear: bias [5] does not match weight [4, 5] (expected [4])", Error);
  CHECK_THROWS_AS(linear(zeros({2, 5}), zeros({5}), Tensor()), Error);
  CHECK_THROWS_WITH_AS(pairwise_sqdist(zeros({2, 3, 4}), zeros({2, 5, 3})),
                       "pairwise_sqdist: a [2, 3, 4] and b [2, 5, 3]: feature dims 4 and 3 differ", Error);
  CHECK_THROWS_WITH_AS(pairwise_sqdist(zeros({2, 3, 4}), zeros({3, 5, 4})),
                       "pairwise_sqdist: a [2, 3, 4] and b [3, 5, 4]: batch dims differ", Error);
  CHECK_THROWS_AS(pairwise_sqdist(zeros({3, 4}), zeros({1, 5, 4})), Error);
}
