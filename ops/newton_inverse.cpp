// newton_inverse: Newton-Raphson iterations V <- 2V - (V P) V towards the inverse of SOFT's
// landmark kernel matrix, in the two forms of the official code (docs/MODEL.md, "The Newton inverse").
//
// Journal form (official master): one op node. The iterations run without autograd in a dedicated
// kernel, one matrix per thread at a time with its P, V and products in cache (50 KB for the
// model's m = 49 in float32; larger matrices through the blocked gemm), instead of
// 2 * iterations batched matmul launches; its backward is
// the gradient of an exact inverse evaluated at the result, dL/dk = -(V^T G V^T).
// NeurIPS form: composed from differentiable ops, so autograd runs through the iterations and
// through alpha (via the max row sum).
#include <algorithm>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/autocast.h"
#include "ops/dispatch.h"
#include "ops/gemm.h"
#include "ops/ops.h"

namespace soft {
namespace {

// Register block of a product: kRows rows by two vectors of columns, sized so the accumulators
// (16 vectors) and the operands fit the 32 AVX-512 registers, or 8 of the 16 AVX2 ones.
#if defined(__AVX512F__)
constexpr int64_t kVecBytes = 64, kRows = 8;
#else
constexpr int64_t kVecBytes = 32, kRows = 4;
#endif
template <class T> constexpr int64_t kCols = 2 * kVecBytes / sizeof(T);
constexpr int64_t kCacheM = 128;  // largest m iterated in cache (4 matrices: 256 KiB in float32)

// Rows [i, i + R) of A @ B, for A, B [m, ld] row-major with zero columns past m; each element of the
// result goes to store(offset in a [m, ld] matrix, value).
template <class T, int64_t R, class Store>
void product_rows(const T* A, const T* B, int64_t m, int64_t ld, int64_t i, Store& store) {
  constexpr int64_t C = kCols<T>;
  for (int64_t j0 = 0; j0 < ld; j0 += C) {
    T acc[R][C] = {};
    for (int64_t k = 0; k < m; ++k) {
      const T* bk = B + k * ld + j0;
      for (int64_t r = 0; r < R; ++r) {
        T a = A[(i + r) * ld + k];
        for (int64_t j = 0; j < C; ++j) acc[r][j] += a * bk[j];
      }
    }
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = 0; j < C; ++j) store((i + r) * ld + j0 + j, acc[r][j]);
  }
}

template <class T, class Store>
void product(const T* A, const T* B, int64_t m, int64_t ld, Store store) {
  int64_t i = 0;
  for (; i + kRows <= m; i += kRows) product_rows<T, kRows>(A, B, m, ld, i, store);
  for (; i < m; ++i) product_rows<T, 1>(A, B, m, ld, i, store);
}

// alpha = 1.8 / (max row sum of k)^2 for one matrix k [m, m] (row sums in double).
template <class T>
T journal_alpha(const T* k, int64_t m) {
  double max_row_sum = 0;
  for (int64_t i = 0; i < m; ++i) {
    double s = 0;
    for (int64_t j = 0; j < m; ++j) s += k[i * m + j];
    max_row_sum = i == 0 ? s : std::max(max_row_sum, s);
  }
  T s = static_cast<T>(max_row_sum);
  return static_cast<T>(1.8 / (double(s) * double(s)));
}

// One matrix in cache (m up to kCacheM): P, V and the products padded to ld columns of zeros,
// which the iteration keeps zero; `buffers` holds 4 m x ld values.
template <class T>
void journal_small(const T* k, int64_t m, int64_t iterations, T* buffers, T* out) {
  constexpr int64_t C = kCols<T>;
  int64_t ld = (m + C - 1) / C * C;
  T *P = buffers, *V = P + m * ld, *W = V + m * ld, *next = W + m * ld;
  T alpha = journal_alpha(k, m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      P[i * ld + j] = k[i * m + j] + (i == j ? T(0.01) : T(0));
      V[i * ld + j] = alpha * P[i * ld + j];
    }
  for (int64_t it = 0; it < iterations; ++it) {
    product(V, P, m, ld, [W](int64_t at, T v) { W[at] = v; });        // W = V P
    product(W, V, m, ld, [V, next](int64_t at, T v) { next[at] = T(2) * V[at] - v; });
    std::swap(V, next);
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) out[i * m + j] = V[i * ld + j];
}

template <class T>
bool exactly_symmetric(const T* k, int64_t m) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < i; ++j)
      if (k[i * m + j] != k[j * m + i]) return false;
  return true;
}

// C = alpha A B + beta C for [m, m] matrices whose result is symmetric (and C too, when beta is
// not 0): only the row panels' blocks on and right of the diagonal are multiplied (a little over
// half the multiply-adds), then the lower triangle is mirrored from the upper in tiles.
template <class T>
void symmetric_product(int64_t m, T alpha, const T* A, const T* B, T beta, T* C) {
  constexpr int64_t kPanel = 128, kTile = 32;
  for (int64_t i0 = 0; i0 < m; i0 += kPanel) {
    int64_t rows = std::min(kPanel, m - i0);
    gemm<T>(rows, m - i0, m, alpha, {A + i0 * m, m, 1}, {B + i0, m, 1}, beta, {C + i0 * m + i0, m, 1});
  }
  for (int64_t i0 = 0; i0 < m; i0 += kTile)
    for (int64_t j0 = 0; j0 <= i0; j0 += kTile)
      for (int64_t i = i0; i < std::min(m, i0 + kTile); ++i)
        for (int64_t j = j0; j < std::min(i, j0 + kTile); ++j) C[i * m + j] = C[j * m + i];
}

// A matrix too large for the cache (many landmarks, e.g. 1024 for 64k tokens at stride 8): the
// products go through the blocked gemm (threaded when called outside a parallel region);
// `buffers` holds 3 m x m values. When k is exactly symmetric (gaussian_kernel(L, L) is), V stays
// a polynomial in P, so V, P and W = V P commute and both products are symmetric: computed as such.
template <class T>
void journal_large(const T* k, int64_t m, int64_t iterations, T* buffers, T* out) {
  T *P = buffers, *W = P + m * m, *V = W + m * m, *next = out;
  T alpha = journal_alpha(k, m);
  for (int64_t i = 0; i < m * m; ++i) P[i] = k[i] + (i % (m + 1) == 0 ? T(0.01) : T(0));
  for (int64_t i = 0; i < m * m; ++i) V[i] = alpha * P[i];
  const bool symmetric = exactly_symmetric(k, m);
  auto product = [&](T a, const T* A, const T* B, T beta, T* C) {
    if (symmetric) symmetric_product(m, a, A, B, beta, C);
    else gemm<T>(m, m, m, a, {A, m, 1}, {B, m, 1}, beta, {C, m, 1});
  };
  for (int64_t it = 0; it < iterations; ++it) {
    product(T(1), V, P, T(0), W);  // W = V P
    std::copy(V, V + m * m, next);
    product(T(-1), W, V, T(2), next);  // next = 2V - W V
    std::swap(V, next);
  }
  if (V != out) std::copy(V, V + m * m, out);
}

// Journal form, no autograd. For each matrix of k [count, m, m] (contiguous):
//   alpha = 1.8 / (max row sum of k)^2,  P = k + 0.01 I,  V = alpha P,
//   `iterations` times V = 2V - (V P) V;  out [count, m, m] = V.
void cpu_newton_journal(const Tensor& k, int64_t iterations, Tensor& out) {
  int64_t m = k.size(-1), count = m > 0 ? k.numel() / (m * m) : 0;
  dispatch_float(k.dtype(), "newton_inverse", [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t C = kCols<T>;
    int64_t ld = (m + C - 1) / C * C;
    const T* pk = k.data<T>();
    T* po = out.data<T>();
    bool small = m <= kCacheM;
    int64_t work = (2 * iterations + 1) * m * m * ld;
    parallel_for(0, count, std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(work, 1)),
                 [&](int64_t c0, int64_t c1) {
                   std::vector<T> buffers(small ? 4 * m * ld : 3 * m * m, T(0));
                   for (int64_t c = c0; c < c1; ++c) {
                     if (small) journal_small(pk + c * m * m, m, iterations, buffers.data(), po + c * m * m);
                     else journal_large(pk + c * m * m, m, iterations, buffers.data(), po + c * m * m);
                   }
                 });
  });
}

DispatchStub<void(const Tensor&, int64_t, Tensor&)> journal_stub("newton_inverse", cpu_newton_journal);

Tensor newton_journal(const Tensor& k, int64_t iterations) {
  Tensor v = Tensor::empty(k.shape(), k.dtype(), k.device());
  journal_stub(k.device(), k.detach().contiguous(), iterations, v);
  return record("newton_inverse", v, {k}, [v = v.detach()](const Tensor& g, const std::vector<bool>&) {
    // V ~ P^-1 and d(P^-1) = -P^-1 dP P^-1, so dL/dP = -(V^T G V^T); dP = dk.
    AutocastBf16 float32(false);  // the inverse and its gradient stay float32 under mixed precision
    Tensor vt = transpose(v, -1, -2);
    return Grads{neg(matmul(matmul(vt, g), vt))};
  });
}

// Largest column sum of |I - P V| over all matrices, evaluated without autograd: it only decides
// whether alpha is halved.
double residual_norm(const Tensor& p, const Tensor& v) {
  NoGradGuard no_grad;
  Tensor r = abs(sub(eye(p.size(-1), p.dtype(), p.device()), matmul(p, v)));
  return max(reshape(sum(r, {-2}), {-1}), 0).item();
}

// NeurIPS form, differentiable throughout:
//   alpha = 2 / (max row sum over the whole tensor)^2 (one scalar), V = alpha P with P = k, halved
//   (at most 10 times) while residual_norm > 1.01, then `iterations` times V = 2V - (V P) V.
Tensor newton_neurips(const Tensor& k, int64_t iterations) {
  Tensor max_row_sum = max(reshape(sum(k, {-1}), {-1}), 0);  // [] ; gradient to the first maximum
  Tensor alpha = mul_scalar(pow(max_row_sum, -2.0), 2.0);
  Tensor v = mul(alpha, k);
  for (int halvings = 0; halvings < 10 && residual_norm(k, v) > 1.01; ++halvings) {
    alpha = mul_scalar(alpha, 0.5);
    v = mul(alpha, k);
  }
  for (int64_t it = 0; it < iterations; ++it) v = sub(mul_scalar(v, 2.0), matmul(matmul(v, k), v));
  return v;
}

}  // namespace

Tensor newton_inverse(const Tensor& k, int64_t iterations, NewtonForm form) {
  SOFT_CHECK(k.defined(), "newton_inverse: undefined input");
  SOFT_CHECK(k.dim() >= 2 && k.size(-1) == k.size(-2), "newton_inverse: k ", shape_str(k.shape()),
             ": need square matrices [..., m, m]");
  SOFT_CHECK(iterations >= 0, "newton_inverse: iterations must be >= 0, got ", iterations);
  dispatch_float(k.dtype(), "newton_inverse", [](auto) {});
  if (k.numel() == 0) return zeros(k.shape(), k.dtype(), k.device());
  return form == NewtonForm::Journal ? newton_journal(k, iterations) : newton_neurips(k, iterations);
}

}  // namespace soft
