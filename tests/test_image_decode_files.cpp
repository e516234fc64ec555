// Real-world files (tests/data/decode/, written by make_fixtures.py with Pillow): decode_image
// gives Pillow's pixels for a CMYK JPEG, a PNG named .JPEG, and a JPEG with an EXIF rotation
// (ignored, as Pillow's Image.open does). Tolerance: 0 for the PNG; 1 level for the JPEGs,
// whose IDCT may differ between libjpeg builds.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
// clang-format off
#include <jpeglib.h>  // after <cstdio>: it needs FILE
// clang-format on

#include "core/error.h"
#include "nn/data/image_decode.h"
#include "nn/data/image_folder.h"
#include "tests/temp_dir.h"

using namespace soft::data;

namespace {

const std::string kDir = std::string(SOFT_SOURCE_DIR) + "/tests/data/decode/";

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "missing fixture ", path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int max_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int{a[i]} - int{b[i]}));
  return m;
}

void check_like_pillow(const std::string& file, const std::string& rgb, int64_t w, int64_t h, int tolerance) {
  INFO(file);
  const Image img = decode_image(kDir + file);
  CHECK(img.width == w);
  CHECK(img.height == h);
  CHECK(max_difference(img.rgb, read_bytes(kDir + rgb)) <= tolerance);
}

}  // namespace

TEST_CASE("decode_image: a CMYK JPEG decodes to Pillow's RGB") {
  check_like_pillow("cmyk.jpg", "cmyk.rgb", 24, 16, 1);
}

TEST_CASE("decode_image: a PNG named .JPEG is read by its magic bytes") {
  check_like_pillow("png_named.JPEG", "png_named.rgb", 10, 7, 0);
}

TEST_CASE("decode_image: EXIF orientation is ignored, as Pillow does") {
  check_like_pillow("exif_rot6.jpg", "exif_rot6.rgb", 20, 12, 1);
}

TEST_CASE("decode_image_region: the rows and columns of a box are those of the whole decode") {
  const std::string file = kDir + "region.jpg";
  const Image whole = decode_image(file);
  REQUIRE(whole.width == 96);
  REQUIRE(whole.height == 64);
  int64_t seen_w = 0, seen_h = 0;
  const DecodedRegion d = decode_image_region(file, [&](int64_t w, int64_t h) {
    seen_w = w, seen_h = h;
    return DecodeRequest{37, 21, 30, 25, 0, 0};  // full resolution
  });
  CHECK(seen_w == 96);
  CHECK(seen_h == 64);
  CHECK(d.scale == 1);
  CHECK(d.source_width == 96);
  CHECK(d.y0 == 21);
  CHECK(d.pixels.height == 25);
  CHECK(d.x0 <= 37);  // widened to whole iMCUs
  CHECK(d.x0 + d.pixels.width >= 67);
  CHECK(d.pixels.width < 96);
  // Inside the box the pixels are the whole decode's (the cropped edges, whose chroma is upsampled
  // without neighbours, lie outside it).
  int max_diff = 0;
  for (int64_t y = 0; y < 25; ++y)
    for (int64_t x = 37; x < 67; ++x)
      for (int c = 0; c < 3; ++c)
        max_diff = std::max(max_diff, std::abs(int{d.pixels.rgb[(y * d.pixels.width + x - d.x0) * 3 + c]} -
                                               int{whole.rgb[((21 + y) * 96 + x) * 3 + c]}));
  CHECK(max_diff == 0);
}

TEST_CASE("decode_image_region: DCT scaling while the box stays at least the size asked") {
  const std::string file = kDir + "region.jpg";
  auto scale_for = [&](int64_t min_w, int64_t min_h) {
    return decode_image_region(file, [&](int64_t w, int64_t h) { return DecodeRequest{0, 0, w, h, min_w, min_h}; });
  };
  CHECK(scale_for(0, 0).scale == 1);
  CHECK(scale_for(60, 40).scale == 1);
  CHECK(scale_for(40, 30).scale == 2);
  const DecodedRegion quarter = scale_for(16, 16);  // 96 / 4 = 24 >= 16, 64 / 4 = 16 >= 16; 1/8 is too small
  CHECK(quarter.scale == 4);
  CHECK(quarter.pixels.width == 24);
  CHECK(quarter.pixels.height == 16);
  // The scaled decode is the image at lower resolution: close to the mean of each 4 x 4 block.
  const Image whole = decode_image(file);
  double total = 0;
  for (int64_t y = 0; y < 16; ++y)
    for (int64_t x = 0; x < 24; ++x)
      for (int c = 0; c < 3; ++c) {
        double mean = 0;
        for (int dy = 0; dy < 4; ++dy)
          for (int dx = 0; dx < 4; ++dx) mean += whole.rgb[((y * 4 + dy) * 96 + x * 4 + dx) * 3 + c] / 16.0;
        total += std::abs(mean - quarter.pixels.rgb[(y * 24 + x) * 3 + c]);
      }
  CHECK(total / (16 * 24 * 3) < 12.0);
}

TEST_CASE("decode_image_region: bad files fail as in decode_image, naming the file") {
  const std::string bad = std::string(SOFT_SOURCE_DIR) + "/tests/data/bad/image/";
  for (const auto& entry : std::filesystem::directory_iterator(bad)) {
    const std::string path = entry.path().string();
    if (entry.path().filename() == "tall_1x1000000.png") continue;  // valid (test_bad_files.cpp)
    INFO(path);
    std::string whole_error, region_error;
    try {
      decode_image(path);
    } catch (const soft::Error& e) {
      whole_error = e.what();
    }
    try {
      decode_image_region(path, [](int64_t w, int64_t h) { return DecodeRequest{0, 0, w, h, 8, 8}; });
    } catch (const soft::Error& e) {
      region_error = e.what();
    }
    CHECK(!whole_error.empty());
    CHECK(region_error.find(path) != std::string::npos);
  }
}

TEST_CASE("image folder eval transform of a JPEG decoded at 1/2 scale stays close to timm's") {
  // 96x64 at 16 px: Resize(18) gives 27x18, so the 96x64 image is decoded at 1/2 (48x32 >= 27x18)
  // and resized from there. timm resizes the full image: the DCT-scaled path is close, not equal
  // (on smooth content, as photographs mostly are; region.jpg's sawtooth pattern differs by 5.5
  // levels on average).
  soft::test::TempDir dir;
  std::filesystem::create_directories(dir.file("c"));
  std::filesystem::copy_file(kDir + "smooth.jpg", dir.file("c/smooth.jpg"));
  const ImageFolder folder(dir.path);
  Transform t;
  t.size = 16;
  t.interpolation = Interpolation::Bicubic;
  t.mean = {0, 0, 0};
  t.std = {1, 1, 1};
  soft::Generator gen(0);
  const soft::Tensor x = folder.load(0, t, gen).first;  // [3, 16, 16], pixel / 255
  const std::vector<uint8_t> expected = read_bytes(kDir + "smooth_eval16.rgb");
  const float* p = x.data<float>();
  double total = 0;
  int max_diff = 0;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 256; ++i) {
      const int d = std::abs(static_cast<int>(std::lround(p[c * 256 + i] * 255.0)) - int{expected[i * 3 + c]});
      total += d;
      max_diff = std::max(max_diff, d);
    }
  INFO("mean difference ", total / 768, ", max ", max_diff);
  CHECK(total / 768 < 1.0);
  CHECK(max_diff <= 4);
}

TEST_CASE("image folder train transform with RandAugment is a function of the generator") {
  soft::test::TempDir dir;
  std::filesystem::create_directories(dir.file("c"));
  std::filesystem::copy_file(kDir + "region.jpg", dir.file("c/region.jpg"));
  const ImageFolder folder(dir.path);
  Transform t;
  t.size = 24;
  t.train = true;
  t.interpolation = Interpolation::Bicubic;
  t.rand_augment = parse_rand_augment("rand-m9-mstd0.5-inc1", {124, 116, 104});
  auto run = [&](uint64_t seed) {
    soft::Generator gen(seed);
    const soft::Tensor x = folder.load(0, t, gen).first;
    REQUIRE(x.shape() == soft::Shape{3, 24, 24});
    return std::vector<float>(x.data<float>(), x.data<float>() + x.numel());
  };
  CHECK(run(5) == run(5));
  int distinct = 0;
  for (uint64_t seed = 6; seed < 10; ++seed) distinct += run(seed) != run(5);
  CHECK(distinct == 4);
}

namespace {

// A JPEG of the given CMYK samples (Adobe's inverted convention, as Photoshop and Pillow write),
// stored as CMYK or as YCCK, written with libjpeg's own compressor (Pillow cannot write YCCK).
void write_cmyk_jpeg(const std::string& path, int w, int h, const std::vector<uint8_t>& cmyk, J_COLOR_SPACE stored) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = static_cast<JDIMENSION>(w);
  cinfo.image_height = static_cast<JDIMENSION>(h);
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, stored);  // writes the Adobe marker for CMYK and YCCK
  jpeg_set_quality(&cinfo, 98, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(&cmyk[static_cast<size_t>(cinfo.next_scanline) * w * 4]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
}

}  // namespace

TEST_CASE("decode_image: CMYK and YCCK JPEGs give the RGB of their CMYK samples") {
  soft::test::TempDir dir;
  const int w = 32, h = 24;
  std::vector<uint8_t> inverted(static_cast<size_t>(w * h * 4));  // smooth, so JPEG keeps it closely
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &inverted[static_cast<size_t>((y * w + x) * 4)];
      p[0] = static_cast<uint8_t>(60 + x * 4), p[1] = static_cast<uint8_t>(200 - y * 4);
      p[2] = static_cast<uint8_t>(100 + x + y), p[3] = static_cast<uint8_t>(220 - x);
    }
  // Pillow: C = 255 - stored, K likewise, RGB = (255 - K) (1 - C / 255); here 255 - K = stored K.
  std::vector<int> expected;
  for (size_t i = 0; i < inverted.size(); i += 4)
    for (int c = 0; c < 3; ++c) expected.push_back(inverted[i + 3] * inverted[i + c] / 255);
  for (J_COLOR_SPACE stored : {JCS_CMYK, JCS_YCCK}) {
    const std::string file = dir.file(stored == JCS_CMYK ? "cmyk.jpg" : "ycck.jpg");
    write_cmyk_jpeg(file, w, h, inverted, stored);
    INFO(file);
    const Image img = decode_image(file);
    REQUIRE(img.width == w);
    REQUIRE(img.height == h);
    double total = 0;
    for (size_t i = 0; i < expected.size(); ++i) total += std::abs(int{img.rgb[i]} - expected[i]);
    CHECK(total / static_cast<double>(expected.size()) < 2.0);
  }
}
