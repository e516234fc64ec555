// The autograd engine: seeding, accumulation, graph shapes (diamonds), detach and NoGradGuard,
// freeing the graph, releasing saved tensors, and that gradcheck itself can fail.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/record_check.h"
#include "core/random.h"
#include "ops/ops.h"

using namespace soft;

namespace {

Tensor leaf(const std::vector<double>& values, const Shape& shape) {
  Tensor t = Tensor::from_vector(values, shape, DType::Float64);
  t.requires_grad_(true);
  return t;
}

void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(t.defined());
  std::vector<double> v = t.to_vector();
  REQUIRE(v.size() == expected.size());
  for (size_t i = 0; i < v.size(); ++i) {
    INFO("element ", i);
    CHECK(v[i] == doctest::Approx(expected[i]).epsilon(tol));
  }
}

}  // namespace

TEST_CASE("backward of a scalar seeds it with one") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor loss = sum(x * x);  // d/dx = 2x
  CHECK(loss.requires_grad());
  CHECK_FALSE(loss.is_leaf());
  loss.backward();
  check_values(x.grad(), {2, 4, 6});
  CHECK(x.grad().dtype() == DType::Float64);
  CHECK_FALSE(x.grad().requires_grad());  // gradients are plain tensors
}

TEST_CASE("backward of a non-scalar takes an explicit gradient, and refuses to guess one") {
  Tensor x = leaf({1, 2, 3, 4}, {2, 2});
  Tensor y = x * 3.0;
  y.backward(Tensor::from_vector({1, 0, -1, 2}, {2, 2}, DType::Float64));
  check_values(x.grad(), {3, 0, -3, 6});
  Tensor z = exp(x);
  CHECK_THROWS_WITH_AS(z.backward(), "backward: a gradient argument is needed for a non-scalar tensor of shape [2, 2]",
                       Error);
  CHECK_THROWS_WITH_AS(z.backward(ones({4}, DType::Float64)),
                       "backward: gradient of shape [4] for a tensor of shape [2, 2]", Error);
  // A tensor that does not require grad has no graph to run.
  CHECK_THROWS_AS(ones({2}).sum().backward(), Error);
}

TEST_CASE("gradients accumulate into a leaf across backward calls") {
  Tensor x = leaf({1, 2}, {2});
  sum(x * x).backward();  // 2x
  sum(x * 5.0).backward();  // + 5
  check_values(x.grad(), {7, 9});
  // The first gradient is copied: .grad never aliases a tensor of the graph or the seed.
  Tensor w = leaf({1, 1}, {2});
  Tensor seed = Tensor::from_vector({4, 5}, {2}, DType::Float64);
  w.backward(seed);  // a leaf as the root: its gradient is the seed
  CHECK(w.grad().storage() != seed.storage());
  check_values(w.grad(), {4, 5});
}

TEST_CASE("a diamond graph sums the gradients of every path") {
  // x feeds two branches that meet again: L = sum((3x) * exp(x)), dL/dx = 3 e^x + 3x e^x.
  Tensor x = leaf({-0.5, 0.25, 1.0}, {3});
  sum((x * 3.0) * exp(x)).backward();
  std::vector<double> expected;
  for (double v : {-0.5, 0.25, 1.0}) expected.push_back(3 * std::exp(v) + 3 * v * std::exp(v));
  check_values(x.grad(), expected);
  // An intermediate used twice: h's node must wait for both of its consumers before running.
  Tensor y = leaf({0.5, -1.0}, {2});
  Tensor h = exp(y);
  sum(h * h + h).backward();  // dL/dy = (2h + 1) h
  std::vector<double> eh;
  for (double v : {0.5, -1.0}) eh.push_back((2 * std::exp(v) + 1) * std::exp(v));
  check_values(y.grad(), eh);
  CHECK_FALSE(h.grad().defined());  // only leaves keep a gradient
}

TEST_CASE("detach stops gradients") {
  Tensor x = leaf({1, 2}, {2});
  Tensor d = (x * 2.0).detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  Tensor loss = sum(x * d);  // d is a constant: dL/dx = d = 2x
  loss.backward();
  check_values(x.grad(), {2, 4});
}

TEST_CASE("NoGradGuard records nothing, and nested guards restore the mode") {
  Tensor x = leaf({1, 2}, {2});
  CHECK(GradMode::enabled());
  {
    NoGradGuard outer;
    CHECK_FALSE(GradMode::enabled());
    Tensor y = exp(x) * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    {
      NoGradGuard inner;
      CHECK_FALSE(GradMode::enabled());
    }
    CHECK_FALSE(GradMode::enabled());  // the inner guard restores "off", not "on"
    GradMode::set_enabled(true);       // re-enabled inside a guard...
    CHECK(exp(x).requires_grad());
  }
  CHECK(GradMode::enabled());  // ...and the guard still restores what it found
  Tensor z = exp(x);
  CHECK(z.requires_grad());
  CHECK(z.grad_fn() != nullptr);
  CHECK(z.grad_fn()->op == "exp");
}

TEST_CASE("requires_grad_ only on floating leaves") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.requires_grad_(false),
                       "requires_grad_: only leaf tensors can change requires_grad (this one comes from an op); use "
                       "detach() first",
                       Error);
  Tensor i = Tensor::from_vector({1}, {1}, DType::Int64);
  CHECK_THROWS_WITH_AS(i.requires_grad_(), "requires_grad_: tensors of dtype int64 cannot require gradients", Error);
  Tensor d = y.detach();
  d.requires_grad_();
  CHECK(d.requires_grad());
  x.requires_grad_(false);
  CHECK_FALSE((x * 2.0).requires_grad());
}

TEST_CASE("a freed graph cannot run twice; retain_graph keeps it") {
  Tensor x = leaf({1, 2}, {2});
  Tensor loss = sum(exp(x));
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(),
                       "backward: the graph through 'sum' was already freed by an earlier backward; call "
                       "backward(gradient, /*retain_graph=*/true) the first time",
                       Error);
  Tensor w = leaf({0.5, -0.5}, {2});
  Tensor l2 = sum(exp(w));
  l2.backward(Tensor(), /*retain_graph=*/true);
  l2.backward();
  check_values(w.grad(), {2 * std::exp(0.5), 2 * std::exp(-0.5)});
}

TEST_CASE("backward releases the tensors saved by the graph") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = exp(x);  // exp saves its output
  std::weak_ptr<Storage> saved = y.storage();
  long before = saved.use_count();
  CHECK(before == 2);  // y itself and the copy of its handle in exp's backward
  Tensor loss = sum(y);
  loss.backward();
  CHECK(saved.use_count() == 1);
  // With retain_graph the saved tensor stays until the graph goes.
  Tensor a = leaf({1, 2}, {2});
  Tensor b = exp(a);
  std::weak_ptr<Storage> kept = b.storage();
  Tensor l = sum(b);
  l.backward(Tensor(), true);
  CHECK(kept.use_count() == 2);
  l = Tensor();
  b = Tensor();
  CHECK(kept.expired());  // nothing leaks once the graph is dropped
}

TEST_CASE("in-place updates of a tensor that requires grad throw while recording") {
  Tensor x = leaf({1, 2}, {2});
  Tensor one = ones({2}, DType::Float64);
  CHECK_THROWS_WITH_AS(add_(x, one),
                       "add_: in-place update of a tensor that requires grad while the graph is recorded; do it under "
                       "NoGradGuard",
                       Error);
  CHECK_THROWS_AS(mul_(x, 2.0), Error);
  CHECK_THROWS_AS(fill_(x, 0.0), Error);
  CHECK_THROWS_AS(copy_(x, one), Error);
  CHECK(x.to_vector() == std::vector<double>{1, 2});
  {
    NoGradGuard guard;  // the optimiser's way
    add_(x, one, -0.5);
  }
  CHECK(x.to_vector() == std::vector<double>{0.5, 1.5});
}

TEST_CASE("the engine rejects a backward that returns the wrong number or shape of gradients") {
  RecordCheckOff made_up_ops;  // records ops of its own, not in ops/registry.cpp
  Tensor x = leaf({1, 2}, {2});
  Tensor bad_shape = record("bad_shape", x.detach().clone(), {x}, [](const Tensor& g, const std::vector<bool>&) {
    return Grads{reshape(g, {1, 2})};
  });
  CHECK_THROWS_WITH_AS(sum(bad_shape).backward(),
                       "backward of 'bad_shape': gradient of input 0 has shape [1, 2] but the input has shape [2]",
                       Error);
  Tensor bad_count = record("bad_count", x.detach().clone(), {x},
                            [](const Tensor& g, const std::vector<bool>&) { return Grads{g, g}; });
  CHECK_THROWS_WITH_AS(sum(bad_count).backward(), "backward of 'bad_count' returned 2 gradients for 1 inputs", Error);
}

TEST_CASE("gradcheck fails for a wrong gradient and names the element") {
  RecordCheckOff made_up_ops;  // records ops of its own, not in ops/registry.cpp
  // Identity forward whose backward claims 2g: every element is wrong by a factor of two.
  auto wrong = [](const std::vector<Tensor>& in) {
    return record("wrong_identity", in[0].detach().clone(), {in[0]},
                  [](const Tensor& g, const std::vector<bool>&) { return Grads{g * 2.0}; });
  };
  Tensor x = Tensor::from_vector({0.1, -0.2, 0.3, 0.4, -0.5, 0.6}, {2, 3}, DType::Float64);
  x.requires_grad_(true);
  GradcheckResult r = gradcheck(wrong, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.worst_error > 1.0);
  // The loss is sum(y * W) with W ~ N(0, 1) from Generator(seed 0): the worst element is the one
  // with the largest |W| (the error is |W| there).
  Generator gen(0);
  std::vector<double> w = normal({2, 3}, 0.0, 1.0, gen, DType::Float64).to_vector();
  size_t worst = 0;
  for (size_t k = 1; k < w.size(); ++k)
    if (std::fabs(w[k]) > std::fabs(w[worst])) worst = k;
  INFO(r.report);
  CHECK(r.report.find("input 0 [2, 3] element " + std::to_string(worst) + ":") != std::string::npos);
  CHECK(r.report.find("analytic") != std::string::npos);
  CHECK(r.report.find("numeric") != std::string::npos);
  // The same check passes for the correct backward, and for a NaN gradient it fails.
  auto right = [](const std::vector<Tensor>& in) {
    return record("identity", in[0].detach().clone(), {in[0]},
                  [](const Tensor& g, const std::vector<bool>&) { return Grads{g}; });
  };
  CHECK(gradcheck(right, {x}).ok);
  auto nan_grad = [](const std::vector<Tensor>& in) {
    return record("nan_identity", in[0].detach().clone(), {in[0]},
                  [](const Tensor& g, const std::vector<bool>&) { return Grads{g * NAN}; });
  };
  CHECK_FALSE(gradcheck(nan_grad, {x}).ok);
  // Inputs must be float64.
  Tensor f = Tensor::from_vector({1}, {1});
  f.requires_grad_(true);
  CHECK_THROWS_AS(gradcheck(right, {f}), Error);
}

TEST_CASE("a backward that returns no gradient for an input stops that branch") {
  RecordCheckOff made_up_ops;  // records ops of its own, not in ops/registry.cpp
  // y = exp(x) feeds an op whose backward gives nothing back: exp's node then receives no
  // gradient at all and must be skipped, leaving x.grad undefined, while the other path counts.
  Tensor x = leaf({1, 2}, {2});
  Tensor y = exp(x);
  Tensor blocked = record("no_grad_op", y.detach().clone(), {y},
                          [](const Tensor&, const std::vector<bool>&) { return Grads{Tensor()}; });
  sum(blocked).backward();
  CHECK_FALSE(x.grad().defined());
  Tensor z = leaf({1, 2}, {2});
  Tensor h = exp(z);
  Tensor stop = record("no_grad_op", h.detach().clone(), {h},
                       [](const Tensor&, const std::vector<bool>&) { return Grads{Tensor()}; });
  sum(stop + z * 2.0).backward();
  check_values(z.grad(), {2, 2});
}
