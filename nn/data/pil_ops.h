#pragma once
// The image operations of timm's RandAugment and of torchvision's ColorJitter, on 8-bit RGB
// images [H, W, 3], computed as Pillow 9 computes them (same rounding, same lookup tables), so a
// model trained here sees what it would see under timm. Each is checked against Pillow's output
// on small images (tests/test_rand_augment.cpp, fixtures from tests/data/augment/make_fixtures.py).
#include <array>
#include <cstdint>

#include "nn/data/image_decode.h"

namespace soft::data::pil {

using Rgb = std::array<uint8_t, 3>;

// Image.transform(size, AFFINE, (a, b, c, d, e, f), BICUBIC, fillcolor=fill): output pixel (x, y)
// samples the input at (a (x + .5) + b (y + .5) + c, d (x + .5) + e (y + .5) + f) with Pillow's
// cubic (a = -1) on edge-clamped neighbours, truncated to 8 bits; points outside the input get fill.
Image affine(const Image& img, const std::array<double, 6>& m, const Rgb& fill);
// Image.rotate(degrees, BICUBIC, fillcolor=fill): counter-clockwise about the centre, same size.
Image rotate(const Image& img, double degrees, const Rgb& fill);

// Pointwise, in place.
void invert(Image& img);
void solarize(Image& img, int threshold);            // v >= threshold -> 255 - v
void solarize_add(Image& img, int add, int threshold);  // v < threshold -> min(255, v + add)
void posterize(Image& img, int bits);                // keep the top `bits` bits (0..8)
void auto_contrast(Image& img);                      // ImageOps.autocontrast(img): per channel min..max -> 0..255
void equalize(Image& img);                           // ImageOps.equalize(img), per channel

// ImageEnhance.*(img).enhance(factor): a blend of img with a degenerate image, factor 1 = unchanged.
void brightness(Image& img, double factor);  // degenerate: black
void contrast(Image& img, double factor);    // degenerate: the mean grey level (of the L image)
void color(Image& img, double factor);       // degenerate: the L (grey) image as RGB
void sharpness(Image& img, double factor);   // degenerate: the 3x3 SMOOTH filter (border kept)

}  // namespace soft::data::pil
