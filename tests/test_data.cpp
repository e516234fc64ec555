// nn/data: MNIST-style IDX files (plain and gzip) and CIFAR-10 binary batches written here, read
// back and compared pixel by pixel; corrupt files must each give a soft::Error naming the file
// and the problem. Also per-channel statistics and normalisation.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "nn/data/cifar.h"
#include "nn/data/idx.h"
#include "tests/temp_dir.h"

using namespace soft;
using soft::test::TempDir;
using namespace soft::data;

namespace {

using Bytes = std::vector<unsigned char>;


Bytes random_bytes(size_t n, unsigned seed, int max = 255) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(0, max);
  Bytes b(n);
  for (auto& v : b) v = static_cast<unsigned char>(dist(gen));
  return b;
}

void put_u32_be(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
}

Bytes idx_file(uint32_t magic, std::initializer_list<uint32_t> dims, const Bytes& data) {
  Bytes b;
  put_u32_be(b, magic);
  for (uint32_t d : dims) put_u32_be(b, d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_plain(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(out.good());
}

void write_gzip(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// Every pixel equals its byte / 255 and every label its byte.
void check_idx(const Dataset& ds, const Bytes& pixels, const Bytes& labels, int64_t n, int64_t rows, int64_t cols) {
  REQUIRE(ds.images.shape() == Shape{n, 1, rows, cols});
  REQUIRE(ds.images.dtype() == DType::Float32);
  REQUIRE(ds.labels.shape() == Shape{n});
  REQUIRE(ds.labels.dtype() == DType::Int64);
  CHECK(ds.num_classes == 10);
  CHECK(ds.size() == n);
  const float* img = ds.images.data<float>();
  for (size_t i = 0; i < pixels.size(); ++i) REQUIRE(img[i] == static_cast<float>(pixels[i]) / 255.0f);
  const int64_t* lab = ds.labels.data<int64_t>();
  for (size_t i = 0; i < labels.size(); ++i) REQUIRE(lab[i] == labels[i]);
}

// `fn` throws a soft::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    FAIL("no error thrown");
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, "'", p, "' not in: ", msg);
  }
}

constexpr int64_t N = 7, R = 5, C = 4;

}  // namespace

TEST_CASE("idx: plain and gzip files round-trip every pixel and label") {
  TempDir dir;
  const Bytes pixels = random_bytes(N * R * C, 1), labels = random_bytes(N, 2, 9);
  write_plain(dir.file("img"), idx_file(0x803, {N, R, C}, pixels));
  write_plain(dir.file("lab"), idx_file(0x801, {N}, labels));
  write_gzip(dir.file("img.gz"), idx_file(0x803, {N, R, C}, pixels));
  write_gzip(dir.file("lab.gz"), idx_file(0x801, {N}, labels));
  check_idx(load_idx_pair(dir.file("img"), dir.file("lab")), pixels, labels, N, R, C);
  check_idx(load_idx_pair(dir.file("img.gz"), dir.file("lab.gz")), pixels, labels, N, R, C);
  check_idx(load_idx_pair(dir.file("img.gz"), dir.file("lab")), pixels, labels, N, R, C);
  // Pixel extremes map to exactly 0 and 1.
  write_plain(dir.file("ext"), idx_file(0x803, {1, 1, 2}, Bytes{0, 255}));
  write_plain(dir.file("extl"), idx_file(0x801, {1}, Bytes{3}));
  const Dataset ext = load_idx_pair(dir.file("ext"), dir.file("extl"));
  CHECK(ext.images.to_vector() == std::vector<double>{0.0, 1.0});
}

TEST_CASE("idx: load_mnist_dir finds train and t10k files, plain or .gz") {
  TempDir dir;
  const std::string root = dir.file("fashion-mnist");
  std::filesystem::create_directory(root);
  const Bytes tp = random_bytes(N * R * C, 3), tl = random_bytes(N, 4, 9);
  const Bytes sp = random_bytes(3 * R * C, 5), sl = random_bytes(3, 6, 9);
  write_gzip(root + "/train-images-idx3-ubyte.gz", idx_file(0x803, {N, R, C}, tp));
  write_gzip(root + "/train-labels-idx1-ubyte.gz", idx_file(0x801, {N}, tl));
  write_plain(root + "/t10k-images.idx3-ubyte", idx_file(0x803, {3, R, C}, sp));  // the other spelling
  write_plain(root + "/t10k-labels-idx1-ubyte", idx_file(0x801, {3}, sl));
  const Dataset train = load_mnist_dir(root, true), test = load_mnist_dir(root + "/", false);
  check_idx(train, tp, tl, N, R, C);
  check_idx(test, sp, sl, 3, R, C);
  CHECK(train.name == "fashion-mnist/train");
  CHECK(test.name == "fashion-mnist/test");
  expect_error([&] { load_mnist_dir(dir.path, true); }, {dir.path, "no such file", "train-images-idx3-ubyte.gz"});
}

TEST_CASE("idx: corrupt files give an error naming the file and the problem") {
  TempDir dir;
  const Bytes pixels = random_bytes(N * R * C, 7), labels = random_bytes(N, 8, 9);
  const std::string img = dir.file("img"), lab = dir.file("lab"), bad = dir.file("bad");
  write_plain(img, idx_file(0x803, {N, R, C}, pixels));
  write_plain(lab, idx_file(0x801, {N}, labels));

  SUBCASE("missing file") {
    expect_error([&] { load_idx_pair(dir.file("nope"), lab); }, {dir.file("nope"), "no such file"});
    expect_error([&] { load_idx_pair(img, dir.file("nope")); }, {dir.file("nope"), "no such file"});
  }
  SUBCASE("wrong magic") {
    expect_error([&] { load_idx_pair(lab, lab); }, {lab, "wrong magic 0x00000801", "0x00000803"});
    expect_error([&] { load_idx_pair(img, img); }, {img, "wrong magic 0x00000803", "0x00000801"});
  }
  SUBCASE("truncated data, plain and gzip") {
    Bytes cut = idx_file(0x803, {N, R, C}, pixels);
    cut.resize(cut.size() - 1);
    write_plain(bad, cut);
    expect_error([&] { load_idx_pair(bad, lab); }, {bad, "truncated", "[7, 5, 4]", "139"});
    write_gzip(bad + ".gz", cut);
    expect_error([&] { load_idx_pair(bad + ".gz", lab); }, {bad + ".gz", "truncated"});
    Bytes cut_labels = idx_file(0x801, {N}, labels);
    cut_labels.resize(cut_labels.size() - 2);
    write_plain(bad, cut_labels);
    expect_error([&] { load_idx_pair(img, bad); }, {bad, "truncated"});
  }
  SUBCASE("truncated header") {
    write_plain(bad, Bytes{0, 0, 8});
    expect_error([&] { load_idx_pair(bad, lab); }, {bad, "truncated header"});
    write_plain(bad, idx_file(0x803, {N, R}, {}));
    expect_error([&] { load_idx_pair(bad, lab); }, {bad, "truncated header", "column count"});
  }
  SUBCASE("trailing bytes") {
    Bytes extra = idx_file(0x801, {N}, labels);
    extra.push_back(1);
    write_plain(bad, extra);
    expect_error([&] { load_idx_pair(img, bad); }, {bad, "trailing bytes"});
  }
  SUBCASE("huge dims claim is refused before allocating") {
    write_plain(bad, idx_file(0x803, {0xffffffffu, 0xffffffffu, 0xffffffffu}, Bytes(16, 0)));
    expect_error([&] { load_idx_pair(bad, lab); }, {bad, "2^34", "refusing"});
    write_plain(bad, idx_file(0x803, {1u << 20, 1u << 10, 1u << 10}, Bytes(16, 0)));  // 2^40 pixels
    expect_error([&] { load_idx_pair(bad, lab); }, {bad, "2^34"});
    // Just under the limit but truncated: reported as truncated, without a 16 GiB allocation.
    write_plain(bad, idx_file(0x803, {1u << 14, 1u << 10, 1u << 10}, Bytes(16, 0)));
    expect_error([&] { load_idx_pair(bad, lab); }, {bad, "truncated"});
  }
  SUBCASE("mismatched image and label counts") {
    write_plain(bad, idx_file(0x801, {N - 1}, Bytes(labels.begin(), labels.end() - 1)));
    expect_error([&] { load_idx_pair(img, bad); }, {img, bad, "mismatched counts", "7 images", "6 labels"});
  }
  SUBCASE("label out of range") {
    Bytes l = labels;
    l[4] = 10;
    write_plain(bad, idx_file(0x801, {N}, l));
    expect_error([&] { load_idx_pair(img, bad); }, {bad, "bad label 10", "index 4"});
  }
  SUBCASE("not gzip and not IDX") {
    write_plain(bad, Bytes{0x1f, 0x8b, 8, 0, 1, 2, 3});  // a gzip magic then garbage
    expect_error([&] { load_idx_pair(bad, lab); }, {bad});
  }
}

namespace {

// A CIFAR-10 batch of `n` records with labels 0..9 and random pixels.
Bytes cifar_batch(int64_t n, unsigned seed) {
  Bytes b = random_bytes(n * 3073, seed);
  for (int64_t r = 0; r < n; ++r) b[r * 3073] = static_cast<unsigned char>((r + seed) % 10);
  return b;
}

// image[n, c, y, x] == record byte 1 + c*1024 + y*32 + x, over the concatenated batches.
void check_cifar(const Dataset& ds, const std::vector<Bytes>& batches) {
  int64_t total = 0;
  for (const Bytes& b : batches) total += static_cast<int64_t>(b.size()) / 3073;
  REQUIRE(ds.images.shape() == Shape{total, 3, 32, 32});
  REQUIRE(ds.labels.shape() == Shape{total});
  CHECK(ds.num_classes == 10);
  const float* img = ds.images.data<float>();
  const int64_t* lab = ds.labels.data<int64_t>();
  int64_t row = 0;
  for (const Bytes& b : batches)
    for (size_t r = 0; r < b.size() / 3073; ++r, ++row) {
      REQUIRE(lab[row] == b[r * 3073]);
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 32; ++y)
          for (int64_t x = 0; x < 32; ++x)
            REQUIRE(img[((row * 3 + c) * 32 + y) * 32 + x] ==
                    static_cast<float>(b[r * 3073 + 1 + c * 1024 + y * 32 + x]) / 255.0f);
    }
}

}  // namespace

TEST_CASE("cifar10: train and test batches round-trip every pixel and label") {
  TempDir dir;
  std::vector<Bytes> train;
  const int64_t counts[5] = {2, 1, 3, 1, 2};
  for (int i = 0; i < 5; ++i) {
    train.push_back(cifar_batch(counts[i], 10 + i));
    write_plain(dir.file("data_batch_" + std::to_string(i + 1) + ".bin"), train.back());
  }
  const Bytes test = cifar_batch(3, 20);
  write_plain(dir.file("test_batch.bin"), test);
  const Dataset tr = load_cifar10_dir(dir.path, true);
  check_cifar(tr, train);
  CHECK(tr.name == "cifar10/train");
  check_cifar(load_cifar10_dir(dir.path, false), {test});

  // The tarball's layout: dir/cifar-10-batches-bin/*.bin.
  TempDir outer;
  const std::string sub = outer.file("cifar-10-batches-bin");
  std::filesystem::create_directory(sub);
  write_plain(sub + "/test_batch.bin", test);
  check_cifar(load_cifar10_dir(outer.path, false), {test});
}

TEST_CASE("cifar10: corrupt batches give an error naming the file and the problem") {
  TempDir dir;
  for (int i = 1; i <= 5; ++i)
    if (i != 3) write_plain(dir.file("data_batch_" + std::to_string(i) + ".bin"), cifar_batch(1, i));
  expect_error([&] { load_cifar10_dir(dir.path, true); }, {dir.file("data_batch_3.bin"), "no such file"});
  expect_error([&] { load_cifar10_dir(dir.path, false); }, {dir.file("test_batch.bin"), "no such file"});

  Bytes cut = cifar_batch(2, 30);
  cut.pop_back();
  write_plain(dir.file("test_batch.bin"), cut);
  expect_error([&] { load_cifar10_dir(dir.path, false); },
               {dir.file("test_batch.bin"), "6145", "not a multiple of the 3073"});

  Bytes bad = cifar_batch(3, 31);
  bad[2 * 3073] = 10;
  write_plain(dir.file("test_batch.bin"), bad);
  expect_error([&] { load_cifar10_dir(dir.path, false); }, {dir.file("test_batch.bin"), "bad label 10", "record 2"});
}

TEST_CASE("data: channel_stats and normalize_") {
  Dataset ds;
  ds.name = "toy";
  std::vector<double> v(2 * 3 * 2 * 2);  // [2, 3, 2, 2]
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 7) % 11) / 10.0;
  ds.images = Tensor::from_vector(v, {2, 3, 2, 2});
  const ChannelStats s = channel_stats(ds);
  REQUIRE(s.mean.size() == 3);
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t j = 0; j < 4; ++j) {
        const double x = static_cast<float>(v[(n * 3 + c) * 4 + j]);
        sum += x;
        sq += x * x;
      }
    const double m = sum / 8, sd = std::sqrt(sq / 8 - m * m);
    CHECK(s.mean[c] == doctest::Approx(m).epsilon(1e-12));
    CHECK(s.std[c] == doctest::Approx(sd).epsilon(1e-9));
  }
  normalize_(ds, s.mean, s.std);
  const ChannelStats after = channel_stats(ds);
  for (int64_t c = 0; c < 3; ++c) {
    CHECK(std::abs(after.mean[c]) < 1e-6);
    CHECK(after.std[c] == doctest::Approx(1.0).epsilon(1e-5));
  }
  expect_error([&] { normalize_(ds, {0.5}, {0.2}); }, {"normalize_", "toy", "3 channels"});
  expect_error([&] { normalize_(ds, {0, 0, 0}, {1, 0, 1}); }, {"normalize_", "std[1]"});
}
