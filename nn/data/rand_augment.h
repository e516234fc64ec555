#pragma once
// RandAugment (Cubuk et al. 2019) exactly as timm 0.4.12 defines it, and torchvision's
// ColorJitter, on 8-bit RGB images (the crop after RandomResizedCrop and the flip).
//
// timm's string: "rand" then dash-separated sections, each a key and the number after it:
//   m<int>   magnitude (0..10, default 10)         n<int>     ops per image (default 2)
//   mstd<x>  std of the per-op magnitude noise      inc<int>   the "increasing" op set
// e.g. "rand-m9-mstd0.5-inc1" (DeiT and SOFT). As in timm, `inc` followed by any digits selects
// the increasing set (timm tests bool() of the text, so even "inc0" does), a section without a
// digit is ignored, and an unknown key is an error; timm's op weights ("w") are not supported.
//
// Per image: n ops drawn uniformly with replacement from the set; each runs with probability 0.5
// at magnitude N(m, mstd) clipped to [0, 10]; signed ops (rotate, shear, translate, the
// increasing enhancements) negate their argument with probability 0.5. Geometric ops resample
// bicubically and fill uncovered pixels with `fill` (the dataset mean as 8-bit RGB in timm).
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.h"
#include "nn/data/image_decode.h"
#include "nn/data/pil_ops.h"

namespace soft::data {

enum class AugOp {
  AutoContrast, Equalize, Invert, Rotate,
  Posterize, PosterizeIncreasing, Solarize, SolarizeIncreasing, SolarizeAdd,
  Color, ColorIncreasing, Contrast, ContrastIncreasing, Brightness, BrightnessIncreasing,
  Sharpness, SharpnessIncreasing, ShearX, ShearY, TranslateXRel, TranslateYRel,
};

const char* aug_op_name(AugOp op);  // timm's name, e.g. "SolarizeIncreasing"

struct RandAugmentConfig {
  std::vector<AugOp> ops;  // the set drawn from
  int64_t num_layers = 2;
  double magnitude = 10, magnitude_std = 0;
  double prob = 0.5;             // of each drawn op
  double translate_pct = 0.45;   // translation at magnitude 10, as a fraction of the image side
  pil::Rgb fill{128, 128, 128};  // of pixels that geometric ops uncover
};

// Parses timm's string (see above); throws soft::Error naming the text and the bad section.
RandAugmentConfig parse_rand_augment(const std::string& text, const pil::Rgb& fill);

// The op's argument at this magnitude (already clipped to [0, 10]) and sign, as timm's
// level_to_arg: degrees, bits, threshold, addend, enhancement factor, shear, or translation
// fraction. Ops without argument return 0.
double aug_op_argument(AugOp op, double magnitude, bool negate, double translate_pct);

// Applies one op with the argument aug_op_argument gives.
void apply_aug_op(Image& img, AugOp op, double magnitude, bool negate, const RandAugmentConfig& cfg);

// One RandAugment draw on img: 5 uniform numbers per layer from gen (choice, apply, two for the
// magnitude's normal, sign), in one Generator call.
void rand_augment(Image& img, const RandAugmentConfig& cfg, Generator& gen);

// torchvision's ColorJitter(brightness, contrast, saturation) on a PIL image (timm's, with
// color_jitter 0.4 and RandAugment off): factors uniform in [max(0, 1 - s), 1 + s], applied in a
// random order (a strength of 0 skips that adjustment).
struct ColorJitterConfig {
  double brightness = 0.4, contrast = 0.4, saturation = 0.4;
};
void color_jitter(Image& img, const ColorJitterConfig& cfg, Generator& gen);

}  // namespace soft::data
