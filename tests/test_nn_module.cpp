// nn/: Module naming, train/eval, zero_grad and dtype moves, and the initialisers.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "nn/container.h"
#include "nn/layers.h"
#include "tests/nn_test_util.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

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
