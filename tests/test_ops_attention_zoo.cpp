// ops/attention_zoo.cpp: the zoo's functional forms against naive float64 loops written here
// (matrices as flat row-major vectors, one per batch-head group), their float64 gradients, and the
// equivalences of the issue: Nystromformer with m = N, Linformer with k = N and identity
// projections are softmax attention; Performer's estimate approaches it as the features grow.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "nn/performer_attention.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Vec = std::vector<double>;

Vec mm(const Vec& a, const Vec& b, int64_t r, int64_t c, int64_t s) {  // [r, c] x [c, s]
  Vec out(r * s, 0.0);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t t = 0; t < c; ++t)
      for (int64_t j = 0; j < s; ++j) out[i * s + j] += a[i * c + t] * b[t * s + j];
  return out;
}

Vec tr(const Vec& a, int64_t r, int64_t c) {
  Vec out(r * c);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) out[j * r + i] = a[i * c + j];
  return out;
}

Vec softmax_rows(Vec a, int64_t r, int64_t c, double scale = 1.0) {
  for (int64_t i = 0; i < r; ++i) {
    double mx = -1e300, z = 0;
    for (int64_t j = 0; j < c; ++j) mx = std::max(mx, scale * a[i * c + j]);
    for (int64_t j = 0; j < c; ++j) z += (a[i * c + j] = std::exp(scale * a[i * c + j] - mx));
    for (int64_t j = 0; j < c; ++j) a[i * c + j] /= z;
  }
  return a;
}

Vec group(const Tensor& t, int64_t g) {  // the g-th [rows, cols] matrix of [..., rows, cols]
  Vec all = t.to_vector();
  int64_t n = t.size(-2) * t.size(-1);
  return Vec(all.begin() + g * n, all.begin() + (g + 1) * n);
}

// softmax(scale q k^T) v for one group: q, k [N, d], v [N, e]
Vec naive_softmax_attention(const Vec& q, const Vec& k, const Vec& v, int64_t N, int64_t d, int64_t e, double scale) {
  return mm(softmax_rows(mm(q, tr(k, N, d), N, d, N), N, N, scale), v, N, N, e);
}

// Means over [i n / m, ceil((i + 1) n / m)) of the rows of x [n, d] (the official reshape-mean
// when m divides n).
Vec naive_segment_means(const Vec& x, int64_t n, int64_t d, int64_t m) {
  Vec out(m * d, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    int64_t s = i * n / m, e = ((i + 1) * n + m - 1) / m;
    for (int64_t r = s; r < e; ++r)
      for (int64_t c = 0; c < d; ++c) out[i * d + c] += x[r * d + c] / static_cast<double>(e - s);
  }
  return out;
}

Vec naive_pinv(const Vec& a, int64_t m, int64_t iterations) {
  double col_max = 0;
  for (int64_t j = 0; j < m; ++j) {
    double s = 0;
    for (int64_t i = 0; i < m; ++i) s += a[i * m + j];
    col_max = std::max(col_max, s);
  }
  Vec z = tr(a, m, m);
  for (double& x : z) x /= col_max;
  auto minus_from_identity = [m](double c, const Vec& x) {  // c I - x
    Vec out(m * m);
    for (int64_t i = 0; i < m * m; ++i) out[i] = (i / m == i % m ? c : 0.0) - x[i];
    return out;
  };
  for (int64_t it = 0; it < iterations; ++it) {
    Vec az = mm(a, z, m, m, m);
    Vec inner = minus_from_identity(13, mm(az, minus_from_identity(15, mm(az, minus_from_identity(7, az), m, m, m)),
                                          m, m, m));
    z = mm(z, inner, m, m, m);
    for (double& x : z) x *= 0.25;
  }
  return z;
}

double max_abs_diff(const Vec& a, const Vec& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

Tensor identity(int64_t n) { return to_dtype(eye(n), DType::Float64); }

}  // namespace

FORWARD_CHECK(adaptive_avg_pool_tokens) {
  // A 5x7 grid to 2x3 cells: overlapping windows on both axes (rows [0,3) and [2,5); ...).
  Tensor x = rand_input({2, 35, 3}, -1, 1, DType::Float64, false);
  Tensor y = adaptive_avg_pool_tokens(x, 5, 7, 2, 3);
  REQUIRE(y.shape() == Shape{2, 6, 3});
  Vec xv = x.to_vector(), expected;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t c = 0; c < 3; ++c) {
          int64_t y0 = i * 5 / 2, y1 = ((i + 1) * 5 + 1) / 2, x0 = j * 7 / 3, x1 = ((j + 1) * 7 + 2) / 3;
          double s = 0;
          for (int64_t r = y0; r < y1; ++r)
            for (int64_t t = x0; t < x1; ++t) s += xv[(b * 35 + r * 7 + t) * 3 + c];
          expected.push_back(s / static_cast<double>((y1 - y0) * (x1 - x0)));
        }
  expect_close(y, expected, 1e-12);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool_tokens(x, 5, 7, 6, 3), doctest::Contains("cannot pool a 5x7 grid to 6x3"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool_tokens(x, 4, 7, 2, 3), doctest::Contains("is not [..., 4*7, d]"), Error);
}

GRADCHECK(adaptive_avg_pool_tokens) {
  expect_gradcheck([](auto& in) { return adaptive_avg_pool_tokens(in[0], 3, 4, 2, 3); }, {rand_input({2, 12, 2})});
}

FORWARD_CHECK(linformer_attention) {
  const int64_t G = 2, N = 6, d = 3, k = 4;
  Tensor q = rand_input({1, G, N, d}, -1, 1, DType::Float64, false), kk = rand_input({1, G, N, d}, -1, 1,
                                                                                     DType::Float64, false);
  Tensor v = rand_input({1, G, N, d}, -1, 1, DType::Float64, false);
  Tensor E = rand_input({k, N}, -1, 1, DType::Float64, false), F = rand_input({k, N}, -1, 1, DType::Float64, false);
  Tensor out = linformer_attention(q, kk, v, E, F, 0.7);
  Vec expected;
  for (int64_t g = 0; g < G; ++g) {
    Vec kp = mm(E.to_vector(), group(kk, g), k, N, d), vp = mm(F.to_vector(), group(v, g), k, N, d);
    Vec o = mm(softmax_rows(mm(group(q, g), tr(kp, k, d), N, d, k), N, k, 0.7), vp, N, k, d);
    expected.insert(expected.end(), o.begin(), o.end());
  }
  expect_close(out, expected, 1e-12);
  CHECK_THROWS_WITH_AS(linformer_attention(q, kk, v, rand_input({k, N + 1}), F, 1.0),
                       doctest::Contains("must both be [k, N] with N = the tokens of k"), Error);
}

TEST_CASE("Linformer with k = N and identity projections is softmax attention") {
  const int64_t N = 7, d = 4;
  Tensor q = rand_input({2, 1, N, d}, -1.5, 1.5, DType::Float64, false);
  Tensor k = rand_input({2, 1, N, d}, -1.5, 1.5, DType::Float64, false);
  Tensor v = rand_input({2, 1, N, d}, -1, 1, DType::Float64, false);
  Tensor out = linformer_attention(q, k, v, identity(N), identity(N), 0.5);
  Vec expected;
  for (int64_t g = 0; g < 2; ++g) {
    Vec o = naive_softmax_attention(group(q, g), group(k, g), group(v, g), N, d, d, 0.5);
    expected.insert(expected.end(), o.begin(), o.end());
  }
  expect_close(out, expected, 1e-12);
}

GRADCHECK(linformer_attention) {
  expect_gradcheck([](auto& in) { return linformer_attention(in[0], in[1], in[2], in[3], in[4], 0.8); },
                   {rand_input({1, 2, 5, 3}), rand_input({1, 2, 5, 3}), rand_input({1, 2, 5, 3}), rand_input({3, 5}),
                    rand_input({3, 5})});
}

FORWARD_CHECK(favor_attention) {
  // phi(x) = M^-1/2 (exp(w x' - |x'|^2 / 2 - c) + 1e-4), x' = x d^-1/4; c the row max (queries) or
  // the max over all rows (keys); out = phi(q) (phi(k)^T v) / (phi(q) phi(k)^T 1).
  const int64_t N = 5, d = 4, M = 6;
  Tensor q = rand_input({1, 2, N, d}, -1, 1, DType::Float64, false), k = rand_input({1, 2, N, d}, -1, 1,
                                                                                    DType::Float64, false);
  Tensor v = rand_input({1, 2, N, d}, -1, 1, DType::Float64, false);
  Tensor w = rand_input({M, d}, -1.5, 1.5, DType::Float64, false);
  Tensor out = favor_attention(q, k, v, w);
  const double norm = std::pow(static_cast<double>(d), -0.25);
  auto features = [&](const Vec& x, bool per_row) {
    Vec dash = mm(x, tr(w.to_vector(), M, d), N, d, M), phi(N * M);
    double global = -1e300;
    for (double value : dash) global = std::max(global, value * norm);
    for (int64_t i = 0; i < N; ++i) {
      double sq = 0, row_max = -1e300;
      for (int64_t c = 0; c < d; ++c) sq += x[i * d + c] * norm * x[i * d + c] * norm;
      for (int64_t j = 0; j < M; ++j) row_max = std::max(row_max, dash[i * M + j] * norm);
      for (int64_t j = 0; j < M; ++j)
        phi[i * M + j] = (std::exp(dash[i * M + j] * norm - sq / 2 - (per_row ? row_max : global)) + 1e-4) /
                         std::sqrt(static_cast<double>(M));
    }
    return phi;
  };
  Vec expected;
  for (int64_t g = 0; g < 2; ++g) {
    Vec qf = features(group(q, g), true), kf = features(group(k, g), false);
    Vec num = mm(qf, mm(tr(kf, N, M), group(v, g), M, N, d), N, M, d);
    Vec den = mm(qf, mm(tr(kf, N, M), Vec(N, 1.0), M, N, 1), N, M, 1);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t c = 0; c < d; ++c) expected.push_back(num[i * d + c] / den[i]);
  }
  expect_close(out, expected, 1e-12);
}

GRADCHECK(favor_attention) {
  Tensor w = rand_input({5, 3}, -1, 1, DType::Float64, false);
  expect_gradcheck([w](auto& in) { return favor_attention(in[0], in[1], in[2], w); },
                   {rand_input({1, 2, 4, 3}), rand_input({1, 2, 4, 3}), rand_input({1, 2, 4, 3})});
}

TEST_CASE("Performer's estimate approaches softmax attention as the features grow") {
  const int64_t N = 6, d = 4;
  Tensor q = rand_input({1, 1, N, d}, -1, 1, DType::Float64, false), k = rand_input({1, 1, N, d}, -1, 1,
                                                                                    DType::Float64, false);
  Tensor v = rand_input({1, 1, N, d}, -1, 1, DType::Float64, false);
  Vec exact = naive_softmax_attention(group(q, 0), group(k, 0), group(v, 0), N, d, d, 1.0 / std::sqrt(d * 1.0));
  auto error_with = [&](int64_t features) {  // mean over 4 draws of the largest deviation
    double total = 0;
    for (uint64_t seed = 0; seed < 4; ++seed) {
      Tensor w = to_dtype(nn::orthogonal_random_features(features, d, 17 + seed), DType::Float64);
      total += max_abs_diff(favor_attention(q, k, v, w).to_vector(), exact);
    }
    return total / 4;
  };
  double few = error_with(8), many = error_with(4096);
  INFO("error with 8 features ", few, ", with 4096 ", many);
  CHECK(many < few / 4);
  CHECK(many < 0.02);
}

FORWARD_CHECK(nystrom_pinv) {
  const int64_t m = 4;
  Tensor a = softmax(rand_input({2, m, m}, -2, 2, DType::Float64, false), -1);
  for (int64_t iterations : {0, 1, 3}) {
    Vec expected;
    for (int64_t g = 0; g < 2; ++g) {
      Vec z = naive_pinv(group(a, g), m, iterations);
      expected.insert(expected.end(), z.begin(), z.end());
    }
    expect_close(nystrom_pinv(a, iterations), expected, 1e-10);
  }
  // Enough iterations reach the inverse of this invertible matrix: A Z = I.
  Tensor az = matmul(a, nystrom_pinv(a, 30));
  expect_close(az, (Vec{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}),
               1e-8);
}

GRADCHECK(nystrom_pinv) {
  expect_gradcheck([](auto& in) { return nystrom_pinv(softmax(in[0], -1), 3); }, {rand_input({2, 3, 3})});
}

FORWARD_CHECK(nystrom_attention) {
  const int64_t N = 8, d = 3, m = 4, iterations = 6;
  Tensor q = rand_input({1, 2, N, d}, -1, 1, DType::Float64, false), k = rand_input({1, 2, N, d}, -1, 1,
                                                                                    DType::Float64, false);
  Tensor v = rand_input({1, 2, N, d}, -1, 1, DType::Float64, false);
  Tensor out = nystrom_attention(q, k, v, m, iterations);
  Vec expected;
  for (int64_t g = 0; g < 2; ++g) {
    Vec qg = group(q, g), kg = group(k, g), vg = group(v, g);
    Vec ql = naive_segment_means(qg, N, d, m), kl = naive_segment_means(kg, N, d, m);
    Vec k1 = softmax_rows(mm(qg, tr(kl, m, d), N, d, m), N, m);
    Vec k2 = softmax_rows(mm(ql, tr(kl, m, d), m, d, m), m, m);
    Vec k3 = softmax_rows(mm(ql, tr(kg, N, d), m, d, N), m, N);
    Vec o = mm(mm(k1, naive_pinv(k2, m, iterations), N, m, m), mm(k3, vg, m, N, d), N, m, d);
    expected.insert(expected.end(), o.begin(), o.end());
  }
  expect_close(out, expected, 1e-10);
}

GRADCHECK(nystrom_attention) {
  expect_gradcheck([](auto& in) { return nystrom_attention(in[0], in[1], in[2], 2, 2); },
                   {rand_input({1, 1, 5, 2}), rand_input({1, 1, 5, 2}), rand_input({1, 1, 5, 2})});
}

TEST_CASE("Nystromformer with as many landmarks as tokens is softmax attention") {
  // Landmarks = the tokens, so all three kernels are A = softmax(q k^T) and A pinv(A) A = A.
  // Queries near the keys, spread out, keep A well conditioned, so 12 iterations reach pinv(A)
  // (6, the official count, are not always enough for m = N).
  const int64_t N = 6, d = 4;
  Tensor k = rand_input({1, 2, N, d}, -3, 3, DType::Float64, false);
  Tensor q = add(k, rand_input({1, 2, N, d}, -0.1, 0.1, DType::Float64, false));
  Tensor v = rand_input({1, 2, N, d}, -1, 1, DType::Float64, false);
  Vec expected;
  for (int64_t g = 0; g < 2; ++g) {
    Vec o = naive_softmax_attention(group(q, g), group(k, g), group(v, g), N, d, d, 1.0);
    expected.insert(expected.end(), o.begin(), o.end());
  }
  expect_close(nystrom_attention(q, k, v, N, 12), expected, 1e-8);
  expect_close(nystrom_attention(q, k, v, 100, 12), expected, 1e-8);  // m capped at N
  // Fewer landmarks are an approximation, not the same.
  CHECK(max_abs_diff(nystrom_attention(q, k, v, 2, 12).to_vector(), expected) > 1e-3);
}
