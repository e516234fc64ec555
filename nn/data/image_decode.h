#pragma once
// JPEG (libjpeg) and PNG (libpng) decoding to 8-bit RGB. The format is detected from the magic
// bytes, not the extension. Every bad file (missing, unknown format, truncated, corrupt, over
// kMaxImagePixels) is a soft::Error naming it; the libraries never print or exit.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace soft::data {

// Headers claiming more pixels than this are refused before anything is allocated.
constexpr uint64_t kMaxImagePixels = uint64_t{1} << 28;

struct Image {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3], row-major, interleaved R G B
};

// Grey, palette and alpha PNGs become RGB (alpha dropped), 16-bit samples are cut to 8 bits;
// grey JPEGs are converted to RGB by libjpeg, CMYK and YCCK JPEGs as Pillow converts them
// (Adobe's inverted CMYK). EXIF orientation is ignored, as by Pillow's Image.open.
Image decode_image(const std::string& path);

// What a transform needs of an image whose size it learns from the file's header.
struct DecodeRequest {
  int64_t x0 = 0, y0 = 0, w = 0, h = 0;  // the source box to decode (clamped to the image)
  // A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, the largest factor) while the
  // box stays at least min_w x min_h pixels; 0: full resolution.
  int64_t min_w = 0, min_h = 0;
};

// The decoded part of an image: `pixels` hold the scaled image's columns [x0, x0 + width) and
// rows [y0, y0 + height); scaled pixel i covers source pixels [i scale, (i + 1) scale).
struct DecodedRegion {
  Image pixels;
  int64_t x0 = 0, y0 = 0;
  int scale = 1;  // 1, 2, 4 or 8
  int64_t source_width = 0, source_height = 0;
};

// Reads the header, asks `choose(width, height)` for the box, and decodes only what it needs: JPEG
// rows above and below the box are skipped (entropy-decoded only) and the columns are cropped to
// the nearest iMCU (jpeg_skip_scanlines, jpeg_crop_scanline); PNGs are decoded whole. Errors as
// decode_image's; JPEG data after the box's last row is not read.
DecodedRegion decode_image_region(const std::string& path,
                                  const std::function<DecodeRequest(int64_t width, int64_t height)>& choose);

}  // namespace soft::data
