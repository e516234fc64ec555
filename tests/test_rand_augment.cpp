// RandAugment and ColorJitter (nn/data/rand_augment.h, nn/data/pil_ops.h): every op against
// Pillow's result for the same arguments (tests/data/augment/, written by make_fixtures.py), the
// parsing of timm's string, timm's level-to-argument mapping, and determinism per seed.
//
// Tolerance: pointwise and enhancement ops match Pillow exactly. Geometric ops (rotate, shear,
// translate) may differ by 1 level on a few pixels: the sampling positions come from cos/sin and
// Python's round(x, 15), which differ from ours in the last bits, and Pillow truncates the cubic.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nn/data/rand_augment.h"
#include "nn/data/resize.h"

using namespace soft;
using namespace soft::data;

namespace {

const std::string kDir = std::string(SOFT_SOURCE_DIR) + "/tests/data/augment/";

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "missing fixture ", path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Image fixture_image(const std::string& name, int64_t w, int64_t h) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb = read_bytes(kDir + name + ".rgb");
  REQUIRE(img.rgb.size() == static_cast<size_t>(w * h * 3));
  return img;
}

const pil::Rgb kFill{124, 116, 104};

Image apply_case(const Image& in, const std::string& op, double a) {
  Image img = in;
  if (op == "rotate") return pil::rotate(img, a, kFill);
  if (op == "shear_x") return pil::affine(img, {1, a, 0, 0, 1, 0}, kFill);
  if (op == "shear_y") return pil::affine(img, {1, 0, 0, a, 1, 0}, kFill);
  if (op == "translate_x") return pil::affine(img, {1, 0, a * double(img.width), 0, 1, 0}, kFill);
  if (op == "translate_y") return pil::affine(img, {1, 0, 0, 0, 1, a * double(img.height)}, kFill);
  if (op == "auto_contrast") pil::auto_contrast(img);
  else if (op == "equalize") pil::equalize(img);
  else if (op == "invert") pil::invert(img);
  else if (op == "posterize") pil::posterize(img, int(a));
  else if (op == "solarize") pil::solarize(img, int(a));
  else if (op == "solarize_add") pil::solarize_add(img, int(a), 128);
  else if (op == "color") pil::color(img, a);
  else if (op == "contrast") pil::contrast(img, a);
  else if (op == "brightness") pil::brightness(img, a);
  else if (op == "sharpness") pil::sharpness(img, a);
  else FAIL("unknown fixture op ", op);
  return img;
}

bool geometric(const std::string& op) {
  return op == "rotate" || op == "shear_x" || op == "shear_y" || op == "translate_x" || op == "translate_y";
}

}  // namespace

TEST_CASE("pil ops match Pillow on every fixture") {
  const auto bytes = read_bytes(kDir + "cases.json");
  const auto manifest = nlohmann::json::parse(bytes.begin(), bytes.end());
  const int64_t w = manifest["width"], h = manifest["height"];
  const Image input = fixture_image("input", w, h);
  REQUIRE(manifest["cases"].size() >= 20);
  for (const auto& c : manifest["cases"]) {
    const std::string name = c["name"], op = c["op"];
    const Image expected = fixture_image(name, w, h);
    const Image got = apply_case(input, op, c["arg"].get<double>());
    REQUIRE(got.width == w);
    REQUIRE(got.height == h);
    int max_diff = 0, differing = 0, changed = 0;
    for (size_t i = 0; i < expected.rgb.size(); ++i) {
      const int d = std::abs(int{got.rgb[i]} - int{expected.rgb[i]});
      max_diff = std::max(max_diff, d);
      differing += d > 0;
      changed += expected.rgb[i] != input.rgb[i];
    }
    INFO(name, ": max difference ", max_diff, " on ", differing, " of ", expected.rgb.size(), " values");
    CHECK(changed > 0);  // the fixture is a real change of the input
    if (geometric(op)) {
      CHECK(max_diff <= 1);
      CHECK(differing <= static_cast<int>(expected.rgb.size() / 20));
    } else {
      CHECK(max_diff == 0);
    }
  }
}

TEST_CASE("parse_rand_augment reads timm's strings") {
  const RandAugmentConfig c = parse_rand_augment("rand-m9-mstd0.5-inc1", kFill);
  CHECK(c.magnitude == 9);
  CHECK(c.magnitude_std == 0.5);
  CHECK(c.num_layers == 2);
  CHECK(c.prob == 0.5);
  CHECK(c.translate_pct == 0.45);
  CHECK(c.fill == kFill);
  REQUIRE(c.ops.size() == 15);
  CHECK(c.ops[4] == AugOp::PosterizeIncreasing);
  CHECK(c.ops[7] == AugOp::ColorIncreasing);
  CHECK(c.ops[14] == AugOp::TranslateYRel);

  const RandAugmentConfig plain = parse_rand_augment("rand-n3-m7", kFill);
  CHECK(plain.num_layers == 3);
  CHECK(plain.magnitude == 7);
  CHECK(plain.magnitude_std == 0);
  CHECK(plain.ops[4] == AugOp::Posterize);
  CHECK(parse_rand_augment("rand", kFill).magnitude == 10);
  CHECK(parse_rand_augment("rand-inc0", kFill).ops[4] == AugOp::PosterizeIncreasing);  // timm's bool("0")
  CHECK(parse_rand_augment("rand-mx", kFill).magnitude == 10);                        // no digit: skipped

  CHECK_THROWS_WITH_AS(parse_rand_augment("rnd-m9", kFill), doctest::Contains("must start with 'rand'"), Error);
  CHECK_THROWS_WITH_AS(parse_rand_augment("rand-q9", kFill), doctest::Contains("unknown section 'q9'"), Error);
  CHECK_THROWS_WITH_AS(parse_rand_augment("rand-w0", kFill), doctest::Contains("not supported"), Error);
  CHECK_THROWS_WITH_AS(parse_rand_augment("rand-m9x", kFill), doctest::Contains("'m9x'"), Error);
}

TEST_CASE("aug_op_argument is timm's level_to_arg") {
  // Magnitude 9 (the recipe's), values from timm 0.4.12's formulas.
  CHECK(aug_op_argument(AugOp::Rotate, 9, false, 0.45) == doctest::Approx(27.0));
  CHECK(aug_op_argument(AugOp::Rotate, 9, true, 0.45) == doctest::Approx(-27.0));
  CHECK(aug_op_argument(AugOp::PosterizeIncreasing, 9, false, 0.45) == 1);  // 4 - int(3.6)
  CHECK(aug_op_argument(AugOp::PosterizeIncreasing, 10, false, 0.45) == 0);
  CHECK(aug_op_argument(AugOp::Posterize, 9, false, 0.45) == 3);
  CHECK(aug_op_argument(AugOp::SolarizeIncreasing, 9, false, 0.45) == 26);  // 256 - int(230.4)
  CHECK(aug_op_argument(AugOp::Solarize, 9, false, 0.45) == 230);
  CHECK(aug_op_argument(AugOp::SolarizeAdd, 9, false, 0.45) == 99);
  CHECK(aug_op_argument(AugOp::ColorIncreasing, 9, false, 0.45) == doctest::Approx(1.81));
  CHECK(aug_op_argument(AugOp::SharpnessIncreasing, 9, true, 0.45) == doctest::Approx(0.19));
  CHECK(aug_op_argument(AugOp::Contrast, 9, true, 0.45) == doctest::Approx(1.72));  // not signed
  CHECK(aug_op_argument(AugOp::ShearY, 9, true, 0.45) == doctest::Approx(-0.27));
  CHECK(aug_op_argument(AugOp::TranslateXRel, 9, false, 0.45) == doctest::Approx(0.405));
  CHECK(aug_op_argument(AugOp::Equalize, 9, false, 0.45) == 0);
}

TEST_CASE("rand_augment is deterministic per generator and changes images") {
  const Image input = fixture_image("input", 29, 23);
  const RandAugmentConfig cfg = parse_rand_augment("rand-m9-mstd0.5-inc1", kFill);
  int changed = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    Image a = input, b = input;
    Generator ga(seed), gb(seed);
    rand_augment(a, cfg, ga);
    rand_augment(b, cfg, gb);
    CHECK(a.rgb == b.rgb);
    CHECK(ga.offset == gb.offset);
    changed += a.rgb != input.rgb;
  }
  // Each of 2 layers applies with p 0.5 (an op can also leave a pixel unchanged): most change.
  CHECK(changed >= 8);
  CHECK(changed < 16 + 1);
}

TEST_CASE("color_jitter is deterministic and a strength of 0 is the identity") {
  const Image input = fixture_image("input", 29, 23);
  Image a = input, b = input, none = input;
  Generator ga(3), gb(3), gn(3);
  color_jitter(a, {}, ga);
  color_jitter(b, {}, gb);
  color_jitter(none, {0, 0, 0}, gn);
  CHECK(a.rgb == b.rgb);
  CHECK(a.rgb != input.rgb);
  CHECK(none.rgb == input.rgb);
}

TEST_CASE("resize_crop matches Pillow's crop then resize, and a window is that part of it") {
  const auto bytes = read_bytes(kDir + "cases.json");
  const auto manifest = nlohmann::json::parse(bytes.begin(), bytes.end());
  const Image input = fixture_image("input", manifest["width"], manifest["height"]);
  REQUIRE(manifest["resizes"].size() == 4);
  for (const auto& c : manifest["resizes"]) {
    const std::string name = c["name"];
    INFO(name);
    ResizeRequest r;
    r.x0 = c["box"][0], r.y0 = c["box"][1];
    r.w = c["box"][2].get<int64_t>() - r.x0, r.h = c["box"][3].get<int64_t>() - r.y0;
    r.out_w = r.win_w = c["size"][0], r.out_h = r.win_h = c["size"][1];
    r.interpolation = parse_interpolation(c["interpolation"]);
    const Image expected = fixture_image(name, r.out_w, r.out_h);
    const Image got = resize_crop(input, r);
    CHECK(got.rgb == expected.rgb);
    // A window [1, out_w - 1) x [1, out_h - 1) is the same pixels.
    r.win_x = r.win_y = 1, r.win_w = r.out_w - 2, r.win_h = r.out_h - 2;
    const Image window = resize_crop(input, r);
    for (int64_t y = 0; y < r.win_h; ++y)
      for (int64_t x = 0; x < r.win_w * 3; ++x)
        CHECK(window.rgb[y * r.win_w * 3 + x] == expected.rgb[(y + 1) * r.out_w * 3 + 3 + x]);
  }
  ResizeRequest bad;
  bad.w = 40, bad.h = 5, bad.out_w = bad.out_h = bad.win_w = bad.win_h = 3;
  CHECK_THROWS_WITH_AS(resize_crop(input, bad), doctest::Contains("outside the 29x23 image"), Error);
  CHECK_THROWS_WITH_AS(parse_interpolation("nearest"), doctest::Contains("'nearest'"), Error);
}
