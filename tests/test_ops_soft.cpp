// SOFT's attention kernels: gaussian_kernel and newton_inverse (both forms) against plain loops
// written here, their float64 gradients, and the properties the model relies on (exact symmetry
// and unit diagonal of K2, convergence of the journal form to the inverse of K2 + 0.01 I).
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Matrix = std::vector<double>;  // m x m, row-major

// Uniform points from their own seed, so that an input's properties (which branch the NeurIPS
// form takes) do not depend on which other tests ran first.
Tensor points(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype = DType::Float64) {
  Generator gen(seed);
  return uniform(shape, lo, hi, gen, dtype);
}

// exp(-||a_n - b_m||^2 / 2) for a [..., N, d], b [..., M, d] with equal batch dims.
std::vector<double> naive_gaussian(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_vector(), vb = b.to_vector(), out;
  int64_t N = a.size(-2), M = b.size(-2), d = a.size(-1);
  int64_t batch = numel_of(Shape(a.shape().begin(), a.shape().end() - 2));
  for (int64_t t = 0; t < batch; ++t)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) {
        double s = 0;
        for (int64_t k = 0; k < d; ++k) {
          double diff = va[(t * N + n) * d + k] - vb[(t * M + m) * d + k];
          s += diff * diff;
        }
        out.push_back(std::exp(-s / 2));
      }
  return out;
}

Matrix mat_mul(const Matrix& a, const Matrix& b, int64_t m) {
  Matrix c(m * m, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t k = 0; k < m; ++k) c[i * m + j] += a[i * m + k] * b[k * m + j];
  return c;
}

// V <- 2V - (V P) V, `iterations` times.
Matrix newton_steps(Matrix v, const Matrix& p, int64_t m, int64_t iterations) {
  for (int64_t it = 0; it < iterations; ++it) {
    Matrix vpv = mat_mul(mat_mul(v, p, m), v, m);
    for (int64_t i = 0; i < m * m; ++i) v[i] = 2 * v[i] - vpv[i];
  }
  return v;
}

double row_sum(const Matrix& k, int64_t m, int64_t i) {
  double s = 0;
  for (int64_t j = 0; j < m; ++j) s += k[i * m + j];
  return s;
}

std::vector<Matrix> matrices_of(const Tensor& k) {
  std::vector<double> all = k.to_vector();
  int64_t m = k.size(-1);
  std::vector<Matrix> out;
  for (size_t at = 0; at < all.size(); at += m * m) out.emplace_back(all.begin() + at, all.begin() + at + m * m);
  return out;
}

std::vector<double> concat(const std::vector<Matrix>& ms) {
  std::vector<double> out;
  for (const Matrix& x : ms) out.insert(out.end(), x.begin(), x.end());
  return out;
}

// Journal form: per matrix alpha = 1.8 / (max row sum of k)^2, P = k + 0.01 I, V0 = alpha P.
std::vector<double> naive_journal(const Tensor& k, int64_t iterations) {
  int64_t m = k.size(-1);
  std::vector<Matrix> out;
  for (Matrix p : matrices_of(k)) {
    double s = row_sum(p, m, 0);
    for (int64_t i = 1; i < m; ++i) s = std::max(s, row_sum(p, m, i));
    double alpha = 1.8 / (s * s);
    for (int64_t i = 0; i < m; ++i) p[i * m + i] += 0.01;
    Matrix v(m * m);
    for (int64_t i = 0; i < m * m; ++i) v[i] = alpha * p[i];
    out.push_back(newton_steps(v, p, m, iterations));
  }
  return concat(out);
}

// NeurIPS form, with what the tests need to know about its branches: every residual norm
// evaluated, how often alpha was halved, and the gap between the two largest row sums (alpha's max).
struct NeuripsRef {
  std::vector<double> v;
  std::vector<double> pnorms;
  int halvings = 0;
  double row_sum_gap = 0;
};

NeuripsRef naive_neurips(const Tensor& k, int64_t iterations) {
  int64_t m = k.size(-1);
  std::vector<Matrix> ps = matrices_of(k);
  std::vector<double> sums;
  for (const Matrix& p : ps)
    for (int64_t i = 0; i < m; ++i) sums.push_back(row_sum(p, m, i));
  std::sort(sums.rbegin(), sums.rend());
  NeuripsRef ref;
  ref.row_sum_gap = sums.size() > 1 ? sums[0] - sums[1] : INFINITY;
  double alpha = 2 / (sums[0] * sums[0]);
  auto pnorm = [&] {  // max over matrices and columns of sum_i |I - alpha P P|_ij
    double worst = 0;
    for (const Matrix& p : ps) {
      Matrix pp = mat_mul(p, p, m);
      for (int64_t j = 0; j < m; ++j) {
        double col = 0;
        for (int64_t i = 0; i < m; ++i) col += std::fabs((i == j ? 1.0 : 0.0) - alpha * pp[i * m + j]);
        worst = std::max(worst, col);
      }
    }
    ref.pnorms.push_back(worst);
    return worst;
  };
  while (pnorm() > 1.01 && ref.halvings < 10) {
    alpha *= 0.5;
    ++ref.halvings;
  }
  std::vector<Matrix> out;
  for (const Matrix& p : ps) {
    Matrix v(m * m);
    for (int64_t i = 0; i < m * m; ++i) v[i] = alpha * p[i];
    out.push_back(newton_steps(v, p, m, iterations));
  }
  ref.v = concat(out);
  return ref;
}

// Inverse by Gauss-Jordan elimination with partial pivoting.
Matrix inverse(Matrix a, int64_t m) {
  Matrix inv(m * m, 0.0);
  for (int64_t i = 0; i < m; ++i) inv[i * m + i] = 1;
  for (int64_t c = 0; c < m; ++c) {
    int64_t pivot = c;
    for (int64_t r = c + 1; r < m; ++r)
      if (std::fabs(a[r * m + c]) > std::fabs(a[pivot * m + c])) pivot = r;
    for (int64_t j = 0; j < m; ++j) {
      std::swap(a[c * m + j], a[pivot * m + j]);
      std::swap(inv[c * m + j], inv[pivot * m + j]);
    }
    double d = a[c * m + c];
    for (int64_t j = 0; j < m; ++j) a[c * m + j] /= d, inv[c * m + j] /= d;
    for (int64_t r = 0; r < m; ++r) {
      if (r == c) continue;
      double f = a[r * m + c];
      for (int64_t j = 0; j < m; ++j) a[r * m + j] -= f * a[c * m + j], inv[r * m + j] -= f * inv[c * m + j];
    }
  }
  return inv;
}

double max_abs(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s = std::max(s, std::fabs(x));
  return s;
}

// Elementwise within tol relative to the largest magnitude of `expected` (Newton iterates of an
// ill-conditioned matrix mix large and small entries).
void expect_close_scaled(const Tensor& actual, const std::vector<double>& expected, double tol) {
  expect_close(actual, expected, tol * std::max(1.0, max_abs(expected)), tol);
}

// k = I + c S, S the 3 x 3 circulant skew-symmetric matrix: row sums 1, so alpha = 2, but the
// eigenvalues 1 +- i c sqrt(3) keep |I - alpha P P| large until after the 10th halving.
Tensor skew_input(double c, DType dtype) {
  return Tensor::from_vector({1, c, -c, -c, 1, c, c, -c, 1}, {1, 3, 3}, dtype);
}

}  // namespace

// ---- gaussian_kernel ----------------------------------------------------------------------------

FORWARD_CHECK(gaussian_kernel) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    double tol = dtype == DType::Float32 ? 2e-6 : 1e-14;
    auto check = [&](const Tensor& a, const Tensor& b, const Shape& shape) {
      Tensor y = gaussian_kernel(a, b);
      CHECK(y.shape() == shape);
      expect_close(y, naive_gaussian(a, b), tol, 4 * tol);
    };
    check(points({2, 3, 7, 5}, -1, 1, 101, dtype), points({2, 3, 4, 5}, -1, 1, 102, dtype), {2, 3, 7, 4});
    check(points({5, 3}, -1, 1, 103, dtype), points({6, 3}, -1, 1, 104, dtype), {5, 6});
    // The model's shapes: d = 32, M = 49 (columns past one register block), rows not a multiple
    // of the row block, and enough rows for several parallel tasks per batch item.
    check(points({2, 1, 601, 32}, -0.5, 0.5, 105, dtype), points({2, 1, 49, 32}, -0.5, 0.5, 106, dtype), {2, 1, 601, 49});
    check(points({3, 40, 8}, -1, 1, 107, dtype), points({3, 70, 8}, -1, 1, 108, dtype), {3, 40, 70});
    // Strided inputs; an empty row dim.
    check(transpose(points({2, 4, 6}, -1, 1, 109, dtype), -1, -2), points({2, 3, 4}, -1, 1, 110, dtype), {2, 6, 3});
    check(points({2, 0, 4}, -1, 1, 111, dtype), points({2, 3, 4}, -1, 1, 112, dtype), {2, 0, 3});
  }
}

TEST_CASE("gaussian_kernel's exp is accurate from 1 down to underflow, and passes NaN on") {
  // One-dim points 0 and x: the value is exp(-x^2/2), x^2/2 from 0 to past the underflow of both dtypes.
  std::vector<double> xs;
  for (double e = 0; e <= 800; e += 0.37) xs.push_back(std::sqrt(2 * e));
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tensor b = Tensor::from_vector(xs, {static_cast<int64_t>(xs.size()), 1}, dtype);
    std::vector<double> bv = b.to_vector(), got = gaussian_kernel(zeros({1, 1}, dtype), b).to_vector();
    bool is_float = dtype == DType::Float32;
    double smallest = is_float ? std::numeric_limits<float>::min() : std::numeric_limits<double>::min();
    int64_t bad = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      // exp of the squared distance as the dtype holds it: the test is of exp, not of that rounding.
      double sq = is_float ? static_cast<float>(bv[i] * bv[i]) : bv[i] * bv[i];
      double expected = std::exp(-sq / 2);
      double rel = is_float ? 1.5e-7 : 4e-16;  // about 1 ulp
      // Below the smallest normal number the result may flush to 0.
      if (!(std::fabs(got[i] - expected) <= rel * expected || (expected < smallest && got[i] <= smallest))) ++bad;
    }
    CHECK(bad == 0);
    CHECK(got[0] == 1.0);
    Tensor with_nan = Tensor::from_vector({0.5, std::nan("")}, {2, 1}, dtype);
    std::vector<double> y = gaussian_kernel(with_nan, zeros({1, 1}, dtype)).to_vector();
    CHECK(y[0] == doctest::Approx(std::exp(-0.125)));
    CHECK(std::isnan(y[1]));
  }
}

TEST_CASE("gaussian_kernel(L, L) is exactly symmetric with an exactly unit diagonal") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tensor l = points({2, 49, 32}, -2, 2, 113, dtype);
    l = cat({l, slice(l, 1, 0, 3)}, 1);  // rows 49..51 repeat rows 0..2: their entries are exactly 1 too
    int64_t m = 52;
    std::vector<double> k = gaussian_kernel(l, l).to_vector();
    bool symmetric = true, unit_diagonal = true, repeats_one = true;
    for (int64_t t = 0; t < 2; ++t) {
      const double* kt = k.data() + t * m * m;
      for (int64_t i = 0; i < m; ++i) {
        unit_diagonal &= kt[i * m + i] == 1.0;
        for (int64_t j = 0; j < m; ++j) symmetric &= kt[i * m + j] == kt[j * m + i];
      }
      for (int64_t i = 0; i < 3; ++i) repeats_one &= kt[i * m + 49 + i] == 1.0;
    }
    CHECK(symmetric);
    CHECK(unit_diagonal);
    CHECK(repeats_one);
  }
}

GRADCHECK(gaussian_kernel) {
  Fn two = [](const std::vector<Tensor>& in) { return gaussian_kernel(in[0], in[1]); };
  expect_gradcheck(two, {rand_input({2, 3, 2}), rand_input({2, 4, 2})});
  expect_gradcheck(two, {rand_input({3, 2}), points({4, 2}, -1, 1, 114)});  // only dA asked for
  expect_gradcheck(two, {points({3, 2}, -1, 1, 115), rand_input({4, 2})});  // only dB
  // K2 = gaussian_kernel(L, L): both contributions reach L.
  expect_gradcheck([](const std::vector<Tensor>& in) { return gaussian_kernel(in[0], in[0]); },
                   {rand_input({2, 4, 3})});
}

TEST_CASE("gaussian_kernel's backward matches autograd through exp(-pairwise_sqdist / 2) at the model's shapes") {
  // Many rows per batch item (several backward tasks) and d = 32: the gemm paths of the backward.
  Tensor a = rand_input({2, 700, 32}, -0.3, 0.3), b = rand_input({2, 49, 32}, -0.3, 0.3);
  Tensor g = points({2, 700, 49}, -1, 1, 116);
  gaussian_kernel(a, b).backward(g);
  Tensor ga = a.grad(), gb = b.grad();
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  soft::exp(mul_scalar(pairwise_sqdist(a, b), -0.5)).backward(g);
  expect_close(ga, a.grad().to_vector(), 1e-12, 1e-9);
  expect_close(gb, b.grad().to_vector(), 1e-12, 1e-9);
}

TEST_CASE("gaussian_kernel's backward by products (its path on the GPU) equals the fused CPU kernel") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    double tol = dtype == DType::Float32 ? 2e-5 : 1e-12;
    Tensor a = points({2, 300, 32}, -0.3, 0.3, 117, dtype), b = points({2, 49, 32}, -0.3, 0.3, 118, dtype);
    Tensor g = points({2, 300, 49}, -1, 1, 119, dtype), y = gaussian_kernel(a, b);
    auto [ga, gb] = gaussian_kernel_backward(g, y, a, b, true, true);
    auto [pa, pb] = gaussian_kernel_backward_by_products(g, y, a, b, true, true);
    expect_close(pa, ga.to_vector(), tol, tol);
    expect_close(pb, gb.to_vector(), tol, tol);
    auto [only_a, no_b] = gaussian_kernel_backward_by_products(g, y, a, b, true, false);
    CHECK(only_a.defined());
    CHECK(!no_b.defined());
  }
}

TEST_CASE("gaussian_kernel rejects bad operands with the op's name") {
  CHECK_THROWS_WITH_AS(gaussian_kernel(zeros({2, 3, 4}), zeros({2, 5, 3})),
                       "gaussian_kernel: a [2, 3, 4] and b [2, 5, 3]: feature dims 4 and 3 differ", Error);
  CHECK_THROWS_WITH_AS(gaussian_kernel(zeros({2, 3, 4}), zeros({3, 5, 4})),
                       "gaussian_kernel: a [2, 3, 4] and b [3, 5, 4]: batch dims differ", Error);
  CHECK_THROWS_WITH_AS(gaussian_kernel(zeros({1, 3, 4}), zeros({5, 4})),
                       "gaussian_kernel: a [1, 3, 4] and b [5, 4]: need [..., N, d] and [..., M, d] with the same "
                       "number of dims (at least 2)",
                       Error);
  CHECK_THROWS_AS(gaussian_kernel(zeros({4}), zeros({4})), Error);
  CHECK_THROWS_WITH_AS(gaussian_kernel(zeros({3, 4}), zeros({5, 4}, DType::Float64)),
                       "gaussian_kernel: dtype mismatch (float32 and float64)", Error);
  CHECK_THROWS_WITH_AS(gaussian_kernel(zeros({3, 4}, DType::Int64), zeros({5, 4}, DType::Int64)),
                       doctest::Contains("gaussian_kernel: dtype int64 is not supported"), Error);
}

// ---- newton_inverse -----------------------------------------------------------------------------

FORWARD_CHECK(newton_inverse) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    double tol = dtype == DType::Float32 ? 1e-4 : 1e-10;
    // Kernel matrices of random points, as in the model (landmarks in [-1, 1]^4).
    Tensor l = points({2, 2, 6, 4}, -1, 1, 117, dtype);
    Tensor sym = gaussian_kernel(l, l);
    for (int64_t iterations : {0, 1, 5, 20}) {
      INFO("iterations ", iterations);
      expect_close_scaled(newton_inverse(sym, iterations, NewtonForm::Journal), naive_journal(sym, iterations), tol);
      NeuripsRef ref = naive_neurips(sym, iterations);
      expect_close_scaled(newton_inverse(sym, iterations, NewtonForm::NeurIPS), ref.v, tol);
    }
    // The model's size, m = 49: row blocks with a tail, columns past one register block.
    Tensor lm = points({1, 2, 49, 8}, -1.5, 1.5, 118, dtype);
    Tensor big = gaussian_kernel(lm, lm);
    expect_close_scaled(newton_inverse(big, 20), naive_journal(big, 20), tol);
    expect_close_scaled(newton_inverse(big, 3, NewtonForm::NeurIPS), naive_neurips(big, 3).v, tol);
    // Past the in-cache size (m > 128): the iterations run through the blocked gemm.
    Tensor lm_large = points({1, 2, 133, 8}, -3, 3, 125, dtype);
    Tensor large = gaussian_kernel(lm_large, lm_large);
    Tensor large_inverse = newton_inverse(large, 5);
    expect_close_scaled(large_inverse, naive_journal(large, 5), tol);
    // There only the upper triangles of the products are computed, so the result is exactly
    // symmetric; a large matrix that is not symmetric takes the full products.
    std::vector<double> v = large_inverse.to_vector();
    bool symmetric = true;
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t i = 0; i < 133; ++i)
        for (int64_t j = 0; j < i; ++j) symmetric &= v[(t * 133 + i) * 133 + j] == v[(t * 133 + j) * 133 + i];
    CHECK(symmetric);
    Tensor large_general = points({1, 133, 133}, 0, 0.02, 126, dtype);
    expect_close_scaled(newton_inverse(large_general, 5), naive_journal(large_general, 5), tol);
    // A plain (non-symmetric) square input and single 1 x 1 matrices.
    Tensor general = points({3, 5, 5}, 0, 1, 119, dtype);
    expect_close_scaled(newton_inverse(general, 4), naive_journal(general, 4), tol);
    Tensor one = points({4, 1, 1}, 0.5, 2, 120, dtype);
    expect_close_scaled(newton_inverse(one, 6), naive_journal(one, 6), tol);
  }
}

TEST_CASE("newton_inverse, journal form: 20 iterations reach the inverse of k + 0.01 I when k is well conditioned") {
  // Spread-out points: k is close to I, so Newton converges well within 20 iterations.
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    Tensor l = points({2, 3, 7, 4}, -3, 3, 121, dtype);
    Tensor k = gaussian_kernel(l, l);
    std::vector<Matrix> expected;
    for (Matrix p : matrices_of(k)) {
      for (int64_t i = 0; i < 7; ++i) p[i * 7 + i] += 0.01;
      expected.push_back(inverse(p, 7));
    }
    double tol = dtype == DType::Float32 ? 1e-5 : 1e-12;
    expect_close(newton_inverse(k, 20), concat(expected), tol, tol);
  }
}

TEST_CASE("newton_inverse, NeurIPS form: alpha is halved while |I - P V| > 1.01, at most 10 times") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    INFO("dtype ", std::string(dtype_name(dtype)));
    // Identical points give k = ones: |I - (c/m) J| has column sums 1 + c (m - 2) / m, so with m = 3
    // alpha (c = 2 at first) is halved 7 times.
    Tensor same = gaussian_kernel(zeros({1, 3, 2}, dtype), zeros({1, 3, 2}, dtype));
    NeuripsRef ref = naive_neurips(same, 2);
    CHECK(ref.halvings == 7);
    expect_close_scaled(newton_inverse(same, 2, NewtonForm::NeurIPS), ref.v, 1e-6);
    // A cluster of nearby points: halved several times, then the iterations.
    Tensor cluster = points({2, 5, 3}, -0.2, 0.2, 122, dtype);
    Tensor kc = gaussian_kernel(cluster, cluster);
    NeuripsRef rc = naive_neurips(kc, 5);
    CHECK(rc.halvings >= 1);
    expect_close_scaled(newton_inverse(kc, 5, NewtonForm::NeurIPS), rc.v, dtype == DType::Float32 ? 1e-4 : 1e-10);
    // The cap: k = I + 10 S still has |I - P V| > 1.01 after 10 halvings.
    Tensor skew = skew_input(10, dtype);
    NeuripsRef rs = naive_neurips(skew, 1);
    CHECK(rs.halvings == 10);
    CHECK(rs.pnorms.back() > 1.01);
    expect_close_scaled(newton_inverse(skew, 1, NewtonForm::NeurIPS), rs.v, 1e-6);
  }
}

GRADCHECK(newton_inverse) {
  // (a) Journal form, iterated to convergence on a well-conditioned input: its one-step backward
  // -(V^T G V^T) is then the derivative of the exact inverse of k + 0.01 I, which is what central
  // differences of the op see. Perturbing one element makes k non-symmetric; the formula holds for
  // any invertible P.
  Tensor l = points({2, 4, 2}, -3, 3, 123);
  Tensor k = gaussian_kernel(l, l).detach();
  k.requires_grad_(true);
  expect_gradcheck([](const std::vector<Tensor>& in) { return newton_inverse(in[0], 50); }, {k});
  // A non-symmetric input (V^T != V: the transposes matter; entries >= 0, so the max row sum bounds
  // the spectral radius and the iteration converges), and a batch of 1 x 1 matrices.
  Tensor general = add(mul_scalar(eye(3, DType::Float64), 2.0), points({2, 3, 3}, 0, 0.5, 126)).detach();
  general.requires_grad_(true);
  expect_gradcheck([](const std::vector<Tensor>& in) { return newton_inverse(in[0], 50); }, {general});
  expect_gradcheck([](const std::vector<Tensor>& in) { return newton_inverse(in[0], 50); },
                   {rand_input({3, 1, 1}, 0.5, 1.5)});
  // The model's chain, landmarks -> K2 -> inverse (a symmetric perturbation of K2).
  Tensor landmarks = points({2, 3, 2}, -3, 3, 127);
  landmarks.requires_grad_(true);
  expect_gradcheck([](const std::vector<Tensor>& in) { return newton_inverse(gaussian_kernel(in[0], in[0]), 50); },
                   {landmarks});

  // (b) NeurIPS form, plain autograd through the iterations and through alpha's max row sum. The
  // inputs keep every residual-norm test and the max away from their switch points (by far more
  // than the O(1e-6) a finite-difference step moves them), so the differences see one smooth branch.
  auto neurips = [](int64_t iterations) {
    return [iterations](const std::vector<Tensor>& in) { return newton_inverse(in[0], iterations, NewtonForm::NeurIPS); };
  };
  auto check_branches_are_clear = [](const Tensor& input, int64_t iterations, bool halved) {
    NeuripsRef ref = naive_neurips(input, iterations);
    CHECK((ref.halvings > 0) == halved);
    for (double p : ref.pnorms) CHECK(std::fabs(p - 1.01) > 1e-4);
    CHECK(ref.row_sum_gap > 1e-3);
  };
  Tensor spread = points({2, 3, 2}, -2, 2, 4);  // k near I: no halving
  Tensor ks = gaussian_kernel(spread, spread).detach();
  check_branches_are_clear(ks, 3, false);
  ks.requires_grad_(true);
  expect_gradcheck(neurips(3), {ks});
  Tensor cluster = points({2, 3, 2}, -0.3, 0.3, 4);  // k near ones: halved
  Tensor kc = gaussian_kernel(cluster, cluster).detach();
  check_branches_are_clear(kc, 4, true);
  kc.requires_grad_(true);
  expect_gradcheck(neurips(4), {kc});
}

TEST_CASE("newton_inverse: the journal form is one op node; bad inputs throw with the op's name") {
  Tensor k = rand_input({2, 3, 3}, 0, 1);
  CHECK(newton_inverse(k, 2).grad_fn()->op == "newton_inverse");
  CHECK_THROWS_WITH_AS(newton_inverse(zeros({2, 3, 4})), "newton_inverse: k [2, 3, 4]: need square matrices [..., m, m]",
                       Error);
  CHECK_THROWS_WITH_AS(newton_inverse(zeros({4})), "newton_inverse: k [4]: need square matrices [..., m, m]", Error);
  CHECK_THROWS_WITH_AS(newton_inverse(zeros({3, 3}), -1), "newton_inverse: iterations must be >= 0, got -1", Error);
  CHECK_THROWS_WITH_AS(newton_inverse(zeros({3, 3}, DType::Int64), 2, NewtonForm::NeurIPS),
                       doctest::Contains("newton_inverse: dtype int64 is not supported"), Error);
}
