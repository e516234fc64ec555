// nn/: the layers (Linear, Conv2d, BatchNorm2d, LayerNorm) and Mlp against plain loops.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/mlp.h"
#include "tests/nn_test_util.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

double gelu_tanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

// Cross-correlation x [B, Cin, H, W], w [Cout, Cin/g, k, k], b [Cout] or empty.
Vec naive_conv2d(const Vec& x, int64_t B, int64_t Cin, int64_t H, int64_t W, const Vec& w, int64_t Cout, int64_t k,
                 const Vec& b, int64_t stride, int64_t pad, int64_t groups, int64_t& Ho, int64_t& Wo) {
  Ho = (H + 2 * pad - k) / stride + 1;
  Wo = (W + 2 * pad - k) / stride + 1;
  int64_t cig = Cin / groups, cog = Cout / groups;
  Vec y(B * Cout * Ho * Wo);
  for (int64_t n = 0; n < B; ++n)
    for (int64_t o = 0; o < Cout; ++o)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double s = b.empty() ? 0.0 : b[o];
          for (int64_t c = 0; c < cig; ++c)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                int64_t iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                int64_t ci = o / cog * cig + c;
                s += w[((o * cig + c) * k + ky) * k + kx] * x[((n * Cin + ci) * H + iy) * W + ix];
              }
          y[((n * Cout + o) * Ho + oy) * Wo + ox] = s;
        }
  return y;
}

}  // namespace

// ---- layers against plain loops ---------------------------------------------------------------

TEST_CASE("nn: Linear is x @ W^T + b") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    double tol = dtype == DType::Float32 ? 1e-5 : 1e-12;
    nn::Linear l(5, 4), nb(5, 4, false);
    l.to(dtype);
    nb.to(dtype);
    randomize(l.bias);
    CHECK(!nb.bias.defined());
    CHECK(names_of(nb.named_parameters()) == std::vector<std::string>{"weight"});
    Tensor x = uniform({2, 3, 5}, -1, 1, test_gen(), dtype);
    Tensor y = l.forward(x);
    CHECK(y.shape() == Shape{2, 3, 4});
    expect_close(y, naive_linear(x.to_vector(), l), tol, tol);
    expect_close(nb.forward(x), naive_linear(x.to_vector(), nb), tol, tol);
  }
}

TEST_CASE("nn: Conv2d applies its stride, padding and groups") {
  Tensor x = uniform({2, 4, 7, 7}, -1, 1, test_gen(), DType::Float64);
  nn::Conv2d c(4, 6, 3, 2, 1);
  c.to(DType::Float64);
  Tensor y = c.forward(x);
  CHECK(y.shape() == Shape{2, 6, 4, 4});
  Conv2dParams p;
  p.stride = {2, 2};
  p.padding = {1, 1};
  expect_close(y, conv2d(x, c.weight, c.bias, p).to_vector(), 0, 0);
  int64_t Ho, Wo;
  expect_close(y, naive_conv2d(x.to_vector(), 2, 4, 7, 7, c.weight.to_vector(), 6, 3, c.bias.to_vector(), 2, 1, 1, Ho, Wo),
               1e-12, 1e-12);

  nn::Conv2d g(4, 6, 3, 1, 1, 2, false);
  g.to(DType::Float64);
  Tensor yg = g.forward(x);
  CHECK(yg.shape() == Shape{2, 6, 7, 7});
  expect_close(yg, naive_conv2d(x.to_vector(), 2, 4, 7, 7, g.weight.to_vector(), 6, 3, {}, 1, 1, 2, Ho, Wo), 1e-12,
               1e-12);
  CHECK_THROWS_AS(nn::Conv2d(4, 6, 3, 1, 1, 4), Error);
}

TEST_CASE("nn: BatchNorm2d updates running stats and num_batches_tracked in training only") {
  nn::BatchNorm2d bn(3);
  bn.to(DType::Float64);
  randomize(bn.weight, 0.5, 1.5);
  randomize(bn.bias);
  Tensor x = uniform({4, 3, 2, 2}, -1, 3, test_gen(), DType::Float64);
  Vec xv = x.to_vector(), w = bn.weight.to_vector(), b = bn.bias.to_vector();
  const int64_t C = 3, S = 4, n = 16;
  Vec mu(C, 0), var(C, 0);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) mu[c] += xv[(i * C + c) * S + s] / n;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) var[c] += std::pow(xv[(i * C + c) * S + s] - mu[c], 2) / n;
  auto expected = [&](const Vec& m, const Vec& v) {
    Vec y(xv.size());
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t s = 0; s < S; ++s) {
          int64_t k = (i * C + c) * S + s;
          y[k] = (xv[k] - m[c]) / std::sqrt(v[c] + 1e-5) * w[c] + b[c];
        }
    return y;
  };

  expect_close(bn.forward(x), expected(mu, var), 1e-10, 1e-10);
  CHECK(bn.num_batches_tracked.item() == 1);
  Vec rm1(C), rv1(C);
  for (int64_t c = 0; c < C; ++c) rm1[c] = 0.1 * mu[c], rv1[c] = 0.9 + 0.1 * var[c] * n / (n - 1);
  expect_close(bn.running_mean, rm1, 1e-12, 1e-12);
  expect_close(bn.running_var, rv1, 1e-12, 1e-12);
  bn.forward(x);
  CHECK(bn.num_batches_tracked.item() == 2);

  bn.eval();
  Vec rm = bn.running_mean.to_vector(), rv = bn.running_var.to_vector();
  expect_close(bn.forward(x), expected(rm, rv), 1e-10, 1e-10);
  CHECK(bn.num_batches_tracked.item() == 2);
  CHECK(bn.running_mean.to_vector() == rm);
  CHECK(bn.running_var.to_vector() == rv);
}

TEST_CASE("nn: LayerNorm uses its eps (it matters on small-variance data)") {
  // Values of size 1e-3: variance ~3e-7, so eps 1e-6 and 1e-5 give very different outputs.
  Tensor x = uniform({3, 8}, -1e-3, 1e-3, test_gen(), DType::Float64);
  nn::LayerNorm ln(8, 1e-6);
  ln.to(DType::Float64);
  randomize(ln.weight, 0.5, 1.5);
  randomize(ln.bias);
  Vec w = ln.weight.to_vector(), b = ln.bias.to_vector();
  Tensor y = ln.forward(x);
  expect_close(y, naive_layer_norm(x.to_vector(), 8, w, b, 1e-6), 1e-10, 1e-10);
  Vec wrong = naive_layer_norm(x.to_vector(), 8, w, b, 1e-5), yv = y.to_vector();
  double diff = 0;
  for (size_t i = 0; i < yv.size(); ++i) diff = std::max(diff, std::fabs(yv[i] - wrong[i]));
  CHECK(diff > 0.1);
  nn::LayerNorm def(8);
  def.to(DType::Float64);
  expect_close(def.forward(x), naive_layer_norm(x.to_vector(), 8, Vec(8, 1.0), Vec(8, 0.0), 1e-5), 1e-10, 1e-10);
}

// ---- Mlp ---------------------------------------------------------------------------------------

TEST_CASE("nn: Mlp is fc2(gelu(fc1(x))) with either GELU") {
  for (GeluApprox approx : {GeluApprox::None, GeluApprox::Tanh}) {
    nn::Mlp mlp(4, 8, approx, 0.3);
    CHECK(names_of(mlp.named_parameters()) ==
          std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
    mlp.to(DType::Float64);
    randomize_all(mlp, -1, 1);
    mlp.eval();  // dropout off
    Tensor x = uniform({2, 3, 4}, -1, 1, test_gen(), DType::Float64);
    Vec h = naive_linear(x.to_vector(), *mlp.fc1);
    for (double& v : h) v = approx == GeluApprox::None ? gelu_erf(v) : gelu_tanh(v);
    expect_close(mlp.forward(x), naive_linear(h, *mlp.fc2), 1e-12, 1e-12);
  }
}
