#pragma once
// JPEG (libjpeg) and PNG (libpng) decoding to 8-bit RGB. The format is detected from the magic
// bytes, not the extension. Every bad file (missing, unknown format, truncated, corrupt, over
// kMaxImagePixels) is a soft::Error naming it; the libraries never print or exit.
#include <cstdint>
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

}  // namespace soft::data
