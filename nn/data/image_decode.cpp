#include "nn/data/image_decode.h"

// clang-format off
#include <cstdio>   // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>  // JWRN_JPEG_EOF, JWRN_HIT_MARKER
#include <png.h>
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace soft::data {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  SOFT_CHECK(std::filesystem::is_regular_file(path, ec), "decode_image: ", path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  SOFT_CHECK(in, "decode_image: ", path, ": cannot open");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void check_dims(const std::string& path, uint64_t width, uint64_t height) {
  SOFT_CHECK(width > 0 && height > 0, "decode_image: ", path, ": empty image (", width, "x", height, ")");
  SOFT_CHECK(width * height <= kMaxImagePixels, "decode_image: ", path, ": image is ", width, "x", height,
             " pixels, more than the limit of ", kMaxImagePixels);
}

// ---- JPEG: libjpeg's error_exit would exit(); ours records the message and longjmps back.
struct JpegError {
  jpeg_error_mgr mgr;  // first member: libjpeg hands us a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are silent, except premature end of data, of the file or of a scan (the next marker
// came first): libjpeg would pad the image with grey, which we treat as corrupt rather than train
// on. (A 125-byte file claiming 12288x4346 pixels with an empty scan decoded to 53 MP of grey.)
void jpeg_message(j_common_ptr cinfo, int level) {
  const int code = cinfo->err->msg_code;
  if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER)) jpeg_fail(cinfo);
}

// Sets cinfo's error handling to jpeg_fail and jpeg_message with `err`; the caller then
// setjmp(err.jump)s in the frame that calls libjpeg, as the two decoders below do.
void report_errors_to(jpeg_decompress_struct& cinfo, JpegError& err) {
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  err.message[0] = '\0';
}

// Creates the decompressor on the file's bytes and reads the header (errors longjmp).
void read_header(jpeg_decompress_struct& cinfo, const std::vector<uint8_t>& bytes) {
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
}

// Pillow's reading of a CMYK JPEG: the samples are taken as Adobe's inverted CMYK (Pillow's
// rawmode "CMYK;I"), then converted as its cmyk2rgb does: R = (255 - K) (1 - C / 255), in
// integers rounded as Pillow's MULDIV255.
void cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, int64_t width) {
  auto muldiv255 = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (int64_t x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    const int nk = cmyk[3];  // 255 - K, K being the inverted sample
    for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(std::clamp(nk - muldiv255(255 - cmyk[c], nk), 0, 255));
  }
}

// The box of `want` in the scaled image, rows [y_first, y_end) and columns [x_first, x_end).
struct ScaledBox {
  int scale = 1;
  unsigned x_first = 0, x_end = 0, y_first = 0, y_end = 0;
};

ScaledBox scaled_box(const DecodeRequest& want, int64_t width, int64_t height) {
  ScaledBox b;
  const int64_t x0 = std::clamp<int64_t>(want.x0, 0, width - 1), y0 = std::clamp<int64_t>(want.y0, 0, height - 1);
  const int64_t x1 = std::clamp<int64_t>(want.x0 + std::max<int64_t>(want.w, 1), x0 + 1, width);
  const int64_t y1 = std::clamp<int64_t>(want.y0 + std::max<int64_t>(want.h, 1), y0 + 1, height);
  if (want.min_w > 0 && want.min_h > 0)
    for (int s : {8, 4, 2})
      if ((x1 - x0) >= want.min_w * s && (y1 - y0) >= want.min_h * s) {
        b.scale = s;
        break;
      }
  const int64_t s = b.scale;
  b.x_first = static_cast<unsigned>(x0 / s), b.x_end = static_cast<unsigned>((x1 + s - 1) / s);
  b.y_first = static_cast<unsigned>(y0 / s), b.y_end = static_cast<unsigned>((y1 + s - 1) / s);
  return b;
}

// The image size from the header alone; an empty string on success, else libjpeg's message.
std::string jpeg_size(const std::vector<uint8_t>& bytes, int64_t& width, int64_t& height) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  report_errors_to(cinfo, err);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return err.message;
  }
  read_header(cinfo, bytes);
  width = cinfo.image_width;
  height = cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  return {};
}

// Returns an empty string on success, else libjpeg's message. No C++ object with a destructor
// lives in this frame across setjmp; `out`, `cmyk_row` (scratch) and `want` belong to the caller.
// want == nullptr decodes the whole image at full resolution, to its last byte.
std::string decode_jpeg(const std::string& path, const std::vector<uint8_t>& bytes, DecodedRegion& out,
                        std::vector<uint8_t>& cmyk_row, const DecodeRequest* want) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  report_errors_to(cinfo, err);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return err.message;
  }
  read_header(cinfo, bytes);
  // CMYK and YCCK files (libjpeg turns YCCK into CMYK) are read as CMYK and converted below.
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  if (uint64_t{cinfo.image_width} * cinfo.image_height > kMaxImagePixels || cinfo.image_width == 0) {
    const uint64_t w = cinfo.image_width, h = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    check_dims(path, w, h);  // throws
  }
  out.source_width = cinfo.image_width;
  out.source_height = cinfo.image_height;
  ScaledBox box;
  box.x_end = cinfo.image_width, box.y_end = cinfo.image_height;
  if (want) box = scaled_box(*want, out.source_width, out.source_height);
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned>(box.scale);
  jpeg_start_decompress(&cinfo);
  box.x_end = std::min<unsigned>(box.x_end, cinfo.output_width);
  box.y_end = std::min<unsigned>(box.y_end, cinfo.output_height);
  // Column cropping (widened by libjpeg to whole iMCUs) upsamples the chroma at the cropped edges
  // without their neighbours: a margin of 8 pixels keeps those edge columns outside the box.
  constexpr unsigned kMargin = 8;
  box.x_first = box.x_first > kMargin ? box.x_first - kMargin : 0;
  box.x_end = std::min<unsigned>(box.x_end + kMargin, cinfo.output_width);
  JDIMENSION x_first = box.x_first, columns = box.x_end - box.x_first;
  if (columns < cinfo.output_width) jpeg_crop_scanline(&cinfo, &x_first, &columns);
  if (box.y_first > 0) jpeg_skip_scanlines(&cinfo, box.y_first);
  out.scale = box.scale;
  out.x0 = x_first;
  out.y0 = cinfo.output_scanline;
  out.pixels.width = cinfo.output_width;
  out.pixels.height = box.y_end - cinfo.output_scanline;
  // Reserved, then grown row by row: a file that claims a large image but holds little data fails
  // on its first rows without the whole buffer ever being written.
  const size_t row_bytes = static_cast<size_t>(out.pixels.width) * 3;
  out.pixels.rgb.reserve(row_bytes * static_cast<size_t>(out.pixels.height));
  cmyk_row.resize(cmyk ? static_cast<size_t>(out.pixels.width) * 4 : 0);
  while (cinfo.output_scanline < box.y_end) {
    const size_t at = out.pixels.rgb.size();
    out.pixels.rgb.resize(at + row_bytes);
    uint8_t* rgb = out.pixels.rgb.data() + at;
    JSAMPROW row = cmyk ? cmyk_row.data() : rgb;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) cmyk_to_rgb(cmyk_row.data(), rgb, out.pixels.width);
  }
  if (!want) jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return {};
}

// ---- PNG: libpng longjmps to png_jmpbuf on error; our handlers record the message first.
struct PngSource {
  const std::vector<uint8_t>* bytes;
  size_t pos = 0;
  char message[256];
};

[[noreturn]] void png_fail(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof src->message, "%s", msg);
  png_longjmp(png, 1);
}

void png_warn(png_structp, png_const_charp) {}

void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (src->bytes->size() - src->pos < n) png_error(png, "truncated file (unexpected end of data)");
  std::memcpy(out, src->bytes->data() + src->pos, n);
  src->pos += n;
}

std::string decode_png(const std::string& path, const std::vector<uint8_t>& bytes, Image& out) {
  // IHDR must be the first chunk: check its size before libpng reads the chunks up to IDAT.
  if (bytes.size() >= 24 && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0) {
    auto be32 = [&](size_t at) {
      return (uint64_t{bytes[at]} << 24) | (uint64_t{bytes[at + 1]} << 16) | (uint64_t{bytes[at + 2]} << 8) |
             uint64_t{bytes[at + 3]};
    };
    const uint64_t width = be32(16), height = be32(20);
    check_dims(path, width, height);
    SOFT_CHECK(width <= PNG_USER_WIDTH_MAX && height <= PNG_USER_HEIGHT_MAX, "decode_image: ", path, ": image is ",
               width, "x", height, " pixels, a side longer than libpng's limit of ", PNG_USER_WIDTH_MAX);
  }
  PngSource src{&bytes, 0, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_warn);
  SOFT_CHECK(png, "decode_image: ", path, ": out of memory creating the PNG reader");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw Error(detail::concat("decode_image: ", path, ": out of memory creating the PNG reader"));
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return src.message;
  }
  png_set_read_fn(png, &src, png_read_mem);
  png_read_info(png, info);
  const uint64_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (w * h > kMaxImagePixels || w == 0 || h == 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    check_dims(path, w, h);  // throws
  }
  // Normalise every colour type and depth to 8-bit RGB.
  png_set_expand(png);  // palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != w * 3) png_error(png, "unexpected row size after conversion to RGB");
  out.width = static_cast<int64_t>(w);
  out.height = static_cast<int64_t>(h);
  out.rgb.reserve(static_cast<size_t>(w * h * 3));
  // Row by row (each interlace pass refines the rows in place): no row-pointer array to free
  // on the longjmp path. The buffer grows with the first pass, as in decode_jpeg.
  for (int pass = 0; pass < passes; ++pass)
    for (uint64_t y = 0; y < h; ++y) {
      if (pass == 0) out.rgb.resize(static_cast<size_t>((y + 1) * w * 3));
      png_read_row(png, out.rgb.data() + y * w * 3, nullptr);
    }
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return {};
}

}  // namespace

namespace {

bool is_jpeg(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
}

bool is_png(const std::vector<uint8_t>& bytes) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0;
}

[[noreturn]] void unknown_format(const std::string& path, size_t size) {
  throw Error(detail::concat("decode_image: ", path, ": unknown image format (", size,
                             " bytes, neither JPEG nor PNG magic)"));
}

}  // namespace

Image decode_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  Image out;
  std::string failure;
  if (is_jpeg(bytes)) {
    std::vector<uint8_t> cmyk_row;
    DecodedRegion region;
    failure = decode_jpeg(path, bytes, region, cmyk_row, nullptr);
    SOFT_CHECK(failure.empty(), "decode_image: ", path, ": corrupt or truncated JPEG (", failure, ")");
    out = std::move(region.pixels);
  } else if (is_png(bytes)) {
    failure = decode_png(path, bytes, out);
    SOFT_CHECK(failure.empty(), "decode_image: ", path, ": corrupt or truncated PNG (", failure, ")");
  } else {
    unknown_format(path, bytes.size());
  }
  return out;
}

DecodedRegion decode_image_region(const std::string& path,
                                  const std::function<DecodeRequest(int64_t width, int64_t height)>& choose) {
  const std::vector<uint8_t> bytes = read_file(path);
  DecodedRegion out;
  if (is_jpeg(bytes)) {
    int64_t width = 0, height = 0;
    std::string failure = jpeg_size(bytes, width, height);
    SOFT_CHECK(failure.empty(), "decode_image: ", path, ": corrupt or truncated JPEG (", failure, ")");
    check_dims(path, static_cast<uint64_t>(width), static_cast<uint64_t>(height));
    const DecodeRequest want = choose(width, height);
    std::vector<uint8_t> cmyk_row;
    failure = decode_jpeg(path, bytes, out, cmyk_row, &want);
    SOFT_CHECK(failure.empty(), "decode_image: ", path, ": corrupt or truncated JPEG (", failure, ")");
  } else if (is_png(bytes)) {
    const std::string failure = decode_png(path, bytes, out.pixels);
    SOFT_CHECK(failure.empty(), "decode_image: ", path, ": corrupt or truncated PNG (", failure, ")");
    out.source_width = out.pixels.width, out.source_height = out.pixels.height;
    choose(out.source_width, out.source_height);  // the caller's draws happen for every format alike
  } else {
    unknown_format(path, bytes.size());
  }
  return out;
}

}  // namespace soft::data
