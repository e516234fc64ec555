// DataLoader under many workers: 16 threads with a transform that runs ops (so parallel_for is
// entered from many threads at once), epochs restarted, skipped and abandoned mid-flight, errors
// thrown from workers. Part of the normal suite, and of `make test-tsan`, which runs it with
// tests/test_loader.cpp under ThreadSanitizer (soft_tsan_tests).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/data/loader.h"
#include "ops/ops.h"
#include "tests/loader_dataset.h"

using namespace soft;
using namespace soft::data;

namespace {

constexpr int kManyWorkers = 16;

// Sample i: a [3, 16, 16] image of the value i / n, label i % 5.
Dataset ramp_dataset(int64_t n) {
  return test::constant_image_dataset(n, {3, 16, 16}, 5, "ramp",
                                      [n](int64_t i) { return static_cast<float>(i) / static_cast<float>(n); });
}

// A transform of ops on each sample: noise from the sample's Generator, a matmul with a weight
// shared by every worker (read concurrently), and elementwise ops, written back into the batch.
DataLoader::Transform ops_transform(const Tensor& weight) {
  return [weight](Tensor& sample, Generator& gen) {                   // [1, 3, 16, 16]
    Tensor x = sample.reshape({1, 768}) + uniform({1, 768}, 0.0, 0.1, gen);  // [1, 768]
    Tensor mixed = matmul(x, weight);                                        // [1, 768]
    copy_(sample, (relu(mixed) * 0.5 + x).reshape({1, 3, 16, 16}));
  };
}

std::vector<std::vector<double>> epoch_images(DataLoader& dl, int64_t epoch) {
  dl.start_epoch(epoch);
  std::vector<std::vector<double>> out;
  int64_t expect = 0;
  while (auto b = dl.next()) {
    CHECK(b->index == expect++);
    out.push_back(b->images.to_vector());
  }
  return out;
}

}  // namespace

TEST_CASE("loader threads: 16 workers running ops in the transform give the batches of 1 worker") {
  const Dataset ds = ramp_dataset(96);
  Generator wgen(5);
  const Tensor weight = normal({768, 768}, 0.0, 0.03, wgen);
  DataLoader one(ds, {.batch_size = 6, .shuffle = true, .seed = 21, .workers = 1, .prefetch = 1});
  DataLoader many(ds, {.batch_size = 6, .shuffle = true, .seed = 21, .workers = kManyWorkers, .prefetch = 8});
  one.set_transform(ops_transform(weight));
  many.set_transform(ops_transform(weight));
  for (int64_t epoch : {0, 1}) {
    const auto expected = epoch_images(one, epoch);
    REQUIRE(expected.size() == 16);
    CHECK(epoch_images(many, epoch) == expected);
  }
}

TEST_CASE("loader threads: restarting, skipping and abandoning epochs with 16 workers") {
  const Dataset ds = ramp_dataset(200);
  DataLoader dl(ds, {.batch_size = 4, .shuffle = true, .seed = 8, .workers = kManyWorkers, .prefetch = 12});
  for (int64_t round = 0; round < 12; ++round) {
    dl.start_epoch(round % 3);
    for (int64_t i = 0; i < round % 4; ++i) CHECK(dl.next()->index == i);
    const int64_t jump = (round * 7) % dl.batches_per_epoch();
    dl.skip_to(jump);
    if (auto b = dl.next()) CHECK(b->index == jump);
  }  // the last epoch is abandoned with a full queue: the destructor joins the workers
  dl.start_epoch(5);
  int64_t batches = 0;
  while (dl.next()) ++batches;
  CHECK(batches == 50);
}

TEST_CASE("loader threads: the first failing batch reaches next() in order, with 16 workers") {
  const Dataset ds = ramp_dataset(64);
  DataLoader dl(ds, {.batch_size = 2, .seed = 3, .workers = kManyWorkers, .prefetch = 16});
  dl.set_transform([](Tensor& sample, Generator&) {  // in order, sample 2 b holds b / 32 (ramp_dataset)
    const int64_t b = std::lround(sample.data<float>()[0] * 64) / 2;
    if (b % 5 == 3) throw std::runtime_error("batch " + std::to_string(b) + " failed");
  });
  for (int round = 0; round < 3; ++round) {
    dl.start_epoch(round);
    for (int64_t i = 0; i < 3; ++i) CHECK(dl.next()->index == i);
    CHECK_THROWS_WITH_AS(dl.next(), "batch 3 failed", std::runtime_error);
    CHECK_FALSE(dl.next().has_value());
  }
}
