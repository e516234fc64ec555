#pragma once
// Shared by the nn/ tests (tests/test_nn_*.cpp): a seeded generator, parameter randomisation,
// names and error messages, a small module, and the naive float64 references for Linear,
// LayerNorm and GELU that the layer and attention tests both check against.
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/random.h"
#include "nn/container.h"
#include "nn/layers.h"
#include "ops/ops.h"
#include "tests/error_text.h"

namespace soft::test {

using Vec = std::vector<double>;

inline Generator& test_gen() {
  static Generator gen(4242);
  return gen;
}

// Overwrites a parameter or buffer in place with uniform values (never all zeros).
inline void randomize(Tensor t, double lo = -0.5, double hi = 0.5) {
  NoGradGuard no_grad;
  copy_(t, uniform(t.shape(), lo, hi, test_gen(), t.dtype()));
}

inline void randomize_all(const nn::Module& m, double lo = -0.5, double hi = 0.5) {
  for (auto& [name, t] : m.named_parameters()) randomize(t, lo, hi);
}

inline std::vector<std::string> names_of(const std::vector<nn::NamedTensor>& v) {
  std::vector<std::string> out;
  for (const auto& [name, t] : v) out.push_back(name);
  return out;
}

// x [rows, in] @ w[out, in]^T + b[out] (b empty for none).
inline Vec naive_linear(const Vec& x, int64_t in, const Vec& w, const Vec& b, int64_t out) {
  int64_t rows = static_cast<int64_t>(x.size()) / in;
  Vec y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : b[o];
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

inline Vec naive_linear(const Vec& x, const nn::Linear& l) {
  return naive_linear(x, l.weight.size(1), l.weight.to_vector(), l.bias.defined() ? l.bias.to_vector() : Vec{},
                      l.weight.size(0));
}

// Per row of M values.
inline Vec naive_layer_norm(const Vec& x, int64_t M, const Vec& w, const Vec& b, double eps) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / M; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < M; ++j) mean += x[r * M + j] / M;
    for (int64_t j = 0; j < M; ++j) var += (x[r * M + j] - mean) * (x[r * M + j] - mean) / M;
    for (int64_t j = 0; j < M; ++j) y[r * M + j] = (x[r * M + j] - mean) / std::sqrt(var + eps) * w[j] + b[j];
  }
  return y;
}

inline double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

inline std::shared_ptr<nn::Sequential> small_net() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(3, 4));
  net->push_back(std::make_shared<nn::BatchNorm2d>(4));
  net->push_back(std::make_shared<nn::LayerNorm>(4));
  return net;
}

}  // namespace soft::test
