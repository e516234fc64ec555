// The attention zoo's functional forms (docs/ATTENTION_ZOO.md): Linformer, Performer's FAVOR+,
// Nystromformer and the parameter-free token pooling. Each is a composition of registered ops
// (matmul, softmax, exp, max, sum, ...), so its gradient is their autograd and it runs on every
// device those run on; the pooling matrices are made on the CPU and moved.
#include <algorithm>
#include <cmath>

#include "ops/ops.h"

namespace soft {

namespace {
constexpr double kFeatureEps = 1e-4;  // Performer's softmax_kernel eps (official code)

// Window [start, end) of output cell i when n inputs are pooled to m cells.
std::pair<int64_t, int64_t> window(int64_t i, int64_t n, int64_t m) { return {i * n / m, ((i + 1) * n + m - 1) / m}; }

// [oh*ow, H*W]: row c averages the grid cells of output cell c.
Tensor pool_matrix(int64_t H, int64_t W, int64_t oh, int64_t ow) {
  Tensor p = zeros({oh * ow, H * W}, DType::Float64);
  double* data = p.data<double>();
  for (int64_t i = 0; i < oh; ++i)
    for (int64_t j = 0; j < ow; ++j) {
      auto [y0, y1] = window(i, H, oh);
      auto [x0, x1] = window(j, W, ow);
      double w = 1.0 / static_cast<double>((y1 - y0) * (x1 - x0));
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t x = x0; x < x1; ++x) data[(i * ow + j) * H * W + y * W + x] = w;
    }
  return p;
}

// Performer's phi(x) for x [B, h, N, d] (already scaled by d^-1/4): per_row stabilises with each
// row's own max (queries: it cancels in the normalisation), else one max over all rows (keys).
// The official code detaches the max; here its gradient flows (to the argmax), so the gradient is
// exact also for the eps term, which the max does not cancel from.
Tensor positive_features(const Tensor& x, const Tensor& w, bool per_row) {
  Tensor dash = matmul(x, transpose(w, 0, 1));                          // [B, h, N, M]
  Tensor half_sq_norm = mul_scalar(sum(mul(x, x), {-1}, true), 0.5);    // [B, h, N, 1]
  Tensor stab = max(dash, -1, true);                                     // [B, h, N, 1]
  if (!per_row) stab = max(stab, -2, true);                              // [B, h, 1, 1]
  Tensor e = exp(sub(sub(dash, half_sq_norm), stab));
  return mul_scalar(add_scalar(e, kFeatureEps), 1.0 / std::sqrt(static_cast<double>(w.size(0))));
}
}  // namespace

Tensor adaptive_avg_pool_tokens(const Tensor& x, int64_t H, int64_t W, int64_t oh, int64_t ow) {
  SOFT_CHECK(x.dim() >= 2 && x.size(-2) == H * W, "adaptive_avg_pool_tokens: x ", shape_str(x.shape()),
             " is not [..., ", H, "*", W, ", d]");
  SOFT_CHECK(oh >= 1 && ow >= 1 && oh <= H && ow <= W, "adaptive_avg_pool_tokens: cannot pool a ", H, "x", W,
             " grid to ", oh, "x", ow);
  Tensor p = to_device(to_dtype(pool_matrix(H, W, oh, ow), x.dtype()), x.device());  // [oh*ow, H*W]
  return matmul(p, x);                                                                  // [..., oh*ow, d]
}

Tensor linformer_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& E, const Tensor& F,
                           double scale) {
  SOFT_CHECK(q.dim() == 4 && k.dim() == 4 && E.dim() == 2 && E.size(1) == k.size(2) && F.shape() == E.shape(),
             "linformer_attention: E ", shape_str(E.shape()), " and F ", shape_str(F.shape()),
             " must both be [k, N] with N = the tokens of k ", shape_str(k.shape()));
  Tensor k_proj = matmul(E, k);                                                         // [B, h, k, d]
  Tensor v_proj = matmul(F, v);                                                         // [B, h, k, d]
  Tensor attn = softmax(mul_scalar(matmul(q, transpose(k_proj, -2, -1)), scale), -1);  // [B, h, N, k]
  return matmul(attn, v_proj);                                                          // [B, h, N, d]
}

Tensor favor_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& w) {
  SOFT_CHECK(q.dim() == 4 && w.dim() == 2 && w.size(1) == q.size(3), "favor_attention: projection ",
             shape_str(w.shape()), " must be [M, d] for q ", shape_str(q.shape()));
  double normalizer = 1.0 / std::sqrt(std::sqrt(static_cast<double>(q.size(3))));
  Tensor wx = to_device(to_dtype(w, q.dtype()), q.device());
  Tensor qf = positive_features(mul_scalar(q, normalizer), wx, true);    // [B, h, N, M]
  Tensor kf = positive_features(mul_scalar(k, normalizer), wx, false);   // [B, h, N, M]
  Tensor context = matmul(transpose(kf, -2, -1), v);                     // [B, h, M, d]
  Tensor denom = matmul(qf, transpose(sum(kf, {-2}, true), -2, -1));     // [B, h, N, 1]
  return div(matmul(qf, context), denom);                                // [B, h, N, d]
}

Tensor nystrom_pinv(const Tensor& a, int64_t iterations) {
  SOFT_CHECK(a.dim() >= 2 && a.size(-1) == a.size(-2), "nystrom_pinv: a ", shape_str(a.shape()),
             " is not [..., m, m]");
  int64_t m = a.size(-1);
  Tensor I = to_device(to_dtype(eye(m), a.dtype()), a.device());
  // Z0 = A^T / (max column sum * max row sum); A's rows are softmax rows, summing to 1.
  Tensor col_max = max(sum(a, {-2}, true), -1, true);                   // [..., 1, 1]
  Tensor z = div(transpose(a, -2, -1), col_max);
  for (int64_t i = 0; i < iterations; ++i) {
    Tensor az = matmul(a, z);
    Tensor inner = sub(mul_scalar(I, 7.0), az);                         // 7I - AZ
    inner = sub(mul_scalar(I, 15.0), matmul(az, inner));                // 15I - AZ (7I - AZ)
    inner = sub(mul_scalar(I, 13.0), matmul(az, inner));                // 13I - AZ (15I - ...)
    z = mul_scalar(matmul(z, inner), 0.25);
  }
  return z;
}

Tensor nystrom_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t landmarks, int64_t iterations) {
  SOFT_CHECK(q.dim() == 4 && q.shape() == k.shape() && landmarks > 0, "nystrom_attention: q ", shape_str(q.shape()),
             " and k ", shape_str(k.shape()), " must be the same [B, h, N, d], and landmarks > 0");
  int64_t N = q.size(2), m = std::min(landmarks, N);
  Tensor q_lm = adaptive_avg_pool_tokens(q, 1, N, 1, m);                          // [B, h, m, d]
  Tensor k_lm = adaptive_avg_pool_tokens(k, 1, N, 1, m);                          // [B, h, m, d]
  Tensor kernel1 = softmax(matmul(q, transpose(k_lm, -2, -1)), -1);               // [B, h, N, m]
  Tensor kernel2 = softmax(matmul(q_lm, transpose(k_lm, -2, -1)), -1);            // [B, h, m, m]
  Tensor kernel3 = softmax(matmul(q_lm, transpose(k, -2, -1)), -1);               // [B, h, m, N]
  Tensor left = matmul(kernel1, nystrom_pinv(kernel2, iterations));               // [B, h, N, m]
  return matmul(left, matmul(kernel3, v));                                        // [B, h, N, d]
}

}  // namespace soft
