#include "nn/data/pil_ops.h"

#include <cmath>
#include <numbers>

namespace soft::data::pil {
namespace {

using Lut = std::array<std::array<uint8_t, 256>, 3>;  // one table per channel

void apply_lut(Image& img, const Lut& lut) {
  uint8_t* p = img.rgb.data();
  const size_t n = img.rgb.size() / 3;
  for (size_t i = 0; i < n; ++i, p += 3) {
    p[0] = lut[0][p[0]];
    p[1] = lut[1][p[1]];
    p[2] = lut[2][p[2]];
  }
}

template <class F>
void apply_same_lut(Image& img, F f) {
  std::array<uint8_t, 256> t{};
  for (int v = 0; v < 256; ++v) t[v] = static_cast<uint8_t>(f(v));
  apply_lut(img, {t, t, t});
}

using Histogram = std::array<std::array<int64_t, 256>, 3>;

Histogram histogram(const Image& img) {
  Histogram h{};
  const uint8_t* p = img.rgb.data();
  const size_t n = img.rgb.size() / 3;
  for (size_t i = 0; i < n; ++i, p += 3) {
    ++h[0][p[0]];
    ++h[1][p[1]];
    ++h[2][p[2]];
  }
  return h;
}

// Image.blend(degenerate, img, alpha) in place on img, with Pillow's float arithmetic: inside
// [0, 1] the result is truncated, outside it is clipped to [0, 255] first. `degenerate(i)` gives
// the degenerate image's byte at index i of the interleaved buffer.
template <class D>
void blend_from(Image& img, D degenerate, double factor) {
  const float alpha = static_cast<float>(factor);
  uint8_t* p = img.rgb.data();
  const size_t n = img.rgb.size();
  if (alpha >= 0.0f && alpha <= 1.0f) {
    for (size_t i = 0; i < n; ++i) {
      const int d = degenerate(i);
      p[i] = static_cast<uint8_t>(static_cast<float>(d) + alpha * static_cast<float>(int{p[i]} - d));
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      const int d = degenerate(i);
      const float v = static_cast<float>(d) + alpha * static_cast<float>(int{p[i]} - d);
      p[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
    }
  }
}

// Pillow's RGB -> L: ITU-R 601-2 luma in 16-bit fixed point, rounded.
inline uint8_t luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

// Pillow's cubic convolution of Geometry.c (a = -1), v1..v4 at -1, 0, 1, 2, d in [0, 1).
inline double cubic(double v1, double v2, double v3, double v4, double d) {
  const double p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return v2 + d * (p2 + d * (p3 + d * p4));
}

}  // namespace

Image affine(const Image& img, const std::array<double, 6>& m, const Rgb& fill) {
  const int64_t w = img.width, h = img.height;
  Image out;
  out.width = w;
  out.height = h;
  out.rgb.resize(img.rgb.size());
  auto clamp = [](int64_t v, int64_t n) { return v < 0 ? 0 : v < n ? v : n - 1; };
  const uint8_t* in = img.rgb.data();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* o = &out.rgb[(y * w + x) * 3];
      const double xc = static_cast<double>(x) + 0.5, yc = static_cast<double>(y) + 0.5;
      double xin = m[0] * xc + m[1] * yc + m[2], yin = m[3] * xc + m[4] * yc + m[5];
      if (xin < 0.0 || xin >= static_cast<double>(w) || yin < 0.0 || yin >= static_cast<double>(h)) {
        o[0] = fill[0], o[1] = fill[1], o[2] = fill[2];
        continue;
      }
      xin -= 0.5, yin -= 0.5;
      const auto x0 = static_cast<int64_t>(std::floor(xin)), y0 = static_cast<int64_t>(std::floor(yin));
      const double dx = xin - static_cast<double>(x0), dy = yin - static_cast<double>(y0);
      // The 4 x 4 neighbourhood, edge-clamped: v[column][row * 3 + channel], so the 12 cubics along
      // x run over contiguous lanes (vectorised).
      double v[4][12];
      if (x0 >= 1 && x0 + 2 < w && y0 >= 1 && y0 + 2 < h) {
        for (int r = 0; r < 4; ++r) {
          const uint8_t* p = in + ((y0 - 1 + r) * w + x0 - 1) * 3;
          for (int k = 0; k < 4; ++k)
            for (int c = 0; c < 3; ++c) v[k][r * 3 + c] = p[k * 3 + c];
        }
      } else {
        for (int r = 0; r < 4; ++r)
          for (int k = 0; k < 4; ++k)
            for (int c = 0; c < 3; ++c) v[k][r * 3 + c] = in[(clamp(y0 - 1 + r, h) * w + clamp(x0 - 1 + k, w)) * 3 + c];
      }
      double rows[4][3];  // each row's cubic along x, per channel
      double* flat = &rows[0][0];
      for (int l = 0; l < 12; ++l) flat[l] = cubic(v[0][l], v[1][l], v[2][l], v[3][l], dx);
      for (int c = 0; c < 3; ++c) {
        const double s = cubic(rows[0][c], rows[1][c], rows[2][c], rows[3][c], dy);
        o[c] = s <= 0.0 ? 0 : s >= 255.0 ? 255 : static_cast<uint8_t>(s);
      }
    }
  return out;
}

Image rotate(const Image& img, double degrees, const Rgb& fill) {
  double a = std::fmod(degrees, 360.0);
  if (a < 0) a += 360.0;
  if (a == 0.0) return img;
  const double rad = -a * (std::numbers::pi / 180.0);
  auto round15 = [](double v) { return std::round(v * 1e15) / 1e15; };
  std::array<double, 6> m{round15(std::cos(rad)), round15(std::sin(rad)), 0.0,
                          round15(-std::sin(rad)), round15(std::cos(rad)), 0.0};
  const double cx = static_cast<double>(img.width) / 2.0, cy = static_cast<double>(img.height) / 2.0;
  m[2] = m[0] * -cx + m[1] * -cy + m[2] + cx;
  m[5] = m[3] * -cx + m[4] * -cy + m[5] + cy;
  return affine(img, m, fill);
}

void invert(Image& img) {
  apply_same_lut(img, [](int v) { return 255 - v; });
}

void solarize(Image& img, int threshold) {
  apply_same_lut(img, [threshold](int v) { return v < threshold ? v : 255 - v; });
}

void solarize_add(Image& img, int add, int threshold) {
  apply_same_lut(img, [=](int v) { return v < threshold ? std::min(255, v + add) : v; });
}

void posterize(Image& img, int bits) {
  const int mask = ~((1 << (8 - bits)) - 1);
  apply_same_lut(img, [mask](int v) { return v & mask; });
}

void auto_contrast(Image& img) {
  const Histogram h = histogram(img);
  Lut lut{};
  for (int c = 0; c < 3; ++c) {
    int lo = 0, hi = 255;
    while (lo < 255 && h[c][lo] == 0) ++lo;
    while (hi > 0 && h[c][hi] == 0) --hi;
    const double scale = hi > lo ? 255.0 / (hi - lo) : 0.0, offset = -lo * scale;
    for (int v = 0; v < 256; ++v) {
      int m = hi > lo ? static_cast<int>(v * scale + offset) : v;
      lut[c][v] = static_cast<uint8_t>(m < 0 ? 0 : m > 255 ? 255 : m);
    }
  }
  apply_lut(img, lut);
}

void equalize(Image& img) {
  const Histogram h = histogram(img);
  Lut lut{};
  for (int c = 0; c < 3; ++c) {
    int64_t total = 0, last = 0, used = 0;
    for (int v = 0; v < 256; ++v)
      if (h[c][v]) total += h[c][v], last = h[c][v], ++used;
    const int64_t step = used > 1 ? (total - last) / 255 : 0;  // `last`: the highest used level's count
    int64_t n = step / 2;
    for (int v = 0; v < 256; ++v) {
      lut[c][v] = static_cast<uint8_t>(step ? std::min<int64_t>(n / step, 255) : v);
      n += h[c][v];
    }
  }
  apply_lut(img, lut);
}

void brightness(Image& img, double factor) {
  blend_from(img, [](size_t) { return 0; }, factor);
}

void contrast(Image& img, double factor) {
  // ImageStat's mean of the L image, rounded half up by int(mean + 0.5).
  const uint8_t* p = img.rgb.data();
  const size_t n = img.rgb.size() / 3;
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += luma(p + 3 * i);
  const int mean = n ? static_cast<int>(static_cast<double>(sum) / static_cast<double>(n) + 0.5) : 0;
  blend_from(img, [mean](size_t) { return mean; }, factor);
}

void color(Image& img, double factor) {
  std::vector<uint8_t> grey(img.rgb.size() / 3);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = luma(&img.rgb[3 * i]);
  blend_from(img, [&grey](size_t i) { return int{grey[i / 3]}; }, factor);
}

void sharpness(Image& img, double factor) {
  // SMOOTH: kernel (1 1 1 / 1 5 1 / 1 1 1) / 13 in float, rounded; the border rows and columns
  // stay as they are (Pillow copies them).
  const int64_t w = img.width, h = img.height;
  std::vector<uint8_t> smooth = img.rgb;
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  for (int64_t y = 1; y + 1 < h; ++y)
    for (int64_t x = 1; x + 1 < w; ++x)
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int64_t yy, int64_t xx) { return static_cast<float>(img.rgb[(yy * w + xx) * 3 + c]); };
        float s = 0.0f;
        s += at(y + 1, x - 1) * k1 + at(y + 1, x) * k1 + at(y + 1, x + 1) * k1;
        s += at(y, x - 1) * k1 + at(y, x) * k5 + at(y, x + 1) * k1;
        s += at(y - 1, x - 1) * k1 + at(y - 1, x) * k1 + at(y - 1, x + 1) * k1;
        smooth[(y * w + x) * 3 + c] = s <= 0.0f ? 0 : s >= 255.0f ? 255 : static_cast<uint8_t>(s + 0.5f);
      }
  blend_from(img, [&smooth](size_t i) { return int{smooth[i]}; }, factor);
}

}  // namespace soft::data::pil
