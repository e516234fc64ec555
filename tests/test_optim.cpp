// nn/optim/: AdamW and SGD against plain loops of PyTorch's update formulas, timm's parameter
// groups, the warm-up + cosine schedule, global-norm clipping, weight EMA, and Mixup/CutMix
// with smoothed targets.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "nn/optim/clip.h"
#include "nn/optim/ema.h"
#include "nn/optim/mixup.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/schedule.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::nn;
using namespace soft::nn::optim;
using namespace soft::test;

namespace {

using Vec = std::vector<double>;

const Vec kP0 = {0.5, -1.25, 2.0, 0.75};
// The gradient of step t (1-based): varies in sign and size so every term matters.
Vec grad_at(int t) { return {0.3 * t, -0.7 + 0.2 * t, 1.1 / t, -0.05 * t * t}; }
const double kLr[3] = {1e-2, 5e-3, 2e-2};  // lr changes between steps

Tensor param(const Vec& v, DType dtype) {
  Tensor p = Tensor::from_vector(v, {2, 2}, dtype);
  p.requires_grad_();
  return p;
}

void set_grad(Tensor& p, const Vec& g) { p.set_grad(Tensor::from_vector(g, p.shape(), p.dtype())); }

// PyTorch's AdamW written out for one element.
Vec adamw_reference(double wd, int steps) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Vec p = kP0, m(4, 0.0), v(4, 0.0);
  for (int t = 1; t <= steps; ++t) {
    Vec g = grad_at(t);
    for (size_t i = 0; i < 4; ++i) {
      double lr = kLr[t - 1];
      p[i] -= lr * wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
  return p;
}

// PyTorch's SGD (dampening 0) written out for one element.
Vec sgd_reference(double mu, double wd, bool nesterov, int steps) {
  Vec p = kP0, buf(4, 0.0);
  for (int t = 1; t <= steps; ++t) {
    Vec g = grad_at(t);
    for (size_t i = 0; i < 4; ++i) {
      double d = g[i] + wd * p[i];
      buf[i] = t == 1 ? d : mu * buf[i] + d;
      double upd = mu == 0 ? d : (nesterov ? d + mu * buf[i] : buf[i]);
      p[i] -= kLr[t - 1] * upd;
    }
  }
  return p;
}

template <class Opt>
void run_steps(Opt& opt, Tensor& p, int from, int to) {
  for (int t = from; t <= to; ++t) {
    set_grad(p, grad_at(t));
    opt.set_lr(kLr[t - 1]);
    opt.step();
  }
}

// A module with a cls_token, a pos_embed, a Linear, a LayerNorm and a buffer.
class Tiny : public Module {
 public:
  Tiny() {
    cls_token = register_parameter("cls_token", Tensor::from_vector({0.1, 0.2, 0.3}, {1, 1, 3}));
    pos_embed = register_parameter("pos_embed", Tensor::from_vector({1, 2, 3, 4, 5, 6}, {1, 2, 3}));
    fc = register_module("fc", std::make_shared<Linear>(3, 2));
    norm = register_module("norm", std::make_shared<LayerNorm>(2));
    count = register_buffer("count", Tensor::from_vector({7.0}, {1}));
  }
  Tensor cls_token, pos_embed, count;
  std::shared_ptr<Linear> fc;
  std::shared_ptr<LayerNorm> norm;
};

std::vector<std::string> names_of(const ParamGroup& g) {
  std::vector<std::string> out;
  for (const auto& np : g.params) out.push_back(np.first);
  return out;
}

}  // namespace

TEST_CASE("optim: AdamW matches PyTorch's formulas for 3 steps") {
  for (DType dt : {DType::Float64, DType::Float32}) {
    double tol = dt == DType::Float64 ? 1e-12 : 1e-6;
    for (double wd : {0.0, 0.05}) {
      Tensor p = param(kP0, dt);
      AdamW opt({ParamGroup{{{"w", p}}, wd}}, 0.0);
      run_steps(opt, p, 1, 3);
      expect_close(p, adamw_reference(wd, 3), tol, tol);
      CHECK(opt.steps() == 3);
    }
  }
}

TEST_CASE("optim: AdamW state round-trips through state()/load_state") {
  Tensor p = param(kP0, DType::Float64);
  AdamW opt({ParamGroup{{{"w", p}}, 0.05}}, 0.0);
  run_steps(opt, p, 1, 2);
  auto st = opt.state();
  REQUIRE(st.size() == 3);
  CHECK(st[0].first == "step");
  CHECK(st[0].second.item() == 2);
  CHECK(st[1].first == "w.exp_avg");
  CHECK(st[2].first == "w.exp_avg_sq");

  // A fresh optimiser on a copy of the weights continues exactly where the first left off.
  Tensor q = param(p.to_vector(), DType::Float64);
  AdamW resumed({ParamGroup{{{"w", q}}, 0.05}}, 0.0);
  resumed.load_state(st);
  run_steps(resumed, q, 3, 3);
  expect_close(q, adamw_reference(0.05, 3), 1e-12, 1e-12);
  CHECK_THROWS_WITH_AS(resumed.load_state({{"v.exp_avg", zeros({2, 2}, DType::Float64)}}),
                       doctest::Contains("unexpected entry v.exp_avg"), Error);
  CHECK_THROWS_WITH_AS(resumed.load_state({{"w.exp_avg", zeros({4}, DType::Float64)}}),
                       doctest::Contains("w.exp_avg has shape"), Error);
}

TEST_CASE("optim: SGD with momentum, nesterov and weight decay matches PyTorch's formulas") {
  struct Case { double mu, wd; bool nesterov; };
  for (Case c : {Case{0.0, 0.0, false}, Case{0.0, 0.01, false}, Case{0.9, 0.0, false}, Case{0.9, 0.01, false},
                 Case{0.9, 0.01, true}}) {
    for (DType dt : {DType::Float64, DType::Float32}) {
      double tol = dt == DType::Float64 ? 1e-12 : 1e-6;
      Tensor p = param(kP0, dt);
      SGD opt({ParamGroup{{{"w", p}}, c.wd}}, 0.0, c.mu, c.nesterov);
      run_steps(opt, p, 1, 3);
      expect_close(p, sgd_reference(c.mu, c.wd, c.nesterov, 3), tol, tol);
      CHECK(opt.state().size() == (c.mu > 0 ? 2u : 1u));
    }
  }
  Tensor p = param(kP0, DType::Float64);
  CHECK_THROWS_WITH_AS(SGD({ParamGroup{{{"w", p}}, 0.0}}, 0.1, 0.0, true), doctest::Contains("nesterov"), Error);
}

TEST_CASE("optim: parameters without a gradient are skipped; zero_grad drops gradients") {
  Tensor p = param(kP0, DType::Float64), q = param(kP0, DType::Float64);
  AdamW opt({ParamGroup{{{"p", p}, {"q", q}}, 0.05}}, 1e-2);
  set_grad(p, grad_at(1));
  opt.step();
  CHECK(q.to_vector() == kP0);
  CHECK(p.to_vector() != kP0);
  CHECK(opt.state().size() == 3);  // step + p's two moments only
  opt.zero_grad();
  CHECK_FALSE(p.grad().defined());
}

TEST_CASE("optim: param_groups follows timm (no decay for 1-D, .bias and cls_token)") {
  Tiny m;
  auto groups = param_groups(m, 0.05);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].weight_decay == 0.05);
  CHECK(groups[1].weight_decay == 0.0);
  CHECK(names_of(groups[0]) == std::vector<std::string>{"pos_embed", "fc.weight"});
  CHECK(names_of(groups[1]) == std::vector<std::string>{"cls_token", "fc.bias", "norm.weight", "norm.bias"});
  // A custom no-decay set replaces the default.
  auto custom = param_groups(m, 0.05, {"pos_embed"});
  CHECK(names_of(custom[0]) == std::vector<std::string>{"cls_token", "fc.weight"});
}

TEST_CASE("optim: warm-up + cosine schedule at key steps") {
  CosineSchedule s{1e-3, 1e-6, 5e-5, 10, 110};
  CHECK(s(0) == doctest::Approx(1e-6).epsilon(1e-12));
  CHECK(s(5) == doctest::Approx(1e-6 + 0.5 * (1e-3 - 1e-6)).epsilon(1e-12));
  CHECK(s(10) == doctest::Approx(1e-3).epsilon(1e-12));
  CHECK(s(60) == doctest::Approx((1e-3 + 5e-5) / 2).epsilon(1e-12));
  CHECK(s(35) == doctest::Approx(5e-5 + 0.5 * (1e-3 - 5e-5) * (1 + std::cos(std::numbers::pi / 4))).epsilon(1e-12));
  CHECK(s(109) > 5e-5);
  CHECK(s(110) == 5e-5);
  CHECK(s(500) == 5e-5);
  for (int64_t t = 11; t < 110; ++t) CHECK(s(t) < s(t - 1));  // monotone after the warm-up

  CosineSchedule timm = s;
  timm.timm_no_prefix = true;
  CHECK(timm(5) == s(5));
  CHECK(timm(10) == doctest::Approx(5e-5 + 0.5 * (1e-3 - 5e-5) * (1 + std::cos(std::numbers::pi * 10 / 110))));
  CHECK(timm(110) == 5e-5);
  CHECK_THROWS_WITH_AS(CosineSchedule({1e-3, 0, 0, 10, 10})(0), doctest::Contains("CosineSchedule"), Error);
}

TEST_CASE("optim: clip_grad_norm returns the global norm and scales only above max_norm") {
  Tensor a = param({3, 0, 0, 4}, DType::Float64), b = Tensor::from_vector({12.0}, {1}, DType::Float64);
  Tensor c = param(kP0, DType::Float64);  // no gradient: ignored
  set_grad(a, {3, 0, 0, 4});
  b.requires_grad_();
  b.set_grad(Tensor::from_vector({12.0}, {1}, DType::Float64));
  CHECK(clip_grad_norm({a, b, c}, 20.0) == doctest::Approx(13.0));
  CHECK(a.grad().to_vector() == Vec{3, 0, 0, 4});  // untouched
  CHECK(clip_grad_norm({a, b, c}, 6.5) == doctest::Approx(13.0));
  double k = 6.5 / (13.0 + 1e-6);
  expect_close(a.grad(), {3 * k, 0, 0, 4 * k}, 1e-12, 1e-12);
  expect_close(b.grad(), {12 * k}, 1e-12, 1e-12);
  CHECK(clip_grad_norm({a, b, c}, 100.0) == doctest::Approx(6.5).epsilon(1e-6));
}

TEST_CASE("optim: EMA after two updates") {
  Tiny m;
  Vec p0 = m.pos_embed.to_vector();
  ModelEma ema(m, 0.75);
  auto set_all = [&](double add) {
    NoGradGuard ng;
    copy_(m.pos_embed, Tensor::from_vector({1, 2, 3, 4, 5, 6}, {1, 2, 3}) + add);
    fill_(m.count, 7.0 + add);
  };
  set_all(1.0);
  ema.update(m);
  set_all(3.0);
  ema.update(m);
  auto st = ema.state();
  REQUIRE(st.size() == m.state().size());
  for (size_t k = 0; k < st.size(); ++k) CHECK(st[k].first == m.state()[k].first);
  Vec expect(6);
  for (int i = 0; i < 6; ++i) {
    double e = p0[i];
    e = 0.75 * e + 0.25 * (p0[i] + 1.0);
    e = 0.75 * e + 0.25 * (p0[i] + 3.0);
    expect[i] = e;
  }
  expect_close(st[1].second, expect, 1e-6, 1e-6);      // pos_embed: averaged
  CHECK(st.back().first == "count");
  CHECK(st.back().second.to_vector() == Vec{10.0});  // buffer: copied
  CHECK_FALSE(st[1].second.same(m.pos_embed));        // an own copy

  ModelEma averaged(m, 0.5, /*average_buffers=*/true);
  set_all(5.0);
  averaged.update(m);
  CHECK(averaged.state().back().second.to_vector() == Vec{(10.0 + 12.0) / 2});
}

TEST_CASE("optim: Gamma and Beta samplers have the right moments") {
  Generator gen(7);
  const int n = 3000;
  double s = 0, s2 = 0, bs = 0;
  for (int i = 0; i < n; ++i) {
    double g = sample_gamma(2.5, gen);
    s += g;
    s2 += g * g;
    double b = sample_beta(0.8, 0.8, gen);
    CHECK((b >= 0 && b <= 1));
    bs += b;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  CHECK(mean == doctest::Approx(2.5).epsilon(0.06));
  CHECK(var == doctest::Approx(2.5).epsilon(0.15));
  CHECK(bs / n == doctest::Approx(0.5).epsilon(0.06));
  double small = 0;
  for (int i = 0; i < n; ++i) small += sample_gamma(0.3, gen);
  CHECK(small / n == doctest::Approx(0.3).epsilon(0.1));
}

namespace {

struct MixInput {
  Tensor x, labels;
};

MixInput mix_input(DType dt = DType::Float32) {
  Generator g(11);
  return {uniform({4, 2, 6, 8}, -1, 1, g, dt), Tensor::from_vector({0, 3, 1, 3}, {4}, DType::Int64)};
}

// The smoothed one-hot value of class k for label l.
double smooth(int64_t l, int64_t k, double eps, int64_t K) { return (k == l ? 1 - eps : 0.0) + eps / K; }

void check_targets(const MixupResult& r, const Tensor& labels, double eps, int64_t K) {
  Vec t = r.target.to_vector();
  Vec l = labels.to_vector();
  int64_t B = labels.size(0);
  for (int64_t b = 0; b < B; ++b) {
    double row = 0;
    for (int64_t k = 0; k < K; ++k) {
      double e = r.lam * smooth(static_cast<int64_t>(l[b]), k, eps, K) +
                 (1 - r.lam) * smooth(static_cast<int64_t>(l[B - 1 - b]), k, eps, K);
      CHECK(t[b * K + k] == doctest::Approx(e).epsilon(1e-6));
      row += t[b * K + k];
    }
    CHECK(row == doctest::Approx(1.0).epsilon(1e-6));
  }
}

}  // namespace

TEST_CASE("optim: mixup mixes each sample with its flipped partner") {
  auto in = mix_input();
  MixupConfig cfg{0.8, 1.0, 1.0, 0.0, 0.1, 5};  // switch_prob 0: always Mixup
  Generator gen(3);
  MixupResult r = mixup_cutmix(in.x, in.labels, cfg, gen);
  CHECK_FALSE(r.cutmix);
  CHECK((r.lam >= 0 && r.lam <= 1));
  Vec x = in.x.to_vector(), y = r.x.to_vector();
  int64_t n = 2 * 6 * 8;
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t i = 0; i < n; ++i)
      CHECK(y[b * n + i] == doctest::Approx(r.lam * x[b * n + i] + (1 - r.lam) * x[(3 - b) * n + i]).epsilon(1e-5));
  check_targets(r, in.labels, 0.1, 5);

  // Same seed, same result; the input is left unchanged.
  Generator again(3);
  MixupResult r2 = mixup_cutmix(in.x, in.labels, cfg, again);
  CHECK(r2.lam == r.lam);
  CHECK(r2.x.to_vector() == y);
  CHECK(in.x.to_vector() == x);
}

TEST_CASE("optim: cutmix pastes a box whose area matches lam") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    auto in = mix_input(dt);
    MixupConfig cfg{0.8, 1.0, 1.0, 1.0, 0.1, 5};  // switch_prob 1: always CutMix
    Generator gen(5);
    int boxes = 0;
    for (int trial = 0; trial < 20; ++trial) {
      MixupResult r = mixup_cutmix(in.x, in.labels, cfg, gen);
      REQUIRE(r.cutmix);
      auto [y0, y1, x0, x1] = r.box;
      CHECK((0 <= y0 && y0 <= y1 && y1 <= 6 && 0 <= x0 && x0 <= x1 && x1 <= 8));
      double area = static_cast<double>((y1 - y0) * (x1 - x0));
      CHECK(r.lam == doctest::Approx(1.0 - area / 48.0));
      boxes += area > 0;
      Vec x = in.x.to_vector(), y = r.x.to_vector();
      for (int64_t b = 0; b < 4; ++b)
        for (int64_t c = 0; c < 2; ++c)
          for (int64_t h = 0; h < 6; ++h)
            for (int64_t w = 0; w < 8; ++w) {
              bool inside = h >= y0 && h < y1 && w >= x0 && w < x1;
              int64_t from = inside ? 3 - b : b;
              CHECK(y[((b * 2 + c) * 6 + h) * 8 + w] == x[((from * 2 + c) * 6 + h) * 8 + w]);
            }
      check_targets(r, in.labels, 0.1, 5);
    }
    CHECK(boxes > 10);
  }
}

TEST_CASE("optim: mixup off (prob 0) gives smoothed one-hot targets; bad inputs throw") {
  auto in = mix_input();
  Generator gen(1);
  MixupResult r = mixup_cutmix(in.x, in.labels, MixupConfig{0.8, 1.0, 0.0, 0.5, 0.1, 5}, gen);
  CHECK(r.lam == 1.0);
  CHECK(r.x.to_vector() == in.x.to_vector());
  check_targets(r, in.labels, 0.1, 5);
  expect_close(smooth_one_hot(Tensor::from_vector({2}, {1}, DType::Int64), 4, 0.0), {0, 0, 1, 0});

  Generator g2(1);
  CHECK_THROWS_WITH_AS(mixup_cutmix(slice(in.x, 0, 0, 3), slice(in.labels, 0, 0, 3), MixupConfig{}, g2),
                       doctest::Contains("even"), Error);
  CHECK_THROWS_WITH_AS(mixup_cutmix(in.x, in.labels, MixupConfig{0.8, 1.0, 1.0, 0.5, 0.1, 3}, g2),
                       doctest::Contains("label 3 outside"),
                       Error);
}
