// Image decoding (JPEG, PNG) and ImageFolder: files of known content are written with libjpeg
// and libpng into a scratch directory, then decoded, indexed and transformed.
#include <doctest/doctest.h>

// clang-format off
#include <cstdio>
#include <jpeglib.h>
#include <png.h>
// clang-format on

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "nn/data/image_decode.h"
#include "nn/data/image_folder.h"
#include "tests/png_writer.h"
#include "temp_dir.h"

using namespace soft;
using namespace soft::data;
using soft::test::write_png;
using soft::test::TempDir;

namespace {

// Only the signature and an IHDR claiming w x h (valid CRC), then the end of the file.
void write_png_header(const std::string& path, int w, int h) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

void write_jpeg(const std::string& path, int w, int h, const std::vector<uint8_t>& rgb) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(rgb.data()) + c.next_scanline * w * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

std::vector<uint8_t> solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> px;
  for (int i = 0; i < w * h; ++i) px.insert(px.end(), {r, g, b});
  return px;
}

std::vector<uint8_t> gradient(int w, int h) {  // 8x6: every pixel distinct
  std::vector<uint8_t> px;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      px.insert(px.end(), {uint8_t(x * 30), uint8_t(y * 40), uint8_t(255 - x * 10 - y * 5)});
  return px;
}

std::vector<uint8_t> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void check_error_names_file(const std::string& path, const std::string& what) {
  try {
    decode_image(path);
    FAIL("no error for ", path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
    CHECK_MESSAGE(msg.find(what) != std::string::npos, msg);
  }
}

}  // namespace

TEST_CASE("image_decode: PNG round-trips exactly, grey PNG becomes RGB") {
  TempDir dir;
  const auto px = gradient(8, 6);
  write_png(dir.file("g.png"), 8, 6, 3, px);
  const Image img = decode_image(dir.file("g.png"));
  CHECK(img.width == 8);
  CHECK(img.height == 6);
  CHECK(img.rgb == px);

  std::vector<uint8_t> grey;
  for (int i = 0; i < 20; ++i) grey.push_back(uint8_t(i * 12));
  write_png(dir.file("grey.png"), 5, 4, 1, grey);
  const Image g = decode_image(dir.file("grey.png"));
  REQUIRE(g.rgb.size() == 60);
  for (int i = 0; i < 20; ++i)
    for (int c = 0; c < 3; ++c) CHECK(g.rgb[i * 3 + c] == grey[i]);
}

TEST_CASE("image_decode: JPEG of solid colours, detected by magic bytes not extension") {
  TempDir dir;
  write_jpeg(dir.file("red.png"), 16, 8, solid(16, 8, 200, 30, 60));  // misleading extension
  const Image img = decode_image(dir.file("red.png"));
  CHECK(img.width == 16);
  CHECK(img.height == 8);
  for (int i = 0; i < 16 * 8; ++i) {
    CHECK(std::abs(int(img.rgb[i * 3]) - 200) <= 3);
    CHECK(std::abs(int(img.rgb[i * 3 + 1]) - 30) <= 3);
    CHECK(std::abs(int(img.rgb[i * 3 + 2]) - 60) <= 3);
  }
}

TEST_CASE("image_decode: bad files give an error naming the file") {
  TempDir dir;
  check_error_names_file(dir.file("missing.jpg"), "no such file");
  write_bytes(dir.file("text.jpg"), {'h', 'e', 'l', 'l', 'o'});
  check_error_names_file(dir.file("text.jpg"), "unknown image format");
  write_bytes(dir.file("empty.png"), {});
  check_error_names_file(dir.file("empty.png"), "unknown image format");

  write_png(dir.file("g.png"), 8, 6, 3, gradient(8, 6));
  auto png = bytes_of(dir.file("g.png"));
  write_bytes(dir.file("trunc.png"), std::vector<uint8_t>(png.begin(), png.begin() + png.size() / 2));
  check_error_names_file(dir.file("trunc.png"), "PNG");
  auto bad = png;
  bad[30] ^= 0xff;  // IHDR CRC
  write_bytes(dir.file("crc.png"), bad);
  check_error_names_file(dir.file("crc.png"), "PNG");

  write_jpeg(dir.file("a.jpg"), 32, 32, solid(32, 32, 10, 20, 30));
  auto jpg = bytes_of(dir.file("a.jpg"));
  write_bytes(dir.file("trunc.jpg"), std::vector<uint8_t>(jpg.begin(), jpg.begin() + jpg.size() / 2));
  check_error_names_file(dir.file("trunc.jpg"), "JPEG");
  write_bytes(dir.file("head.jpg"), std::vector<uint8_t>(jpg.begin(), jpg.begin() + 40));
  check_error_names_file(dir.file("head.jpg"), "JPEG");

  write_png_header(dir.file("huge.png"), 100000, 100000);
  check_error_names_file(dir.file("huge.png"), "100000x100000");
}

TEST_CASE("image_folder: classes sorted by folder name, files sorted, only image extensions") {
  TempDir dir;
  namespace fs = std::filesystem;
  for (const char* c : {"zebra", "ant", "mole"}) fs::create_directory(dir.file(c));
  write_png(dir.file("zebra/b.png"), 4, 4, 3, solid(4, 4, 1, 2, 3));
  write_png(dir.file("zebra/a.PNG"), 4, 4, 3, solid(4, 4, 1, 2, 3));
  write_jpeg(dir.file("ant/x.JPEG"), 4, 4, solid(4, 4, 1, 2, 3));
  write_jpeg(dir.file("mole/y.jpg"), 4, 4, solid(4, 4, 1, 2, 3));
  write_bytes(dir.file("mole/notes.txt"), {'x'});
  const ImageFolder ds(dir.path);
  CHECK(ds.num_classes() == 3);
  CHECK(ds.class_names() == std::vector<std::string>{"ant", "mole", "zebra"});
  REQUIRE(ds.size() == 4);
  CHECK(ds.label(0) == 0);
  CHECK(ds.label(1) == 1);
  CHECK(ds.label(2) == 2);
  CHECK(ds.label(3) == 2);
  CHECK(ds.path(2) == dir.file("zebra/a.PNG"));
  CHECK(ds.path(3) == dir.file("zebra/b.png"));
  CHECK_THROWS_AS(ds.path(4), Error);

  fs::create_directory(dir.file("empty"));
  CHECK_THROWS_WITH_AS(ImageFolder(dir.path), doctest::Contains("empty"), Error);
  CHECK_THROWS_WITH_AS(ImageFolder(dir.file("nope")), doctest::Contains("no such directory"), Error);
}

TEST_CASE("image_folder: eval transform of a solid image is the normalised constant") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("c"));
  write_png(dir.file("c/s.png"), 40, 30, 3, solid(40, 30, 255, 128, 0));
  const ImageFolder ds(dir.path);
  Transform t;
  t.size = 16;
  Generator gen(1);
  const auto [x, label] = ds.load(0, t, gen);
  CHECK(label == 0);
  REQUIRE(x.shape() == Shape{3, 16, 16});
  const float* p = x.data<float>();
  const double value[3] = {1.0, 128.0 / 255.0, 0.0};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 256; ++i) CHECK(p[c * 256 + i] == doctest::Approx((value[c] - t.mean[c]) / t.std[c]).epsilon(1e-5));
}

TEST_CASE("image_folder: train transform shape, determinism per seed, and flip") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("c"));
  write_png(dir.file("c/g.png"), 8, 6, 3, gradient(8, 6));
  const ImageFolder ds(dir.path);
  Transform t;
  t.size = 5;
  t.train = true;
  auto run = [&](uint64_t seed) {
    Generator gen(seed);
    const auto x = ds.load(0, t, gen).first;
    REQUIRE(x.shape() == Shape{3, 5, 5});
    return std::vector<float>(x.data<float>(), x.data<float>() + 75);
  };
  CHECK(run(7) == run(7));
  bool differs = false;
  for (uint64_t s = 8; s < 12 && !differs; ++s) differs = run(s) != run(7);
  CHECK(differs);

  // Whole image (scale and ratio pinned to it), no flip: eval-like values, left to right increasing red.
  t.scale_min = 1.0;
  t.ratio_min = t.ratio_max = 8.0 / 6.0;
  t.hflip = false;
  const auto a = run(3);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x + 1 < 5; ++x) CHECK(a[y * 5 + x] < a[y * 5 + x + 1]);
}
