#include "nn/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "nn/data/image_decode.h"

namespace soft::data {
namespace fs = std::filesystem;
namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Uniform numbers in [0, 1) from gen, one Generator draw for all of them.
std::vector<double> draw(Generator& gen, int64_t n) {
  const Tensor u = uniform({n}, 0.0, 1.0, gen, DType::Float64);
  const double* p = u.data<double>();
  return std::vector<double>(p, p + n);
}

struct Box {
  double x0, y0, w, h;  // a region of the source image, in pixels
};

// torchvision's RandomResizedCrop.get_params: 10 tries of an area fraction in [scale_min, 1]
// and a log-uniform aspect ratio, else a centre crop clamped to the ratio range.
Box random_resized_crop(int64_t height, int64_t width, const Transform& t, Generator& gen) {
  const double area = static_cast<double>(height * width);
  const double log_lo = std::log(t.ratio_min), log_hi = std::log(t.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const std::vector<double> u = draw(gen, 4);
    const double target = area * (t.scale_min + (1.0 - t.scale_min) * u[0]);
    const double ratio = std::exp(log_lo + (log_hi - log_lo) * u[1]);
    const auto w = static_cast<int64_t>(std::lround(std::sqrt(target * ratio)));
    const auto h = static_cast<int64_t>(std::lround(std::sqrt(target / ratio)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t i = std::min(height - h, static_cast<int64_t>(u[2] * static_cast<double>(height - h + 1)));
      const int64_t j = std::min(width - w, static_cast<int64_t>(u[3] * static_cast<double>(width - w + 1)));
      return {double(j), double(i), double(w), double(h)};
    }
  }
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < t.ratio_min)
    h = std::lround(static_cast<double>(w) / t.ratio_min);
  else if (in_ratio > t.ratio_max)
    w = std::lround(static_cast<double>(h) * t.ratio_max);
  return {double((width - w) / 2), double((height - h) / 2), double(w), double(h)};
}

// Triangle-filter weights mapping `out` samples onto the source interval [x0, x0 + len) of an
// axis with n pixels (PIL's antialiased bilinear: the filter widens when downscaling, and is
// plain bilinear with half-pixel centres when upscaling). Row o uses first[o] .. + count.
struct Weights {
  std::vector<int64_t> first;
  int64_t count = 0;
  std::vector<double> w;  // [out, count]
};

Weights resample_weights(int64_t n, double x0, double len, int64_t out) {
  const double scale = len / static_cast<double>(out), support = std::max(scale, 1.0);
  Weights r;
  r.count = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  r.first.resize(out);
  r.w.assign(static_cast<size_t>(out * r.count), 0.0);
  for (int64_t o = 0; o < out; ++o) {
    const double centre = x0 + (static_cast<double>(o) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(centre - support + 0.5));
    const int64_t hi = std::min<int64_t>(n, static_cast<int64_t>(centre + support + 0.5));
    r.first[o] = lo;
    double total = 0;
    double* w = &r.w[o * r.count];
    for (int64_t k = 0; k < std::min(hi - lo, r.count); ++k) {
      w[k] = std::max(0.0, 1.0 - std::abs((static_cast<double>(lo + k) + 0.5 - centre) / support));
      total += w[k];
    }
    for (int64_t k = 0; k < r.count && total > 0; ++k) w[k] /= total;
  }
  return r;
}

// The box of img resized to out_h x out_w, channels first, values pixel / 255: [3, out_h, out_w].
std::vector<float> resize_box(const Image& img, const Box& b, int64_t out_h, int64_t out_w) {
  const Weights wx = resample_weights(img.width, b.x0, b.w, out_w);
  const Weights wy = resample_weights(img.height, b.y0, b.h, out_h);
  // Only the source rows [row0, row1) that the vertical pass reads: a crop of a tall image (say
  // 1 x 2^23 pixels) must not cost a row of out_w for every row of the image.
  int64_t row0 = img.height, row1 = 0;
  for (int64_t o = 0; o < out_h; ++o) {
    row0 = std::min(row0, wy.first[o]);
    row1 = std::max(row1, std::min(img.height, wy.first[o] + wy.count));
  }
  // Horizontal pass over those rows: tmp [row1 - row0, out_w, 3].
  std::vector<double> tmp(static_cast<size_t>(std::max<int64_t>(row1 - row0, 0) * out_w * 3), 0.0);
  for (int64_t y = row0; y < row1; ++y)
    for (int64_t o = 0; o < out_w; ++o)
      for (int64_t k = 0; k < wx.count && wx.first[o] + k < img.width; ++k) {
        const double w = wx.w[o * wx.count + k];
        const uint8_t* px = &img.rgb[((y * img.width) + wx.first[o] + k) * 3];
        double* t = &tmp[((y - row0) * out_w + o) * 3];
        for (int c = 0; c < 3; ++c) t[c] += w * px[c];
      }
  // Vertical pass into [3, out_h, out_w].
  std::vector<float> out(static_cast<size_t>(3 * out_h * out_w));
  for (int64_t o = 0; o < out_h; ++o)
    for (int64_t x = 0; x < out_w; ++x) {
      double acc[3] = {0, 0, 0};
      for (int64_t k = 0; k < wy.count && wy.first[o] + k < img.height; ++k) {
        const double w = wy.w[o * wy.count + k];
        const double* t = &tmp[((wy.first[o] + k - row0) * out_w + x) * 3];
        for (int c = 0; c < 3; ++c) acc[c] += w * t[c];
      }
      for (int c = 0; c < 3; ++c) out[(c * out_h + o) * out_w + x] = static_cast<float>(acc[c] / 255.0);
    }
  return out;
}

}  // namespace

ImageFolder::ImageFolder(const std::string& root) : root_(root) {
  std::error_code ec;
  SOFT_CHECK(fs::is_directory(root, ec), "ImageFolder: ", root, ": no such directory");
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) classes_.push_back(e.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  SOFT_CHECK(!classes_.empty(), "ImageFolder: ", root, ": no class folders");
  for (size_t label = 0; label < classes_.size(); ++label) {
    std::vector<std::string> files;
    const auto opts = fs::directory_options::follow_directory_symlink;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(root) / classes_[label], opts))
      if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path().string());
    SOFT_CHECK(!files.empty(), "ImageFolder: ", root, ": class folder '", classes_[label],
               "' has no .jpg/.jpeg/.png files");
    std::sort(files.begin(), files.end());
    for (auto& f : files) samples_.emplace_back(std::move(f), static_cast<int64_t>(label));
  }
}

const std::string& ImageFolder::path(int64_t index) const {
  SOFT_CHECK(index >= 0 && index < size(), "ImageFolder: ", root_, ": index ", index, " out of range [0, ",
             size(), ")");
  return samples_[index].first;
}

int64_t ImageFolder::label(int64_t index) const {
  path(index);  // range check
  return samples_[index].second;
}

std::pair<Tensor, int64_t> ImageFolder::load(int64_t index, const Transform& t, Generator& gen) const {
  const std::string& file = path(index);
  SOFT_CHECK(t.size > 0, "ImageFolder: transform size must be positive, got ", t.size);
  SOFT_CHECK(t.scale_min > 0 && t.scale_min <= 1 && t.ratio_min > 0 && t.ratio_min <= t.ratio_max,
             "ImageFolder: bad transform scale_min ", t.scale_min, " / ratio [", t.ratio_min, ", ", t.ratio_max, "]");
  for (int c = 0; c < 3; ++c) SOFT_CHECK(t.std[c] > 0, "ImageFolder: std[", c, "] = ", t.std[c], " must be positive");
  const Image img = decode_image(file);
  const int64_t s = t.size;
  std::vector<float> pixels;  // [3, s, s]
  bool flip = false;
  if (t.train) {
    pixels = resize_box(img, random_resized_crop(img.height, img.width, t, gen), s, s);
    flip = t.hflip && draw(gen, 1)[0] < 0.5;
  } else {
    // Shorter side to floor(s / 0.875) (the longer one scaled alike, truncated, as torchvision's
    // Resize), then the centre s x s of that, mapped back to a box in the source.
    const auto shorter = static_cast<int64_t>(std::floor(static_cast<double>(s) / 0.875));
    const bool wide = img.width >= img.height;
    const double src_short = static_cast<double>(wide ? img.height : img.width);
    const double src_long = static_cast<double>(wide ? img.width : img.height);
    const auto longer = static_cast<int64_t>(static_cast<double>(shorter) * src_long / src_short);
    const int64_t rh = wide ? shorter : longer, rw = wide ? longer : shorter;
    const double top = std::round(static_cast<double>(rh - s) / 2.0), left = std::round(static_cast<double>(rw - s) / 2.0);
    const double sy = static_cast<double>(img.height) / static_cast<double>(rh);
    const double sx = static_cast<double>(img.width) / static_cast<double>(rw);
    pixels = resize_box(img, {left * sx, top * sy, static_cast<double>(s) * sx, static_cast<double>(s) * sy}, s, s);
  }
  Tensor out = Tensor::empty({3, s, s}, DType::Float32);
  float* o = out.data<float>();
  for (int64_t c = 0; c < 3; ++c) {
    const float m = static_cast<float>(t.mean[c]), inv = static_cast<float>(1.0 / t.std[c]);
    for (int64_t y = 0; y < s; ++y)
      for (int64_t x = 0; x < s; ++x) {
        const int64_t sx = flip ? s - 1 - x : x;
        o[(c * s + y) * s + x] = (pixels[(c * s + y) * s + sx] - m) * inv;
      }
  }
  return {out, samples_[index].second};
}

}  // namespace soft::data

namespace soft::data {

Tensor eval_image(const Image& img, int64_t s, double crop_pct) {
  SOFT_CHECK(s > 0 && crop_pct > 0 && crop_pct <= 1, "eval_image: size ", s, ", crop_pct ", crop_pct);
  const auto shorter = std::max<int64_t>(s, static_cast<int64_t>(std::floor(static_cast<double>(s) / crop_pct)));
  const bool wide = img.width >= img.height;
  const double src_short = static_cast<double>(wide ? img.height : img.width);
  const double src_long = static_cast<double>(wide ? img.width : img.height);
  const auto longer = std::max<int64_t>(shorter, static_cast<int64_t>(static_cast<double>(shorter) * src_long / src_short));
  const int64_t rh = wide ? shorter : longer, rw = wide ? longer : shorter;
  const double top = std::round(static_cast<double>(rh - s) / 2.0), left = std::round(static_cast<double>(rw - s) / 2.0);
  const double sy = static_cast<double>(img.height) / static_cast<double>(rh);
  const double sx = static_cast<double>(img.width) / static_cast<double>(rw);
  const std::vector<float> pixels =
      resize_box(img, {left * sx, top * sy, static_cast<double>(s) * sx, static_cast<double>(s) * sy}, s, s);
  Tensor out = Tensor::empty({3, s, s}, DType::Float32);
  std::copy(pixels.begin(), pixels.end(), out.data<float>());
  return out;
}

}  // namespace soft::data
