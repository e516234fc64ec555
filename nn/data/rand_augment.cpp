#include "nn/data/rand_augment.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "core/error.h"

namespace soft::data {
namespace {

constexpr double kMaxLevel = 10.0;

const std::vector<AugOp> kRandOps = {
    AugOp::AutoContrast, AugOp::Equalize, AugOp::Invert,   AugOp::Rotate,     AugOp::Posterize,
    AugOp::Solarize,     AugOp::SolarizeAdd, AugOp::Color, AugOp::Contrast,   AugOp::Brightness,
    AugOp::Sharpness,    AugOp::ShearX,   AugOp::ShearY,   AugOp::TranslateXRel, AugOp::TranslateYRel,
};
const std::vector<AugOp> kRandIncreasingOps = {
    AugOp::AutoContrast,        AugOp::Equalize,           AugOp::Invert,          AugOp::Rotate,
    AugOp::PosterizeIncreasing, AugOp::SolarizeIncreasing, AugOp::SolarizeAdd,     AugOp::ColorIncreasing,
    AugOp::ContrastIncreasing,  AugOp::BrightnessIncreasing, AugOp::SharpnessIncreasing, AugOp::ShearX,
    AugOp::ShearY,              AugOp::TranslateXRel,      AugOp::TranslateYRel,
};

std::vector<double> draw(Generator& gen, int64_t n) {
  const Tensor u = uniform({n}, 0.0, 1.0, gen, DType::Float64);
  const double* p = u.data<double>();
  return std::vector<double>(p, p + n);
}

double number(const std::string& text, const std::string& section, const std::string& value) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SOFT_CHECK(used == value.size() && std::isfinite(v), "RandAugment '", text, "': section '", section,
             "' has no number after its key");
  return v;
}

}  // namespace

const char* aug_op_name(AugOp op) {
  switch (op) {
    case AugOp::AutoContrast: return "AutoContrast";
    case AugOp::Equalize: return "Equalize";
    case AugOp::Invert: return "Invert";
    case AugOp::Rotate: return "Rotate";
    case AugOp::Posterize: return "Posterize";
    case AugOp::PosterizeIncreasing: return "PosterizeIncreasing";
    case AugOp::Solarize: return "Solarize";
    case AugOp::SolarizeIncreasing: return "SolarizeIncreasing";
    case AugOp::SolarizeAdd: return "SolarizeAdd";
    case AugOp::Color: return "Color";
    case AugOp::ColorIncreasing: return "ColorIncreasing";
    case AugOp::Contrast: return "Contrast";
    case AugOp::ContrastIncreasing: return "ContrastIncreasing";
    case AugOp::Brightness: return "Brightness";
    case AugOp::BrightnessIncreasing: return "BrightnessIncreasing";
    case AugOp::Sharpness: return "Sharpness";
    case AugOp::SharpnessIncreasing: return "SharpnessIncreasing";
    case AugOp::ShearX: return "ShearX";
    case AugOp::ShearY: return "ShearY";
    case AugOp::TranslateXRel: return "TranslateXRel";
    case AugOp::TranslateYRel: return "TranslateYRel";
  }
  return "?";
}

RandAugmentConfig parse_rand_augment(const std::string& text, const pil::Rgb& fill) {
  RandAugmentConfig cfg;
  cfg.fill = fill;
  cfg.ops = kRandOps;
  std::vector<std::string> sections;
  for (size_t start = 0;;) {
    const size_t dash = text.find('-', start);
    sections.push_back(text.substr(start, dash - start));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  SOFT_CHECK(sections[0] == "rand", "RandAugment '", text, "': must start with 'rand' (e.g. rand-m9-mstd0.5-inc1)");
  for (size_t i = 1; i < sections.size(); ++i) {
    const std::string& s = sections[i];
    const size_t digit = s.find_first_of("0123456789");
    if (digit == std::string::npos) continue;  // timm skips a section without a digit
    const std::string key = s.substr(0, digit), value = s.substr(digit);
    if (key == "mstd") {
      cfg.magnitude_std = number(text, s, value);
    } else if (key == "inc") {
      cfg.ops = kRandIncreasingOps;  // timm: bool(value), true for any non-empty text
    } else if (key == "m") {
      cfg.magnitude = std::trunc(number(text, s, value));
    } else if (key == "n") {
      cfg.num_layers = static_cast<int64_t>(number(text, s, value));
      SOFT_CHECK(cfg.num_layers >= 0 && cfg.num_layers <= 16, "RandAugment '", text, "': n must be in [0, 16]");
    } else if (key == "w") {
      throw Error(detail::concat("RandAugment '", text, "': op weights ('", s, "') are not supported"));
    } else {
      throw Error(detail::concat("RandAugment '", text, "': unknown section '", s,
                                 "' (known: m<int>, n<int>, mstd<float>, inc<int>)"));
    }
  }
  return cfg;
}

double aug_op_argument(AugOp op, double magnitude, bool negate, double translate_pct) {
  const double level = magnitude / kMaxLevel, sign = negate ? -1.0 : 1.0;
  switch (op) {
    case AugOp::AutoContrast:
    case AugOp::Equalize:
    case AugOp::Invert: return 0;
    case AugOp::Rotate: return sign * level * 30.0;
    case AugOp::Posterize: return std::trunc(level * 4);
    case AugOp::PosterizeIncreasing: return 4 - std::trunc(level * 4);
    case AugOp::Solarize: return std::trunc(level * 256);
    case AugOp::SolarizeIncreasing: return 256 - std::trunc(level * 256);
    case AugOp::SolarizeAdd: return std::trunc(level * 110);
    case AugOp::Color:
    case AugOp::Contrast:
    case AugOp::Brightness:
    case AugOp::Sharpness: return level * 1.8 + 0.1;
    case AugOp::ColorIncreasing:
    case AugOp::ContrastIncreasing:
    case AugOp::BrightnessIncreasing:
    case AugOp::SharpnessIncreasing: return 1.0 + sign * level * 0.9;
    case AugOp::ShearX:
    case AugOp::ShearY: return sign * level * 0.3;
    case AugOp::TranslateXRel:
    case AugOp::TranslateYRel: return sign * level * translate_pct;
  }
  return 0;
}

void apply_aug_op(Image& img, AugOp op, double magnitude, bool negate, const RandAugmentConfig& cfg) {
  const double a = aug_op_argument(op, magnitude, negate, cfg.translate_pct);
  switch (op) {
    case AugOp::AutoContrast: pil::auto_contrast(img); return;
    case AugOp::Equalize: pil::equalize(img); return;
    case AugOp::Invert: pil::invert(img); return;
    case AugOp::Rotate: img = pil::rotate(img, a, cfg.fill); return;
    case AugOp::Posterize:
    case AugOp::PosterizeIncreasing:
      if (a < 8) pil::posterize(img, static_cast<int>(a));
      return;
    case AugOp::Solarize:
    case AugOp::SolarizeIncreasing: pil::solarize(img, static_cast<int>(a)); return;
    case AugOp::SolarizeAdd: pil::solarize_add(img, static_cast<int>(a), 128); return;
    case AugOp::Color:
    case AugOp::ColorIncreasing: pil::color(img, a); return;
    case AugOp::Contrast:
    case AugOp::ContrastIncreasing: pil::contrast(img, a); return;
    case AugOp::Brightness:
    case AugOp::BrightnessIncreasing: pil::brightness(img, a); return;
    case AugOp::Sharpness:
    case AugOp::SharpnessIncreasing: pil::sharpness(img, a); return;
    case AugOp::ShearX: img = pil::affine(img, {1, a, 0, 0, 1, 0}, cfg.fill); return;
    case AugOp::ShearY: img = pil::affine(img, {1, 0, 0, a, 1, 0}, cfg.fill); return;
    case AugOp::TranslateXRel:
      img = pil::affine(img, {1, 0, a * static_cast<double>(img.width), 0, 1, 0}, cfg.fill);
      return;
    case AugOp::TranslateYRel:
      img = pil::affine(img, {1, 0, 0, 0, 1, a * static_cast<double>(img.height)}, cfg.fill);
      return;
  }
}

void rand_augment(Image& img, const RandAugmentConfig& cfg, Generator& gen) {
  if (cfg.num_layers == 0 || cfg.ops.empty()) return;
  const std::vector<double> u = draw(gen, cfg.num_layers * 5);
  const auto n_ops = static_cast<int64_t>(cfg.ops.size());
  for (int64_t layer = 0; layer < cfg.num_layers; ++layer) {
    const double* r = &u[layer * 5];
    const AugOp op = cfg.ops[std::min(n_ops - 1, static_cast<int64_t>(r[0] * static_cast<double>(n_ops)))];
    if (r[1] > cfg.prob) continue;  // timm: skipped when random() > prob
    double m = cfg.magnitude;
    if (cfg.magnitude_std > 0)  // Box-Muller: 1 - r[2] lies in (0, 1]
      m += cfg.magnitude_std * std::sqrt(-2.0 * std::log(1.0 - r[2])) * std::cos(2 * std::numbers::pi * r[3]);
    m = std::clamp(m, 0.0, kMaxLevel);
    apply_aug_op(img, op, m, r[4] > 0.5, cfg);
  }
}

void color_jitter(Image& img, const ColorJitterConfig& cfg, Generator& gen) {
  const std::vector<double> u = draw(gen, 6);  // u[0..2]: the order, u[3..5]: the factors
  std::array<int, 3> order{0, 1, 2};
  std::sort(order.begin(), order.end(), [&](int a, int b) { return u[a] < u[b]; });
  const double strength[3] = {cfg.brightness, cfg.contrast, cfg.saturation};
  for (int which : order) {
    const double s = strength[which];
    if (s <= 0) continue;
    const double lo = std::max(0.0, 1.0 - s), factor = lo + (1.0 + s - lo) * u[3 + which];
    if (which == 0) pil::brightness(img, factor);
    if (which == 1) pil::contrast(img, factor);
    if (which == 2) pil::color(img, factor);
  }
}

}  // namespace soft::data
