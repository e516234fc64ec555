#pragma once
// Pillow's Image.resize (antialiased, separable, 8-bit fixed point with 22 fraction bits, the
// horizontal pass first into an 8-bit intermediate) on a crop of an 8-bit RGB image, so that
// RandomResizedCrop and Resize + CenterCrop give torchvision-on-Pillow's bytes. Only the output
// window asked for is computed, and only the source rows it reads are touched.
#include <cstdint>
#include <string>

#include "nn/data/image_decode.h"

namespace soft::data {

enum class Interpolation { Bilinear, Bicubic };  // Pillow's triangle and cubic (a = -0.5) filters

// "bilinear" or "bicubic"; anything else throws naming the text.
Interpolation parse_interpolation(const std::string& text);

struct ResizeRequest {
  // The crop [x0, x0 + w) x [y0, y0 + h) of the source, in whole pixels: it acts as the image
  // being resized (torchvision crops, then resizes), so filters clamp at its edges.
  int64_t x0 = 0, y0 = 0, w = 0, h = 0;
  // The part of the crop resized, in its pixel units (as Pillow's resize box); 0 x 0: all of it.
  // (A crop decoded at a reduced scale maps the source box to fractional pixels.)
  double box_x = 0, box_y = 0, box_w = 0, box_h = 0;
  int64_t out_w = 0, out_h = 0;  // the size the box is resized to
  // The window of that output to compute: [win_x, win_x + win_w) x [win_y, win_y + win_h).
  int64_t win_x = 0, win_y = 0, win_w = 0, win_h = 0;
  Interpolation interpolation = Interpolation::Bicubic;
};

// The window, as an image [win_h, win_w, 3]. Throws soft::Error on a crop outside the image or
// a window outside the output.
Image resize_crop(const Image& img, const ResizeRequest& r);

}  // namespace soft::data
