// Real-world files (tests/data/decode/, written by make_fixtures.py with Pillow): decode_image
// gives Pillow's pixels for a CMYK JPEG, a PNG named .JPEG, and a JPEG with an EXIF rotation
// (ignored, as Pillow's Image.open does). Tolerance: 0 for the PNG; 1 level for the JPEGs,
// whose IDCT may differ between libjpeg builds.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

#include "nn/data/image_decode.h"

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
