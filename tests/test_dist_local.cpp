// dist/ within one process: the leaf-gradient hook of the engine, the gradient reducer's buckets,
// and the differentiable collectives, against a communicator of one rank (the sums are then the
// identity, so every result has a single-process reference). tests/test_dist.cpp runs 2 ranks.
#include <doctest/doctest.h>

#include <vector>

#include "autograd/leaf_hook.h"
#include "dist/functional.h"
#include "dist/reducer.h"
#include "ops/ops.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

// A world of one rank that counts the collectives asked of it.
struct OneRank : dist::Communicator {
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void all_reduce_sum_(Tensor&) override { ++sums; }
  std::unique_ptr<dist::Request> start_all_reduce_sum_(Tensor& t) override {
    started.push_back(t.numel());
    struct Done : dist::Request {
      bool test() override { return true; }
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast_(Tensor&, int) override {}
  int sums = 0;
  std::vector<int64_t> started;  // numel of each started sum, in order
};

}  // namespace

TEST_CASE("leaf hook: told once per leaf, after every gradient into it was added") {
  Generator gen(3);
  Tensor a = normal({3}, 0.0, 1.0, gen).requires_grad_(), b = normal({3}, 0.0, 1.0, gen).requires_grad_();
  Tensor unused = zeros({2}).requires_grad_();
  std::vector<std::pair<TensorImpl*, std::vector<double>>> told;
  {
    LeafGradReadyHook hook([&](TensorImpl& leaf) { told.push_back({&leaf, leaf.grad.to_vector()}); });
    Tensor y = sum(a * b + a * a + b);  // a reaches y along three paths, b along two
    y.backward();
  }
  REQUIRE(told.size() == 2);
  for (auto& [leaf, grad] : told) {
    const Tensor& t = leaf == a.impl() ? a : b;
    CHECK(grad == t.grad().to_vector());  // final when told
  }
  CHECK(told[0].first != told[1].first);
  sum(a).backward();  // no hook installed any more
  CHECK(told.size() == 2);
  CHECK_FALSE(unused.grad().defined());
}

TEST_CASE("grad reducer: buckets in reverse parameter order, each started once, gradients kept") {
  Generator gen(5);
  std::vector<Tensor> params;
  for (int64_t n : {4, 6, 1000, 8}) params.push_back(normal({n}, 0.0, 1.0, gen).requires_grad_());
  OneRank world;
  dist::GradReducer reducer(params, world, /*bucket_mib=*/1000 * 4 / (1024.0 * 1024.0));  // 1000 floats a bucket
  CHECK(reducer.num_buckets() == 3);  // {8}, {1000}, {6, 4}: reverse order, a bucket closes before overflowing
  for (int round = 0; round < 2; ++round) {
    world.started.clear();
    reducer.begin();
    Tensor loss = zeros({});
    for (size_t k = 0; k < params.size(); ++k) loss = loss + sum(params[k] * static_cast<double>(k + 1));
    loss.backward();
    reducer.finish();
    CHECK(world.started == std::vector<int64_t>{8, 1000, 10});
    for (size_t k = 0; k < params.size(); ++k) {
      std::vector<double> g = params[k].grad().to_vector();
      for (double v : g) CHECK(v == doctest::Approx(static_cast<double>((k + 1) * (round + 1))));  // accumulated
    }
  }
}

TEST_CASE("grad reducer: a parameter without a gradient counts as zero; misuse is an error") {
  Tensor used = ones({3}).requires_grad_(), unused = ones({2}).requires_grad_();
  OneRank world;
  dist::GradReducer reducer({used, unused}, world);
  CHECK_THROWS_WITH_AS(reducer.finish(), doctest::Contains("begin() was not called"), Error);
  reducer.begin();
  CHECK_THROWS_WITH_AS(reducer.begin(), doctest::Contains("already armed"), Error);
  sum(used * 2.0).backward();
  reducer.finish();
  CHECK(used.grad().to_vector() == std::vector<double>{2, 2, 2});
  CHECK(unused.grad().to_vector() == std::vector<double>{0, 0});
  CHECK_THROWS_WITH_AS(dist::GradReducer({used, ones({2}, DType::Float64)}, world), doctest::Contains("float64"),
                       Error);
}

FORWARD_CHECK(all_reduce_sum) {
  OneRank world;
  Generator gen(7);
  Tensor x = normal({2, 3}, 0.0, 1.0, gen);
  CHECK(dist::all_reduce_sum(x, world).to_vector() == x.to_vector());  // the sum over one rank
  CHECK(world.sums == 1);
}

GRADCHECK(all_reduce_sum) {
  OneRank world;
  Generator gen(8);
  Tensor x = normal({4}, 0.0, 1.0, gen, DType::Float64).requires_grad_();
  expect_gradcheck([&](const std::vector<Tensor>& in) { return dist::all_reduce_sum(in[0], world); }, {x});
  CHECK(world.sums > 0);  // backward summed the gradient over the ranks too
}

TEST_CASE("sync_batch_norm over one rank is batch_norm: output, running statistics, gradients") {
  OneRank world;
  Generator gen(9);
  Tensor x = normal({4, 3, 5, 2}, 0.5, 2.0, gen, DType::Float64);
  Tensor w = normal({3}, 1.0, 0.2, gen, DType::Float64), b = normal({3}, 0.0, 0.2, gen, DType::Float64);
  Tensor rm1 = normal({3}, 0.0, 1.0, gen, DType::Float64), rv1 = uniform({3}, 0.5, 2.0, gen, DType::Float64);
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
  Tensor y1 = batch_norm(x, w, b, rm1, rv1, true, 0.1, 1e-5);
  Tensor y2 = dist::sync_batch_norm(x, w, b, rm2, rv2, 0.1, 1e-5, world);
  expect_close(y2, y1.to_vector(), 1e-12);
  expect_close(rm2, rm1.to_vector(), 1e-12);
  expect_close(rv2, rv1.to_vector(), 1e-12);
  expect_gradcheck(
      [&](const std::vector<Tensor>& in) {
        Tensor rm = zeros({3}, DType::Float64), rv = ones({3}, DType::Float64);
        return dist::sync_batch_norm(in[0], in[1], in[2], rm, rv, 0.1, 1e-5, world);
      },
      {x.requires_grad_(), w.requires_grad_(), b.requires_grad_()});
}
