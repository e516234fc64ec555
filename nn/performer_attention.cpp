#include "nn/performer_attention.h"

#include <cmath>
#include <random>
#include <vector>

#include "autograd/grad_mode.h"

namespace soft::nn {

namespace {
// Rows of a d x d Gaussian matrix orthonormalised (modified Gram-Schmidt, which is what QR's Q is).
std::vector<double> orthonormal_block(int64_t d, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> a(d * d);
  for (double& x : a) x = normal(rng);
  for (int64_t i = 0; i < d; ++i) {
    double* row = &a[i * d];
    for (int64_t j = 0; j < i; ++j) {
      const double* prev = &a[j * d];
      double dot = 0;
      for (int64_t t = 0; t < d; ++t) dot += row[t] * prev[t];
      for (int64_t t = 0; t < d; ++t) row[t] -= dot * prev[t];
    }
    double norm = 0;
    for (int64_t t = 0; t < d; ++t) norm += row[t] * row[t];
    norm = std::sqrt(norm);
    for (int64_t t = 0; t < d; ++t) row[t] /= norm;
  }
  return a;
}

}  // namespace

Tensor orthogonal_random_features(int64_t features, int64_t d, uint64_t seed) {
  SOFT_CHECK(features > 0 && d > 0, "orthogonal_random_features: needs features and d > 0, got ", features, ", ", d);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Tensor w = zeros({features, d});
  float* out = w.data<float>();
  for (int64_t row = 0; row < features; row += d) {
    std::vector<double> block = orthonormal_block(d, rng);
    for (int64_t i = 0; i < d && row + i < features; ++i)
      for (int64_t t = 0; t < d; ++t) out[(row + i) * d + t] = static_cast<float>(block[i * d + t]);
  }
  for (int64_t row = 0; row < features; ++row) {  // each row the length of a Gaussian d-vector
    double norm = 0;
    for (int64_t t = 0; t < d; ++t) {
      double g = normal(rng);
      norm += g * g;
    }
    norm = std::sqrt(norm);
    for (int64_t t = 0; t < d; ++t) out[row * d + t] = static_cast<float>(out[row * d + t] * norm);
  }
  return w;
}

PerformerAttention::PerformerAttention(int64_t dim, int64_t heads, int64_t features, int64_t redraw_interval,
                                       uint64_t seed)
    : heads(heads), features(features), redraw_interval(redraw_interval), seed(seed) {
  SOFT_CHECK(heads > 0 && dim % heads == 0, "PerformerAttention: dim ", dim, " is not divisible by ", heads, " heads");
  q = register_module("q", std::make_shared<Linear>(dim, dim));
  kv = register_module("kv", std::make_shared<Linear>(dim, 2 * dim));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim));
  projection = register_buffer("projection", orthogonal_random_features(features, dim / heads, seed));
}

void PerformerAttention::redraw() {
  ++draws;
  Tensor fresh = orthogonal_random_features(features, projection.size(1), seed + 0x9e3779b97f4a7c15ULL * draws);
  NoGradGuard no_grad;
  copy_(projection, to_device(fresh, projection.device()));
}

Tensor PerformerAttention::forward(const Tensor& x, int64_t H, int64_t W) {
  SOFT_CHECK(x.dim() == 3 && x.size(1) == H * W, "PerformerAttention: input ", shape_str(x.shape()), " is not [B, ",
             H, "*", W, ", C]");
  if (is_training() && redraw_interval > 0 && ++forwards_since_draw > redraw_interval) {
    redraw();
    forwards_since_draw = 1;
  }
  int64_t B = x.size(0), N = x.size(1), C = x.size(2), d = C / heads;
  Tensor qh = permute(reshape(q->forward(x), {B, N, heads, d}), {0, 2, 1, 3});         // [B, h, N, d]
  Tensor kvh = permute(reshape(kv->forward(x), {B, N, 2, heads, d}), {2, 0, 3, 1, 4});  // [2, B, h, N, d]
  Tensor k = squeeze(slice(kvh, 0, 0, 1), 0), v = squeeze(slice(kvh, 0, 1, 2), 0);
  Tensor out = favor_attention(qh, k, v, projection);                                  // [B, h, N, d]
  return proj->forward(reshape(transpose(out, 1, 2), {B, N, C}));
}

}  // namespace soft::nn
