#include "nn/data/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace soft::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

double filter(Interpolation f, double x) {
  x = std::abs(x);
  if (f == Interpolation::Bilinear) return x < 1.0 ? 1.0 - x : 0.0;
  constexpr double a = -0.5;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Pillow's precompute_coeffs for an axis of n input pixels resized to `out`, restricted to the
// outputs [first, first + count): tap o reads inputs start[o] .. start[o] + taps[o] - 1 with
// fixed-point weights kk[o * ksize ...].
struct Coeffs {
  int64_t ksize = 0;
  std::vector<int64_t> start, taps;
  std::vector<int32_t> kk;
};

Coeffs coeffs(Interpolation f, int64_t n, double in0, double in1, int64_t out, int64_t first, int64_t count) {
  const double support0 = f == Interpolation::Bilinear ? 1.0 : 2.0;
  const double scale = (in1 - in0) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0), support = support0 * filterscale, ss = 1.0 / filterscale;
  Coeffs c;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.start.resize(count);
  c.taps.resize(count);
  c.kk.assign(static_cast<size_t>(count * c.ksize), 0);
  std::vector<double> w(c.ksize);
  for (int64_t i = 0; i < count; ++i) {
    const double center = in0 + (static_cast<double>(first + i) + 0.5) * scale;
    const int64_t xmin = std::max<int64_t>(0, static_cast<int64_t>(center - support + 0.5));
    const int64_t xmax = std::min<int64_t>(n, static_cast<int64_t>(center + support + 0.5)) - xmin;
    double total = 0;
    for (int64_t x = 0; x < xmax; ++x) total += w[x] = filter(f, (static_cast<double>(x + xmin) - center + 0.5) * ss);
    for (int64_t x = 0; x < xmax; ++x) {
      const double v = (total != 0.0 ? w[x] / total : w[x]) * (1 << kPrecisionBits);
      c.kk[i * c.ksize + x] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    c.start[i] = xmin;
    c.taps[i] = std::max<int64_t>(xmax, 0);
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

Interpolation parse_interpolation(const std::string& text) {
  if (text == "bilinear") return Interpolation::Bilinear;
  if (text == "bicubic") return Interpolation::Bicubic;
  throw Error(detail::concat("interpolation '", text, "' is not one of bilinear, bicubic"));
}

Image resize_crop(const Image& img, const ResizeRequest& r) {
  SOFT_CHECK(r.w > 0 && r.h > 0 && r.x0 >= 0 && r.y0 >= 0 && r.x0 + r.w <= img.width && r.y0 + r.h <= img.height,
             "resize_crop: crop (", r.x0, ", ", r.y0, ") + ", r.w, "x", r.h, " is outside the ", img.width, "x",
             img.height, " image");
  SOFT_CHECK(r.out_w > 0 && r.out_h > 0 && r.win_w > 0 && r.win_h > 0 && r.win_x >= 0 && r.win_y >= 0 &&
                 r.win_x + r.win_w <= r.out_w && r.win_y + r.win_h <= r.out_h,
             "resize_crop: window (", r.win_x, ", ", r.win_y, ") + ", r.win_w, "x", r.win_h, " is outside the ",
             r.out_w, "x", r.out_h, " output");
  const bool whole = r.box_w <= 0 || r.box_h <= 0;
  SOFT_CHECK(whole || (r.box_x >= 0 && r.box_y >= 0 && r.box_x + r.box_w <= static_cast<double>(r.w) + 1e-9 &&
                       r.box_y + r.box_h <= static_cast<double>(r.h) + 1e-9),
             "resize_crop: box (", r.box_x, ", ", r.box_y, ") + ", r.box_w, "x", r.box_h, " is outside the ", r.w, "x",
             r.h, " crop");
  const double bx = whole ? 0.0 : r.box_x, by = whole ? 0.0 : r.box_y;
  const double bw = whole ? static_cast<double>(r.w) : r.box_w, bh = whole ? static_cast<double>(r.h) : r.box_h;
  const Coeffs cx = coeffs(r.interpolation, r.w, bx, bx + bw, r.out_w, r.win_x, r.win_w);
  const Coeffs cy = coeffs(r.interpolation, r.h, by, by + bh, r.out_h, r.win_y, r.win_h);
  // Rows of the crop the vertical pass reads: [row0, row1).
  const int64_t row0 = cy.start.front(), row1 = cy.start.back() + cy.taps.back();
  // Horizontal pass: tmp [row1 - row0, win_w, 3], rounded to 8 bits as Pillow's intermediate.
  // Accumulators are int32 as Pillow's (|sum| < 2^31: weights sum to 2^22, samples < 2^8, and
  // the negative lobes of the cubic stay small); every output runs ksize taps (zero-padded).
  std::vector<uint8_t> tmp(static_cast<size_t>((row1 - row0) * r.win_w * 3));
  const int64_t kx = cx.ksize;
  std::vector<int64_t> first_x(cx.start);  // clamp so the padded taps stay inside the crop row
  for (int64_t o = 0; o < r.win_w; ++o) first_x[o] = std::min(first_x[o], std::max<int64_t>(0, r.w - kx));
  std::vector<int32_t> kkx(cx.kk.size(), 0);  // the weights shifted to match first_x
  for (int64_t o = 0; o < r.win_w; ++o)
    for (int64_t t = 0; t < cx.taps[o]; ++t) kkx[o * kx + cx.start[o] - first_x[o] + t] = cx.kk[o * kx + t];
  const int64_t taps_x = std::min(kx, r.w);
  for (int64_t y = row0; y < row1; ++y) {
    const uint8_t* src = &img.rgb[static_cast<size_t>(((r.y0 + y) * img.width + r.x0) * 3)];
    uint8_t* dst = &tmp[static_cast<size_t>((y - row0) * r.win_w * 3)];
    for (int64_t o = 0; o < r.win_w; ++o) {
      const int32_t* k = &kkx[o * kx];
      const uint8_t* s = src + first_x[o] * 3;
      int32_t a0 = 1 << (kPrecisionBits - 1), a1 = a0, a2 = a0;
      for (int64_t t = 0; t < taps_x; ++t) a0 += s[3 * t] * k[t], a1 += s[3 * t + 1] * k[t], a2 += s[3 * t + 2] * k[t];
      dst[o * 3] = clip8(a0), dst[o * 3 + 1] = clip8(a1), dst[o * 3 + 2] = clip8(a2);
    }
  }
  // Vertical pass into the window.
  Image out;
  out.width = r.win_w;
  out.height = r.win_h;
  out.rgb.resize(static_cast<size_t>(r.win_w * r.win_h * 3));
  const int64_t row_len = r.win_w * 3;
  std::vector<int32_t> acc(static_cast<size_t>(row_len));
  for (int64_t o = 0; o < r.win_h; ++o) {
    std::fill(acc.begin(), acc.end(), int32_t{1} << (kPrecisionBits - 1));
    const int32_t* k = &cy.kk[o * cy.ksize];
    for (int64_t t = 0; t < cy.taps[o]; ++t) {
      const uint8_t* s = &tmp[static_cast<size_t>((cy.start[o] + t - row0) * row_len)];
      const int32_t kt = k[t];
      int32_t* a = acc.data();
      for (int64_t i = 0; i < row_len; ++i) a[i] += s[i] * kt;
    }
    uint8_t* dst = &out.rgb[static_cast<size_t>(o * row_len)];
    for (int64_t i = 0; i < row_len; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

}  // namespace soft::data
