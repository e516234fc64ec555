// nn/: softmax Attention and SOFT attention against naive float64 reimplementations (SOFT
// following the official code's forward step by step), their gradients and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nn/attention.h"
#include "nn/soft_attention.h"
#include "tests/nn_test_util.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

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

}  // namespace

// ---- softmax attention ---------------------------------------------------------------------

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
