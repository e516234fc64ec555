// The trainer's data augmentation (nn/data): random erasing (timm's RandomErasing), random crop
// with padding plus horizontal flip, and the DataLoader over a SampleSource (images made on demand).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "core/random.h"
#include "nn/data/crop_flip.h"
#include "nn/data/loader.h"
#include "nn/data/random_erasing.h"

using namespace soft;
using namespace soft::data;

namespace {

// [B, C, H, W] with every value distinct and far from N(0, 1) noise: 100 + flat index.
Tensor ramp_images(int64_t B, int64_t C, int64_t H, int64_t W) {
  Tensor t = Tensor::empty({B, C, H, W}, DType::Float32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = 100.0f + static_cast<float>(i);
  return t;
}

bool inside(const ErasedBox& b, int64_t y, int64_t x) {
  return y >= b.top && y < b.top + b.height && x >= b.left && x < b.left + b.width;
}

}  // namespace

TEST_CASE("random erasing: boxes inside the image, of the configured area and aspect, noise only inside") {
  const int64_t B = 200, C = 3, H = 40, W = 32;
  Tensor original = ramp_images(B, C, H, W);
  Tensor images = original.clone();
  RandomErasingConfig cfg;
  cfg.prob = 1.0;
  Generator gen(7);
  std::vector<ErasedBox> boxes = random_erase_(images, cfg, gen);
  CHECK(boxes.size() >= B * 9 / 10);  // 10 tries almost always place a box at this size
  std::vector<const ErasedBox*> box_of(B, nullptr);
  for (const ErasedBox& b : boxes) {
    REQUIRE(b.image >= 0);
    REQUIRE(b.image < B);
    CHECK(box_of[b.image] == nullptr);  // one box per image (count 1)
    box_of[b.image] = &b;
    CHECK(b.top >= 0);
    CHECK(b.left >= 0);
    CHECK(b.top + b.height <= H);
    CHECK(b.left + b.width <= W);
    CHECK(b.height < H);
    CHECK(b.width < W);
    // h = round(sqrt(area * aspect)), w = round(sqrt(area / aspect)) with area in [0.02, 1/3] of the
    // image and aspect in [0.3, 1/0.3]: each side is within half a pixel of its exact value.
    const double h = static_cast<double>(b.height), w = static_cast<double>(b.width);
    CHECK((h + 0.5) * (w + 0.5) >= 0.02 * H * W);
    CHECK((h - 0.5) * (w - 0.5) <= H * W / 3.0);
    CHECK((h + 0.5) / (w - 0.5) >= 0.3);
    CHECK((h - 0.5) / (w + 0.5) <= 1 / 0.3);
  }
  // Outside the boxes nothing changed; inside, every value is replaced by N(0, 1) noise.
  double sum = 0, sq = 0;
  int64_t n = 0;
  const float* a = original.data<float>();
  const float* e = images.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const int64_t i = ((b * C + c) * H + y) * W + x;
          if (box_of[b] && inside(*box_of[b], y, x)) {
            CHECK(std::fabs(e[i]) < 10.0f);  // the ramp is >= 100, the noise is not
            sum += e[i];
            sq += static_cast<double>(e[i]) * e[i];
            ++n;
          } else {
            CHECK(e[i] == a[i]);
          }
        }
  REQUIRE(n > 10000);
  const double mean = sum / static_cast<double>(n), var = sq / static_cast<double>(n) - mean * mean;
  CHECK(std::fabs(mean) < 0.05);
  CHECK(std::fabs(var - 1.0) < 0.05);
}

TEST_CASE("random erasing: the probability, the modes and the seed") {
  const int64_t B = 4000;
  Tensor images = ramp_images(B, 1, 16, 16);
  RandomErasingConfig cfg;  // prob 0.25, as the SOFT recipe
  Generator gen(3);
  std::vector<ErasedBox> boxes = random_erase_(images, cfg, gen);
  // Each image is erased with p = 0.25 (and a box then almost always fits): binomial sd ~ 0.007.
  CHECK(std::fabs(static_cast<double>(boxes.size()) / B - 0.25) < 0.03);

  cfg.prob = 0.0;
  Tensor untouched = ramp_images(8, 1, 16, 16);
  Generator g0(1);
  CHECK(random_erase_(untouched, cfg, g0).empty());
  CHECK(untouched.to_vector() == ramp_images(8, 1, 16, 16).to_vector());

  cfg.prob = 1.0;
  for (auto mode : {RandomErasingConfig::Mode::Const, RandomErasingConfig::Mode::Rand}) {
    Tensor t = ramp_images(50, 2, 16, 16);
    cfg.mode = mode;
    Generator g(11);
    for (const ErasedBox& b : random_erase_(t, cfg, g))
      for (int64_t c = 0; c < 2; ++c) {
        std::set<float> values;
        for (int64_t y = b.top; y < b.top + b.height; ++y)
          for (int64_t x = b.left; x < b.left + b.width; ++x)
            values.insert(t.data<float>()[((b.image * 2 + c) * 16 + y) * 16 + x]);
        REQUIRE(values.size() == 1);  // one value per channel and box
        if (mode == RandomErasingConfig::Mode::Const) CHECK(*values.begin() == 0.0f);
        else CHECK(std::fabs(*values.begin()) < 10.0f);
      }
  }

  // Same seed, same result; another seed, another.
  cfg = RandomErasingConfig{};
  cfg.prob = 0.5;
  Tensor x1 = ramp_images(64, 3, 12, 12), x2 = ramp_images(64, 3, 12, 12), x3 = ramp_images(64, 3, 12, 12);
  Generator a(5), b(5), c(6);
  random_erase_(x1, cfg, a);
  random_erase_(x2, cfg, b);
  random_erase_(x3, cfg, c);
  CHECK(x1.to_vector() == x2.to_vector());
  CHECK(x1.to_vector() != x3.to_vector());
  CHECK(parse_erasing_mode("pixel") == RandomErasingConfig::Mode::Pixel);
  CHECK_THROWS_WITH_AS(parse_erasing_mode("blur"), doctest::Contains("unknown mode 'blur'"), Error);
}

TEST_CASE("crop and flip: each image is a shifted window of its padded self, maybe mirrored") {
  const int64_t B = 400, C = 2, H = 5, W = 6, pad = 2;
  Tensor original = ramp_images(B, C, H, W);
  Tensor images = original.clone();
  CropFlipConfig cfg{pad, true, {-1.0f, -2.0f}};
  Generator gen(9);
  random_crop_flip_(images, cfg, gen);
  const float* a = original.data<float>();
  const float* o = images.data<float>();
  int flips = 0;
  std::set<std::pair<int64_t, int64_t>> shifts;
  for (int64_t b = 0; b < B; ++b) {
    // Find the (dy, dx, flip) that explains the image: out[c][y][x] = padded[c][y + dy][x' + dx].
    int found = 0;
    for (int flip = 0; flip < 2; ++flip)
      for (int64_t dy = -pad; dy <= pad; ++dy)
        for (int64_t dx = -pad; dx <= pad; ++dx) {
          bool match = true;
          for (int64_t c = 0; c < C && match; ++c)
            for (int64_t y = 0; y < H && match; ++y)
              for (int64_t x = 0; x < W && match; ++x) {
                const int64_t sy = y + dy, sx = (flip ? W - 1 - x : x) + dx;
                const float want = sy >= 0 && sy < H && sx >= 0 && sx < W ? a[((b * C + c) * H + sy) * W + sx]
                                                                          : cfg.fill[c];
                match = o[((b * C + c) * H + y) * W + x] == want;
              }
          if (match) {
            ++found;
            flips += flip;
            shifts.insert({dy, dx});
          }
        }
    CHECK(found == 1);
  }
  CHECK(std::abs(flips - B / 2) < B / 8);
  CHECK(shifts.size() == 25);  // every offset in [-2, 2]^2 occurs
}

TEST_CASE("loader: a SampleSource gives each sample its own generator, whatever the worker count") {
  // Sample i is [1, 2, 2] filled with i plus one uniform draw from its generator.
  SampleSource source;
  source.size = 23;
  source.name = "made";
  source.load = [](int64_t i, Generator& gen) {
    const double u = uniform({1}, 0.0, 0.5, gen, DType::Float64).item();
    Tensor t = Tensor::empty({1, 2, 2}, DType::Float32);
    for (int k = 0; k < 4; ++k) t.data<float>()[k] = static_cast<float>(static_cast<double>(i) + u);
    return std::make_pair(t, i % 5);
  };
  auto epoch = [&](int workers) {
    DataLoader loader(source, {.batch_size = 4, .shuffle = true, .seed = 42, .workers = workers});
    loader.start_epoch(2);
    std::vector<std::vector<double>> out;
    std::set<int64_t> seen;
    while (auto b = loader.next()) {
      REQUIRE(b->images.shape() == Shape{b->labels.size(0), 1, 2, 2});
      for (int64_t j = 0; j < b->labels.size(0); ++j) {
        const int64_t i = static_cast<int64_t>(std::floor(b->images.data<float>()[j * 4]));
        CHECK(b->labels.data<int64_t>()[j] == i % 5);
        seen.insert(i);
      }
      out.push_back(b->images.to_vector());
    }
    CHECK(seen.size() == 23);
    return out;
  };
  std::vector<std::vector<double>> one = epoch(1), three = epoch(3);
  CHECK(one.size() == 6);
  CHECK(one == three);

  SampleSource bad = source;
  bad.load = [](int64_t i, Generator&) { return std::make_pair(Tensor::empty({1, 2, i == 3 ? 3 : 2}), int64_t{0}); };
  DataLoader loader(bad, {.batch_size = 8, .seed = 1});
  loader.start_epoch(0);
  CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("sample 3 has shape [1, 2, 3]"), Error);
}
