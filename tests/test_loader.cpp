// nn/data: DataLoader (order, coverage, drop_last, determinism across worker counts, skip_to,
// worker errors, shutdown mid-epoch) and the synthetic dataset.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/data/loader.h"
#include "nn/data/synthetic.h"
#include "ops/ops.h"
#include "tests/loader_dataset.h"

using namespace soft;
using namespace soft::data;

namespace {

// Image i is filled with the value i (and label i % 3), so each batch reveals which samples it holds.
Dataset index_dataset(int64_t n) {
  return test::constant_image_dataset(n, {2, 2, 3}, 3, "index", [](int64_t i) { return static_cast<float>(i); });
}

// Every batch of one epoch: its sample indices (read back from the images) and its values.
struct Epoch {
  std::vector<std::vector<int64_t>> samples;
  std::vector<std::vector<double>> images, labels;
};

Epoch collect(DataLoader& dl, int64_t first = 0) {
  Epoch e;
  int64_t expect = first;
  while (auto b = dl.next()) {
    CHECK(b->index == expect++);
    const int64_t bs = b->images.size(0);
    REQUIRE(b->labels.size(0) == bs);
    std::vector<int64_t> s;
    for (int64_t i = 0; i < bs; ++i) s.push_back(static_cast<int64_t>(std::lround(b->images.data<float>()[i * 12])));
    e.samples.push_back(s);
    e.images.push_back(b->images.to_vector());
    e.labels.push_back(b->labels.to_vector());
  }
  return e;
}

std::vector<int64_t> flatten(const Epoch& e) {
  std::vector<int64_t> all;
  for (const auto& s : e.samples) all.insert(all.end(), s.begin(), s.end());
  return all;
}

// Adds noise drawn from the sample's Generator: the result depends on the seed the loader gives.
void noisy(Tensor& sample, Generator& g) {  // [1, C, H, W]
  Tensor z = uniform(sample.shape(), 0.0, 0.25, g);
  float* p = sample.data<float>();
  const float* q = z.data<float>();
  for (int64_t i = 0; i < sample.numel(); ++i) p[i] += q[i];
}

}  // namespace

TEST_CASE("loader: each sample exactly once per epoch, labels follow the images") {
  Dataset ds = index_dataset(23);
  for (bool shuffle : {false, true}) {
    DataLoader dl(ds, {.batch_size = 5, .shuffle = shuffle, .seed = 7, .workers = 2, .prefetch = 2});
    CHECK(dl.batches_per_epoch() == 5);
    dl.start_epoch(0);
    Epoch e = collect(dl);
    REQUIRE(e.samples.size() == 5);
    CHECK(e.samples.back().size() == 3);
    std::vector<int64_t> all = flatten(e), seen(23, 0);
    for (int64_t k : all) ++seen[static_cast<size_t>(k)];
    for (int64_t c : seen) CHECK(c == 1);
    for (size_t b = 0; b < e.samples.size(); ++b)
      for (size_t i = 0; i < e.samples[b].size(); ++i) CHECK(e.labels[b][i] == static_cast<double>(e.samples[b][i] % 3));
    if (!shuffle)
      for (int64_t i = 0; i < 23; ++i) CHECK(all[static_cast<size_t>(i)] == i);
    CHECK_FALSE(dl.next().has_value());  // stays at the end
  }
}

TEST_CASE("loader: drop_last drops the short final batch") {
  Dataset ds = index_dataset(23);
  DataLoader dl(ds, {.batch_size = 5, .shuffle = true, .drop_last = true, .seed = 3});
  CHECK(dl.batches_per_epoch() == 4);
  dl.start_epoch(1);
  Epoch e = collect(dl);
  REQUIRE(e.samples.size() == 4);
  for (const auto& s : e.samples) CHECK(s.size() == 5);
  DataLoader exact(index_dataset(20), {.batch_size = 5, .drop_last = true, .seed = 3});
  CHECK(exact.batches_per_epoch() == 4);
  DataLoader tiny(index_dataset(3), {.batch_size = 5, .drop_last = true, .seed = 3});
  CHECK(tiny.batches_per_epoch() == 0);
  tiny.start_epoch(0);
  CHECK_FALSE(tiny.next().has_value());
}

TEST_CASE("loader: order is a function of seed and epoch only") {
  Dataset ds = index_dataset(40);
  const LoaderOptions seed11{.batch_size = 8, .shuffle = true, .seed = 11};
  DataLoader a(ds, seed11), b(ds, seed11), c(ds, {.batch_size = 8, .shuffle = true, .seed = 12});
  a.start_epoch(0);
  a.next();  // consuming part of an epoch must not change the next one
  a.start_epoch(3);
  b.start_epoch(3);
  c.start_epoch(3);
  std::vector<int64_t> oa = flatten(collect(a)), ob = flatten(collect(b)), oc = flatten(collect(c));
  CHECK(oa == ob);
  CHECK(oa != oc);
  b.start_epoch(4);
  CHECK(flatten(collect(b)) != ob);
  a.start_epoch(3);  // replaying an epoch gives it again
  CHECK(flatten(collect(a)) == oa);
}

TEST_CASE("loader: identical batches for 1, 2 and 4 workers, with a random transform") {
  Dataset ds = index_dataset(37);
  std::vector<Epoch> runs;
  for (int workers : {1, 2, 4}) {
    const int prefetch = workers == 4 ? 1 : 3;
    DataLoader dl(ds, {.batch_size = 4, .shuffle = true, .seed = 5, .workers = workers, .prefetch = prefetch});
    dl.set_transform(noisy);
    dl.start_epoch(2);
    runs.push_back(collect(dl));
  }
  REQUIRE(runs[0].images.size() == 10);
  for (size_t r = 1; r < runs.size(); ++r) {
    CHECK(runs[r].images == runs[0].images);
    CHECK(runs[r].labels == runs[0].labels);
  }
  // The transform really drew noise, and differently per sample.
  CHECK(runs[0].images[0][0] != std::floor(runs[0].images[0][0]));
  CHECK(runs[0].images[0][0] - std::floor(runs[0].images[0][0]) !=
        runs[0].images[1][0] - std::floor(runs[0].images[1][0]));
}

TEST_CASE("loader: pin_memory gives identical batches, pinned exactly where pinned memory is available") {
  // In a build without CUDA (or on a machine without a GPU) the request falls back to ordinary
  // memory; on a GPU machine the batches are pinned. The values are the same either way.
  Dataset ds = index_dataset(37);
  SampleSource made;
  made.size = 19;
  made.name = "made";
  made.load = [](int64_t i, Generator&) { return std::make_pair(full({2, 2, 3}, static_cast<double>(i)), i % 3); };
  for (bool from_source : {false, true}) {
    std::vector<Epoch> runs;
    for (bool pin : {false, true}) {
      LoaderOptions o{.batch_size = 4, .shuffle = true, .seed = 5, .workers = 2};
      o.pin_memory = pin;
      auto loader = from_source ? std::make_unique<DataLoader>(made, o) : std::make_unique<DataLoader>(ds, o);
      DataLoader& dl = *loader;
      dl.set_transform(noisy);
      dl.start_epoch(1);
      auto first = dl.next();
      REQUIRE(first);
      CHECK(first->images.is_pinned() == (pin && pinned_memory_available()));
      CHECK(first->labels.is_pinned() == (pin && pinned_memory_available()));
      CHECK(first->images.device().is_cpu());
      dl.start_epoch(1);
      runs.push_back(collect(dl));
    }
    REQUIRE(runs[0].images.size() == (from_source ? 5u : 10u));
    CHECK(runs[1].images == runs[0].images);
    CHECK(runs[1].labels == runs[0].labels);
  }
}

TEST_CASE("loader: skip_to gives the same remaining batches as consuming them") {
  Dataset ds = index_dataset(30);
  DataLoader full(ds, {.batch_size = 4, .shuffle = true, .seed = 9, .workers = 2});
  DataLoader resumed(ds, {.batch_size = 4, .shuffle = true, .seed = 9, .workers = 3});
  full.set_transform(noisy);
  resumed.set_transform(noisy);
  full.start_epoch(1);
  for (int i = 0; i < 3; ++i) full.next();
  Epoch rest = collect(full, 3);
  resumed.start_epoch(1);
  resumed.next();  // a partly consumed epoch, then a jump forward
  resumed.skip_to(3);
  std::vector<std::vector<double>> got;
  int64_t expect = 3;
  while (auto b = resumed.next()) {
    CHECK(b->index == expect++);
    got.push_back(b->images.to_vector());
  }
  CHECK(got == rest.images);
  resumed.skip_to(resumed.batches_per_epoch());
  CHECK_FALSE(resumed.next().has_value());
  CHECK_THROWS_WITH_AS(resumed.skip_to(9), doctest::Contains("skip_to"), Error);
}

TEST_CASE("loader: an exception in the transform reaches next()") {
  Dataset ds = index_dataset(20);
  for (int workers : {1, 3}) {
    DataLoader dl(ds, {.batch_size = 4, .seed = 1, .workers = workers, .prefetch = 2});
    dl.set_transform([](Tensor& sample, Generator&) {  // in order, batch 2 holds samples 8..11
      if (sample.data<float>()[0] == 9.0f) throw std::runtime_error("augment failed on batch 2");
    });
    dl.start_epoch(0);
    CHECK(dl.next()->index == 0);
    CHECK(dl.next()->index == 1);
    CHECK_THROWS_WITH_AS(dl.next(), "augment failed on batch 2", std::runtime_error);
    CHECK_FALSE(dl.next().has_value());  // the epoch ended with the error
    dl.start_epoch(1);                   // and a new one starts cleanly
    CHECK(dl.next()->index == 0);
  }
}

TEST_CASE("loader: destroying or restarting mid-epoch does not hang") {
  Dataset ds = index_dataset(200);
  for (int workers : {1, 4}) {
    DataLoader dl(ds, {.batch_size = 2, .shuffle = true, .seed = 4, .workers = workers, .prefetch = 3});
    dl.start_epoch(0);
    dl.next();
    dl.start_epoch(1);  // abandons epoch 0 with batches still queued
    CHECK(dl.next()->index == 0);
  }  // destroyed with workers blocked on a full queue
  {
    DataLoader never(ds, {.batch_size = 2, .shuffle = true, .seed = 4, .workers = 4});
    never.start_epoch(0);
  }  // destroyed before anything was taken
  DataLoader unused(ds, {.batch_size = 2, .shuffle = true, .seed = 4});
  CHECK_THROWS_WITH_AS(unused.next(), doctest::Contains("start_epoch"), Error);
}

TEST_CASE("loader: ranks' shares of every batch, put together, are one process's batch") {
  Dataset ds = index_dataset(38);  // the last batch of 8 is short: 6 samples
  for (bool drop_last : {false, true}) {
    LoaderOptions one{.batch_size = 8, .shuffle = true, .drop_last = drop_last, .seed = 4, .workers = 2};
    DataLoader single(ds, one);
    single.set_transform(noisy);
    single.start_epoch(3);
    const Epoch whole = collect(single);
    for (int world : {2, 3}) {
      std::vector<Epoch> shares;
      for (int rank = 0; rank < world; ++rank) {
        LoaderOptions o = one;
        o.rank = rank;
        o.world_size = world;
        DataLoader dl(ds, o);
        dl.set_transform(noisy);
        CHECK(dl.batches_per_epoch() == single.batches_per_epoch());
        dl.start_epoch(3);
        shares.push_back(collect(dl));
      }
      for (size_t b = 0; b < whole.samples.size(); ++b) {
        std::vector<double> images, labels;
        for (const Epoch& s : shares) {
          REQUIRE(s.samples.size() == whole.samples.size());
          const size_t expected = whole.samples[b].size() / static_cast<size_t>(world);
          CHECK(s.samples[b].size() >= expected);  // as even as it goes
          CHECK(s.samples[b].size() <= expected + 1);
          images.insert(images.end(), s.images[b].begin(), s.images[b].end());
          labels.insert(labels.end(), s.labels[b].begin(), s.labels[b].end());
        }
        CHECK(images == whole.images[b]);  // the same samples, transforms included
        CHECK(labels == whole.labels[b]);
      }
    }
  }
}

TEST_CASE("loader: repeated augmentation puts each image's copies on different ranks, every copy transformed") {
  Dataset ds = index_dataset(48);
  LoaderOptions o{.batch_size = 12, .shuffle = true, .drop_last = true, .seed = 6, .repeats = 3};
  for (int world : {1, 3}) {
    std::map<int64_t, std::set<int>> ranks_of;  // image -> the ranks that got a copy
    std::map<int64_t, std::set<double>> views;  // image -> its copies' first pixel (noise differs per copy)
    int64_t samples = 0;
    for (int rank = 0; rank < world; ++rank) {
      o.rank = rank;
      o.world_size = world;
      DataLoader dl(ds, o);
      dl.set_transform(noisy);
      dl.start_epoch(1);
      Epoch e = collect(dl);
      for (size_t b = 0; b < e.samples.size(); ++b)
        for (size_t i = 0; i < e.samples[b].size(); ++i) {
          ranks_of[e.samples[b][i]].insert(rank);
          views[e.samples[b][i]].insert(e.images[b][i * 12]);
          ++samples;
        }
    }
    CHECK(samples == 48);        // the epoch keeps its length
    CHECK(ranks_of.size() == 16);  // 48 / 3 distinct images
    for (const auto& [image, copies] : views) CHECK(copies.size() == 3);
    if (world == 3)
      for (const auto& [image, ranks] : ranks_of) CHECK(ranks.size() == 3);  // one copy on each rank
  }
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 12, .repeats = 3}), doctest::Contains("needs shuffle"), Error);
}

TEST_CASE("loader: bad arguments throw") {
  Dataset ds = index_dataset(4);
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 0}), doctest::Contains("batch_size"), Error);
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 2, .seed = 0, .workers = 0}), doctest::Contains("workers"), Error);
  Dataset bad = ds;
  bad.labels = Tensor::empty({3}, DType::Int64);
  CHECK_THROWS_WITH_AS(DataLoader(bad, {.batch_size = 2}), doctest::Contains("labels"), Error);
}

TEST_CASE("synthetic dataset: shapes, balanced labels, determinism, learnable classes") {
  Dataset a = synthetic_dataset(60, 3, 4, 5, 4, 42), b = synthetic_dataset(60, 3, 4, 5, 4, 42),
          c = synthetic_dataset(60, 3, 4, 5, 4, 43);
  CHECK(a.images.shape() == Shape{60, 3, 4, 5});
  CHECK(a.images.dtype() == DType::Float32);
  CHECK(a.labels.shape() == Shape{60});
  CHECK(a.labels.dtype() == DType::Int64);
  CHECK(a.num_classes == 4);
  CHECK(a.images.to_vector() == b.images.to_vector());
  CHECK(a.labels.to_vector() == b.labels.to_vector());
  CHECK(a.images.to_vector() != c.images.to_vector());
  std::vector<int64_t> count(4, 0);
  for (double y : a.labels.to_vector()) ++count[static_cast<size_t>(y)];
  for (int64_t k : count) CHECK(k == 15);
  for (double v : a.images.to_vector()) CHECK((v >= 0.0 && v <= 1.0));
  // Nearest class centroid separates the classes: the labels are learnable from the images.
  const int64_t per = 60;
  std::vector<double> x = a.images.to_vector(), y = a.labels.to_vector(), cent(4 * per, 0.0);
  for (int64_t i = 0; i < 60; ++i)
    for (int64_t j = 0; j < per; ++j) cent[static_cast<size_t>(y[i] * per + j)] += x[i * per + j] / 15.0;
  int64_t correct = 0;
  for (int64_t i = 0; i < 60; ++i) {
    int64_t best = -1;
    double best_d = 1e30;
    for (int64_t k = 0; k < 4; ++k) {
      double d = 0;
      for (int64_t j = 0; j < per; ++j) d += std::pow(x[i * per + j] - cent[k * per + j], 2);
      if (d < best_d) best_d = d, best = k;
    }
    correct += best == static_cast<int64_t>(y[i]);
  }
  CHECK(correct == 60);
}
