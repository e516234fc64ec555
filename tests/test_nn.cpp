// nn/: Module naming and state handling, initialisers, the layers against plain loops, Mlp,
// softmax Attention and SOFT attention against naive float64 reimplementations (SOFT following the
// official code's forward step by step), and strict state loading/saving.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <numbers>
#include <string>

#include "autograd/grad_mode.h"
#include "nn/attention.h"
#include "nn/container.h"
#include "nn/layers.h"
#include "nn/mlp.h"
#include "nn/soft_attention.h"
#include "nn/state.h"
#include "tests/op_check.h"
#include "tests/temp_dir.h"

using namespace soft;
using namespace soft::test;

namespace {

using Vec = std::vector<double>;

Generator& test_gen() {
  static Generator gen(4242);
  return gen;
}

// Overwrites a parameter or buffer in place with uniform values (never all zeros).
void randomize(Tensor t, double lo = -0.5, double hi = 0.5) {
  NoGradGuard no_grad;
  copy_(t, uniform(t.shape(), lo, hi, test_gen(), t.dtype()));
}

void randomize_all(const nn::Module& m, double lo = -0.5, double hi = 0.5) {
  for (auto& [name, t] : m.named_parameters()) randomize(t, lo, hi);
}

std::vector<std::string> names_of(const std::vector<nn::NamedTensor>& v) {
  std::vector<std::string> out;
  for (const auto& [name, t] : v) out.push_back(name);
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

double mean_of(const Vec& v) {
  double s = 0;
  for (double e : v) s += e;
  return s / static_cast<double>(v.size());
}

double std_of(const Vec& v) {
  double m = mean_of(v), s = 0;
  for (double e : v) s += (e - m) * (e - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

// ---- naive float64 references ------------------------------------------------------------

// x [rows, in] @ w[out, in]^T + b[out] (b empty for none).
Vec naive_linear(const Vec& x, int64_t in, const Vec& w, const Vec& b, int64_t out) {
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

Vec naive_linear(const Vec& x, const nn::Linear& l) {
  return naive_linear(x, l.weight.size(1), l.weight.to_vector(), l.bias.defined() ? l.bias.to_vector() : Vec{},
                      l.weight.size(0));
}

// Per row of M values.
Vec naive_layer_norm(const Vec& x, int64_t M, const Vec& w, const Vec& b, double eps) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / M; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < M; ++j) mean += x[r * M + j] / M;
    for (int64_t j = 0; j < M; ++j) var += (x[r * M + j] - mean) * (x[r * M + j] - mean) / M;
    for (int64_t j = 0; j < M; ++j) y[r * M + j] = (x[r * M + j] - mean) / std::sqrt(var + eps) * w[j] + b[j];
  }
  return y;
}

double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
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

// PVT-style softmax attention, x [B, N, C].
Vec naive_attention(const nn::Attention& a, const Vec& x, int64_t B, int64_t N, int64_t C) {
  int64_t h = a.heads, d = C / h;
  Vec q = naive_linear(x, *a.q), kv = naive_linear(x, *a.kv), o(B * N * C);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t hh = 0; hh < h; ++hh)
      for (int64_t i = 0; i < N; ++i) {
        Vec s(N);
        double mx = -std::numeric_limits<double>::infinity(), z = 0;
        for (int64_t j = 0; j < N; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += q[(b * N + i) * C + hh * d + c] * kv[(b * N + j) * 2 * C + hh * d + c];
          s[j] = dot / std::sqrt(static_cast<double>(d));
          mx = std::max(mx, s[j]);
        }
        for (int64_t j = 0; j < N; ++j) z += (s[j] = std::exp(s[j] - mx));
        for (int64_t c = 0; c < d; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < N; ++j) acc += s[j] / z * kv[(b * N + j) * 2 * C + C + hh * d + c];
          o[(b * N + i) * C + hh * d + c] = acc;
        }
      }
  return naive_linear(o, *a.proj);
}

// SOFT attention, official master (journal) form, x [B, N, C] on an H x W grid. Follows
// SoftmaxFreeAttention(Kernel).forward step by step, with plain index arithmetic.
Vec naive_soft(const nn::SoftAttention& s, const Vec& x, int64_t B, int64_t H, int64_t W) {
  const auto& o = s.options;
  int64_t C = o.dim, h = o.heads, d = C / h, r = o.landmark_stride, k = o.local_kernel, N = H * W;
  int64_t Hl = H / r, Wl = W / r, m = Hl * Wl;
  Vec q = naive_linear(x, *s.W_q), v = naive_linear(x, *s.W_v);
  double scale = 1.0 / std::sqrt(std::sqrt(static_cast<double>(d)));
  auto Q = [&](int64_t b, int64_t hh, int64_t n, int64_t c) { return q[(b * N + n) * C + hh * d + c] * scale; };
  auto V = [&](int64_t b, int64_t hh, int64_t n, int64_t c) { return v[(b * N + n) * C + hh * d + c]; };
  Vec wl = s.attn->Qlandmark_op->weight.to_vector();  // [d, d, r, r]
  auto& ln = dynamic_cast<nn::LayerNorm&>((*s.attn->Qnorm_act)[0]);
  Vec lnw = ln.weight.to_vector(), lnb = ln.bias.to_vector();
  Vec cw = s.attn->conv->weight.to_vector();  // [h, 1, k, k]
  Vec merged(B * N * C);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t hh = 0; hh < h; ++hh) {
      // Landmarks: stride-r conv over the scaled Q as a [d, H, W] map, then LayerNorm + exact GELU.
      Vec L(m * d);
      for (int64_t i = 0; i < Hl; ++i)
        for (int64_t j = 0; j < Wl; ++j)
          for (int64_t oc = 0; oc < d; ++oc) {
            double acc = 0;
            for (int64_t c = 0; c < d; ++c)
              for (int64_t ky = 0; ky < r; ++ky)
                for (int64_t kx = 0; kx < r; ++kx)
                  acc += wl[((oc * d + c) * r + ky) * r + kx] * Q(b, hh, (i * r + ky) * W + j * r + kx, c);
            L[(i * Wl + j) * d + oc] = acc;
          }
      L = naive_layer_norm(L, d, lnw, lnb, 1e-5);
      for (double& e : L) e = gelu_erf(e);
      // K1 [N, m], K2 [m, m]
      Vec K1(N * m), K2(m * m);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t l = 0; l < m; ++l) {
          double dist = 0;
          for (int64_t c = 0; c < d; ++c) dist += std::pow(Q(b, hh, n, c) - L[l * d + c], 2);
          K1[n * m + l] = std::exp(-dist / 2);
        }
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) {
          double dist = 0;
          for (int64_t c = 0; c < d; ++c) dist += std::pow(L[i * d + c] - L[j * d + c], 2);
          K2[i * m + j] = std::exp(-dist / 2);
        }
      // Newton, journal form: alpha = 1.8 / max rowsum(K2)^2, P = K2 + 0.01 I, V0 = alpha P.
      double maxrow = 0;
      for (int64_t i = 0; i < m; ++i) {
        double rs = 0;
        for (int64_t j = 0; j < m; ++j) rs += K2[i * m + j];
        maxrow = std::max(maxrow, rs);
      }
      double alpha = 1.8 / (maxrow * maxrow);
      Vec P = K2, Vn(m * m);
      for (int64_t i = 0; i < m; ++i) P[i * m + i] += 0.01;
      for (int64_t i = 0; i < m * m; ++i) Vn[i] = alpha * P[i];
      auto mm = [m](const Vec& a, const Vec& c) {
        Vec out(m * m, 0.0);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t t = 0; t < m; ++t)
            for (int64_t j = 0; j < m; ++j) out[i * m + j] += a[i * m + t] * c[t * m + j];
        return out;
      };
      for (int it = 0; it < o.newton_iterations; ++it) {
        Vec VPV = mm(mm(Vn, P), Vn);
        for (int64_t i = 0; i < m * m; ++i) Vn[i] = 2 * Vn[i] - VPV[i];
      }
      // (K1 Vn) [N, m] @ (K1^T V) [m, d]
      Vec A(N * m, 0.0), T(m * d, 0.0);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t t = 0; t < m; ++t)
          for (int64_t j = 0; j < m; ++j) A[n * m + j] += K1[n * m + t] * Vn[t * m + j];
      for (int64_t l = 0; l < m; ++l)
        for (int64_t c = 0; c < d; ++c)
          for (int64_t n = 0; n < N; ++n) T[l * d + c] += K1[n * m + l] * V(b, hh, n, c);
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx)
          for (int64_t c = 0; c < d; ++c) {
            int64_t n = y * W + xx;
            double acc = 0;
            for (int64_t l = 0; l < m; ++l) acc += A[n * m + l] * T[l * d + c];
            // Local branch: head hh's value map (channel c) convolved with kernel hh, zero padding k/2.
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                int64_t iy = y + ky - k / 2, ix = xx + kx - k / 2;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc += cw[(hh * k + ky) * k + kx] * V(b, hh, iy * W + ix, c);
              }
            merged[(b * N + n) * C + hh * d + c] = acc;  // combine_heads: channel = head * d + c
          }
    }
  return naive_linear(merged, *s.ff);
}

bool all_finite(const Tensor& t) {
  for (double e : t.to_vector())
    if (!std::isfinite(e)) return false;
  return true;
}

// A module tree for the naming tests: Top { z, a: Mid { own, b: Leaf, c: Leaf } }.
struct Leaf : nn::Module {
  Leaf() {
    weight = register_parameter("weight", ones({2}));
    stat = register_buffer("stat", zeros({2}));
  }
  Tensor weight, stat;
};
struct Mid : nn::Module {
  Mid() {
    b = register_module("b", std::make_shared<Leaf>());
    own = register_parameter("own", zeros({1}));  // registered after a child, still listed first
    c = register_module("c", std::make_shared<Leaf>());
  }
  Tensor own;
  std::shared_ptr<Leaf> b, c;
};
struct Top : nn::Module {
  Top() {
    a = register_module("a", std::make_shared<Mid>());
    z = register_parameter("z", zeros({3}));
  }
  std::shared_ptr<Mid> a;
  Tensor z;
};


std::shared_ptr<nn::Sequential> small_net() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(3, 4));
  net->push_back(std::make_shared<nn::BatchNorm2d>(4));
  net->push_back(std::make_shared<nn::LayerNorm>(4));
  return net;
}

}  // namespace

// ---- Module ---------------------------------------------------------------------------------

TEST_CASE("nn: hierarchical names in registration order, parameters before buffers") {
  Top top;
  CHECK(names_of(top.named_parameters()) == std::vector<std::string>{"z", "a.own", "a.b.weight", "a.c.weight"});
  CHECK(names_of(top.named_buffers()) == std::vector<std::string>{"a.b.stat", "a.c.stat"});
  CHECK(names_of(top.state()) ==
        std::vector<std::string>{"z", "a.own", "a.b.weight", "a.c.weight", "a.b.stat", "a.c.stat"});
  for (auto& [name, t] : top.named_parameters()) CHECK(t.requires_grad());
  for (auto& [name, t] : top.named_buffers()) CHECK(!t.requires_grad());
  CHECK(top.named_parameters()[2].second.same(top.a->b->weight));  // handles, not copies
  CHECK(top.num_parameters() == 3 + 1 + 2 + 2);

  std::vector<std::string> visited;
  top.apply([&](const std::string& name, nn::Module&) { visited.push_back(name); });
  CHECK(visited == std::vector<std::string>{"", "a", "a.b", "a.c"});

  nn::Sequential seq;
  seq.push_back(std::make_shared<nn::Linear>(3, 4));
  seq.push_back(std::make_shared<nn::ReLU>());
  seq.push_back(std::make_shared<nn::Linear>(4, 2, false));
  seq.push_back(std::make_shared<nn::BatchNorm2d>(2));
  CHECK(names_of(seq.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "3.weight", "3.bias"});
  CHECK(names_of(seq.named_buffers()) ==
        std::vector<std::string>{"3.running_mean", "3.running_var", "3.num_batches_tracked"});
  CHECK(seq.num_parameters() == 16 + 8 + 4);
  CHECK(nn::Linear(3, 4).num_parameters() == 16);
  CHECK(nn::BatchNorm2d(5).num_parameters() == 10);
}

TEST_CASE("nn: train()/eval() reach every descendant and switch Dropout and BatchNorm") {
  nn::Sequential outer;
  auto inner = outer.push_back(std::make_shared<nn::Sequential>());
  auto drop = inner->push_back(std::make_shared<nn::Dropout>(0.5));
  auto bn = outer.push_back(std::make_shared<nn::BatchNorm2d>(3));
  CHECK(outer.is_training());
  CHECK(drop->is_training());

  Tensor x = uniform({4, 3, 2, 2}, 1.0, 2.0, test_gen());
  outer.eval();
  CHECK(!inner->is_training());
  CHECK(!drop->is_training());
  CHECK(!bn->is_training());
  // Eval: dropout is the identity and BatchNorm uses running stats (0, 1): y = x / sqrt(1 + eps).
  expect_close(drop->forward(x), x.to_vector(), 0, 0);
  expect_close(outer.forward(x), map_values(x, [](double v) { return v / std::sqrt(1 + 1e-5); }), 1e-6, 1e-6);

  outer.train();
  CHECK(drop->is_training());
  CHECK(bn->is_training());
  Vec y = drop->forward(x).to_vector(), xv = x.to_vector();
  int zeros_seen = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 0) ++zeros_seen;
    else CHECK(y[i] == doctest::Approx(2 * xv[i]).epsilon(1e-6));
  }
  CHECK(zeros_seen > 0);
  CHECK(zeros_seen < static_cast<int>(y.size()));
  // Training BatchNorm normalises with the batch statistics: every channel has mean ~0.
  Tensor z = bn->forward(x);
  Vec zm = mean(z, {0, 2, 3}).to_vector();
  for (double v : zm) CHECK(std::fabs(v) < 1e-5);

  inner->eval();  // only the subtree
  CHECK(!drop->is_training());
  CHECK(bn->is_training());
}

TEST_CASE("nn: zero_grad clears every parameter's gradient") {
  nn::Sequential seq;
  auto l1 = seq.push_back(std::make_shared<nn::Linear>(3, 4));
  auto l2 = seq.push_back(std::make_shared<nn::Linear>(4, 2));
  seq.forward(uniform({5, 3}, -1, 1, test_gen())).sum().backward();
  for (const Tensor& p : seq.parameters()) REQUIRE(p.grad().defined());
  seq.zero_grad();
  for (const Tensor& p : seq.parameters()) {
    bool cleared = !p.grad().defined();
    if (!cleared) {
      cleared = true;
      for (double v : p.grad().to_vector()) cleared = cleared && v == 0;
    }
    CHECK(cleared);
  }
  // A fresh backward gives fresh gradients (not accumulated onto stale ones).
  Tensor x = uniform({5, 3}, -1, 1, test_gen());
  seq.forward(x).sum().backward();
  for (double v : l2->bias.grad().to_vector()) CHECK(v == doctest::Approx(5.0));
  CHECK(l1->weight.grad().defined());
}

TEST_CASE("nn: to(Float64) converts floating state in place, keeps int64 buffers and the handles") {
  manual_seed(3);
  auto net = small_net();
  auto& lin = net->at<nn::Linear>(0);
  auto& bn = net->at<nn::BatchNorm2d>(1);
  Tensor w = lin.weight, nbt = bn.num_batches_tracked, rm = bn.running_mean;
  Vec w0 = w.to_vector();
  auto state_before = net->state();

  net->to(DType::Float64);
  CHECK(w.dtype() == DType::Float64);  // the handle taken before sees the new dtype
  CHECK(w.same(lin.weight));
  CHECK(w.requires_grad());
  CHECK(w.to_vector() == w0);  // float32 -> float64 is exact
  CHECK(rm.dtype() == DType::Float64);
  CHECK(nbt.dtype() == DType::Int64);
  auto state_after = net->state();
  REQUIRE(state_after.size() == state_before.size());
  for (size_t i = 0; i < state_after.size(); ++i) {
    INFO(state_after[i].first);
    CHECK(state_after[i].second.same(state_before[i].second));
    CHECK(state_after[i].second.dtype() == (state_after[i].first == "1.num_batches_tracked" ? DType::Int64 : DType::Float64));
  }
  // The layers run in float64 and their gradients arrive in float64.
  Tensor x = uniform({2, 3}, -1, 1, test_gen(), DType::Float64);
  Tensor y = lin.forward(x);
  CHECK(y.dtype() == DType::Float64);
  y.sum().backward();
  CHECK(lin.weight.grad().dtype() == DType::Float64);

  CHECK_THROWS_AS(net->to(DType::Int64), Error);
}

// ---- init ---------------------------------------------------------------------------------------

TEST_CASE("nn: initialisation follows SOFT (Linear trunc-normal 0.02, conv PyTorch default, norms 1/0)") {
  manual_seed(11);
  nn::Linear lin(512, 512);
  Vec w = lin.weight.to_vector();
  CHECK(std_of(w) == doctest::Approx(0.02).epsilon(0.03));
  CHECK(std::fabs(mean_of(w)) < 2e-4);
  double wmax = 0;
  for (double v : w) wmax = std::max(wmax, std::fabs(v));
  CHECK(wmax <= 2.0);
  CHECK(wmax > 0.08);  // a normal of std 0.02, not clipped near 2 std
  CHECK(max(abs(lin.bias), 0).to_vector() == Vec{0});

  nn::Conv2d conv(16, 32, 3, 1, 1);
  double bound = 1.0 / std::sqrt(16.0 * 9);
  Vec cw = conv.weight.to_vector(), cb = conv.bias.to_vector();
  double maxabs = 0;
  for (double v : cw) maxabs = std::max(maxabs, std::fabs(v));
  CHECK(maxabs <= bound);
  CHECK(maxabs > 0.98 * bound);
  CHECK(std::fabs(mean_of(cw)) < 0.05 * bound);
  CHECK(std_of(cw) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.05));
  double bmax = 0;
  for (double v : cb) {
    CHECK(std::fabs(v) <= bound);
    bmax = std::max(bmax, std::fabs(v));
  }
  CHECK(bmax > 0.3 * bound);  // not zero-initialised

  // Grouped conv: fan_in = in/groups * k * k = 9.
  nn::Conv2d dw(8, 8, 3, 1, 1, 8, false);
  CHECK(!dw.bias.defined());
  CHECK(dw.weight.shape() == Shape{8, 1, 3, 3});
  double dmax = 0;
  for (double v : dw.weight.to_vector()) {
    CHECK(std::fabs(v) <= 1.0 / 3.0);
    dmax = std::max(dmax, std::fabs(v));
  }
  CHECK(dmax > 0.25);

  nn::LayerNorm ln(6);
  CHECK(ln.eps == 1e-5);
  for (double v : ln.weight.to_vector()) CHECK(v == 1);
  for (double v : ln.bias.to_vector()) CHECK(v == 0);
  nn::BatchNorm2d bn(6);
  for (double v : bn.weight.to_vector()) CHECK(v == 1);
  for (double v : bn.bias.to_vector()) CHECK(v == 0);
  for (double v : bn.running_mean.to_vector()) CHECK(v == 0);
  for (double v : bn.running_var.to_vector()) CHECK(v == 1);
  CHECK(bn.num_batches_tracked.dtype() == DType::Int64);
  CHECK(bn.num_batches_tracked.shape() == Shape{});
  CHECK(bn.num_batches_tracked.item() == 0);
}

TEST_CASE("nn: the same seed gives the same initialisation, another seed differs") {
  auto build = [](uint64_t seed) {
    manual_seed(seed);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Linear>(6, 5));
    net->push_back(std::make_shared<nn::Conv2d>(2, 3, 3));
    return net;
  };
  auto a = build(7), b = build(7), c = build(8);
  auto sa = a->state(), sb = b->state(), sc = c->state();
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(sa[i].second.to_vector() == sb[i].second.to_vector());
  }
  CHECK(sa[0].second.to_vector() != sc[0].second.to_vector());  // 0.weight
  CHECK(sa[2].second.to_vector() != sc[2].second.to_vector());  // 1.weight
}

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

// ---- Mlp and softmax attention ---------------------------------------------------------------

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

TEST_CASE("nn: softmax Attention matches a naive float64 implementation") {
  nn::Attention attn(8, 2);
  CHECK(names_of(attn.named_parameters()) ==
        std::vector<std::string>{"q.weight", "q.bias", "kv.weight", "kv.bias", "proj.weight", "proj.bias"});
  CHECK(attn.kv->weight.shape() == Shape{16, 8});
  attn.to(DType::Float64);
  randomize_all(attn, -0.5, 0.5);
  Tensor x = uniform({2, 5, 8}, -1, 1, test_gen(), DType::Float64);
  expect_close(attn.forward(x), naive_attention(attn, x.to_vector(), 2, 5, 8), 1e-12, 1e-12);
  CHECK_THROWS_AS(nn::Attention(8, 3), Error);
  CHECK(contains(error_of([&] { attn.forward(uniform({5, 8}, -1, 1, test_gen(), DType::Float64)); }), "Attention"));
}

TEST_CASE("nn: softmax Attention gradients (gradcheck in x, finite differences in the parameters)") {
  nn::Attention attn(8, 2);
  attn.to(DType::Float64);
  randomize_all(attn, -0.5, 0.5);
  Tensor x = uniform({1, 3, 8}, -1, 1, test_gen(), DType::Float64);
  x.requires_grad_(true);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return attn.forward(in[0]); }, {x});

  Tensor weights = uniform({1, 3, 8}, -1, 1, test_gen(), DType::Float64);
  auto loss = [&] { return sum(mul(attn.forward(x), weights)); };
  attn.zero_grad();
  loss().backward();
  struct Probe { Tensor p; int64_t index; const char* what; };
  const std::vector<Probe> probes = {{attn.q->weight, 9, "q.weight"},     {attn.kv->weight, 10, "kv.weight (k)"},
                                     {attn.kv->weight, 8 * 8 + 5, "kv.weight (v)"}, {attn.kv->bias, 12, "kv.bias (v)"},
                                     {attn.q->bias, 3, "q.bias"},         {attn.proj->bias, 6, "proj.bias"}};
  for (const Probe& pr : probes) {
    INFO(pr.what);
    REQUIRE(pr.p.grad().defined());
    double analytic = pr.p.grad().to_vector()[pr.index];
    double* data = pr.p.data<double>();
    double saved = data[pr.index], eps = 1e-6, lp, lm;
    {
      NoGradGuard no_grad;
      data[pr.index] = saved + eps;
      lp = loss().item();
      data[pr.index] = saved - eps;
      lm = loss().item();
      data[pr.index] = saved;
    }
    double numeric = (lp - lm) / (2 * eps);
    CHECK(std::fabs(analytic - numeric) <= 1e-7 + 1e-5 * std::fabs(numeric));
    CHECK(std::fabs(numeric) > 1e-6);  // the probe is not trivially zero
  }
}

// ---- SOFT attention ------------------------------------------------------------------------------

TEST_CASE("nn: SoftAttention matches a naive float64 reimplementation of the official forward") {
  nn::SoftAttentionOptions o;
  o.dim = 8;
  o.heads = 2;
  o.landmark_stride = 2;
  o.local_kernel = 3;
  manual_seed(21);
  nn::SoftAttention s(o);
  CHECK(names_of(s.state()) ==
        std::vector<std::string>{"W_q.weight", "W_q.bias", "W_v.weight", "W_v.bias", "attn.Qlandmark_op.weight",
                                 "attn.Qnorm_act.0.weight", "attn.Qnorm_act.0.bias", "attn.conv.weight", "ff.weight",
                                 "ff.bias"});
  CHECK(s.attn->Qlandmark_op->weight.shape() == Shape{4, 4, 2, 2});
  CHECK(s.attn->conv->weight.shape() == Shape{2, 1, 3, 3});
  s.to(DType::Float64);
  // Larger than the init so that every term matters; LayerNorm affine off its 1/0 init.
  randomize_all(s, -0.6, 0.6);
  randomize(dynamic_cast<nn::LayerNorm&>((*s.attn->Qnorm_act)[0]).weight, 0.5, 1.5);
  // 20 iterations have converged (alpha no longer matters); 3 check alpha, P and the iteration itself.
  for (int64_t iterations : {20, 3})
    for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{4, 4}, {5, 3}}) {
      INFO("grid ", H, "x", W, ", ", iterations, " Newton iterations");
      s.options.newton_iterations = s.attn->options.newton_iterations = iterations;
      Tensor x = uniform({2, H * W, 8}, -1, 1, test_gen(), DType::Float64);
      Tensor y = s.forward(x, H, W);
      CHECK(y.shape() == Shape{2, H * W, 8});
      expect_close(y, naive_soft(s, x.to_vector(), 2, H, W), 1e-10, 1e-8);
    }
}

TEST_CASE("nn: SoftAttention gradcheck in x, and finite outputs/gradients of the other forms") {
  nn::SoftAttentionOptions o;
  o.dim = 8;
  o.heads = 2;
  o.landmark_stride = 2;
  o.local_kernel = 3;
  manual_seed(22);
  // The journal backward is the exact inverse's, accurate once 20 iterations have converged; the
  // NeurIPS form differentiates through the iterations.
  for (NewtonForm form : {NewtonForm::Journal, NewtonForm::NeurIPS}) {
    nn::SoftAttentionOptions of = o;
    of.newton_form = form;
    nn::SoftAttention s(of);
    s.to(DType::Float64);
    randomize_all(s, -0.6, 0.6);
    Tensor x = uniform({1, 16, 8}, -1, 1, test_gen(), DType::Float64);
    x.requires_grad_(true);
    expect_gradcheck([&](const std::vector<Tensor>& in) { return s.forward(in[0], 4, 4); }, {x});
  }
  struct Variant { NewtonForm form; bool norm; const char* what; };
  for (const Variant& v : {Variant{NewtonForm::NeurIPS, false, "NeurIPS"}, Variant{NewtonForm::Journal, true, "journal + soft_norm"},
                           Variant{NewtonForm::NeurIPS, true, "NeurIPS + soft_norm"}}) {
    INFO(v.what);
    nn::SoftAttentionOptions ov = o;
    ov.newton_form = v.form;
    ov.soft_norm = v.norm;
    nn::SoftAttention s(ov);
    s.to(DType::Float64);
    randomize_all(s, -0.6, 0.6);
    Tensor x = uniform({2, 16, 8}, -1, 1, test_gen(), DType::Float64);
    x.requires_grad_(true);
    Tensor y = s.forward(x, 4, 4);
    CHECK(all_finite(y));
    sum(mul(y, uniform(y.shape(), -1, 1, test_gen(), DType::Float64))).backward();
    REQUIRE(x.grad().defined());
    CHECK(all_finite(x.grad()));
    for (auto& [name, p] : s.named_parameters()) {
      INFO(name);
      REQUIRE(p.grad().defined());
      CHECK(all_finite(p.grad()));
    }
  }
}

TEST_CASE("nn: SoftAttention errors: a grid smaller than the landmark stride, a wrong token count") {
  nn::SoftAttentionOptions o;
  o.dim = 8;
  o.heads = 2;
  o.landmark_stride = 4;
  o.local_kernel = 3;
  nn::SoftAttention s(o);
  std::string msg = error_of([&] { s.forward(uniform({1, 16, 8}, -1, 1, test_gen()), 2, 8); });
  CHECK(contains(msg, "smaller than the landmark stride"));
  CHECK(contains(msg, "2x8"));
  msg = error_of([&] { s.forward(uniform({1, 15, 8}, -1, 1, test_gen()), 4, 4); });
  CHECK(contains(msg, "SoftAttention"));
  CHECK(contains(msg, "[1, 15, 8]"));
  o.heads = 3;
  CHECK(contains(error_of([&] { nn::SoftAttention bad(o); }), "not divisible"));
}

// ---- state files ----------------------------------------------------------------------------------

TEST_CASE("nn: save_state/load_state round trip (values, dtypes, int64 buffer, metadata)") {
  TempDir dir;
  std::string path = dir.file("net.safetensors");
  manual_seed(31);
  auto a = small_net();
  for (auto& [name, t] : a->state())
    if (is_floating(t.dtype())) randomize(t, 0.1, 0.9);
  {
    NoGradGuard no_grad;
    Tensor nbt = a->at<nn::BatchNorm2d>(1).num_batches_tracked;
    fill_(nbt, 7);
  }
  nn::save_state(*a, path, {{"format", "pt"}});
  Safetensors file = load_safetensors(path);
  CHECK(file.metadata.at("format") == "pt");
  CHECK(file.at("1.num_batches_tracked").dtype() == DType::Int64);

  manual_seed(32);
  auto b = small_net();
  nn::load_state(*b, path);
  auto sa = a->state(), sb = b->state();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(sb[i].second.dtype() == sa[i].second.dtype());
    CHECK(sb[i].second.shape() == sa[i].second.shape());
    CHECK(sb[i].second.to_vector() == sa[i].second.to_vector());
    CHECK(sb[i].second.requires_grad() == sa[i].second.requires_grad());
  }
  CHECK(b->at<nn::BatchNorm2d>(1).num_batches_tracked.item() == 7);

  // Loading converts the file's dtype to the model's.
  auto c = small_net();
  c->to(DType::Float64);
  nn::load_state(*c, path);
  CHECK(c->at<nn::Linear>(0).weight.dtype() == DType::Float64);
  CHECK(c->at<nn::Linear>(0).weight.to_vector() == a->at<nn::Linear>(0).weight.to_vector());
}

TEST_CASE("nn: strict load_state lists missing, unexpected and mis-shaped tensors in one error, loads nothing") {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  manual_seed(41);
  auto src = small_net();
  NamedTensors tensors;
  for (auto& [name, t] : src->state()) {
    if (name == "0.bias" || name == "1.running_var") continue;                    // missing
    if (name == "0.weight") tensors.emplace_back(name, zeros({4, 2}));           // wrong shape
    else if (is_floating(t.dtype())) tensors.emplace_back(name, add_scalar(t.detach(), 1.0));  // valid, other values
    else tensors.emplace_back(name, full(t.shape(), 5, t.dtype()));
  }
  tensors.emplace_back("extra.weight", ones({2}));  // unexpected
  save_safetensors(path, tensors);

  manual_seed(42);
  auto dst = small_net();
  std::vector<Vec> before;
  for (auto& [name, t] : dst->state()) before.push_back(t.to_vector());
  std::string msg = error_of([&] { nn::load_state(*dst, path); });
  INFO(msg);
  for (const char* part : {"missing", "0.bias", "1.running_var", "unexpected", "extra.weight", "wrong shape", "0.weight",
                           "[4, 2]", "[4, 3]"})
    CHECK(contains(msg, part));
  CHECK(contains(msg, path));
  auto after = dst->state();
  for (size_t i = 0; i < after.size(); ++i) {
    INFO(after[i].first);
    CHECK(after[i].second.to_vector() == before[i]);
  }

  // Many missing names are summarised.
  std::string empty_path = dir.file("empty.safetensors");
  save_safetensors(empty_path, {});
  msg = error_of([&] { nn::load_state(*dst, empty_path); });
  CHECK(contains(msg, "missing"));
  CHECK(contains(msg, "(and 1 more)"));  // 9 entries, 8 shown
}
