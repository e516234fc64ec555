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

// Mirrors each row of img left to right, in place.
void flip_rows(Image& img) {
  for (int64_t y = 0; y < img.height; ++y) {
    uint8_t* row = &img.rgb[static_cast<size_t>(y * img.width * 3)];
    for (int64_t l = 0, r = img.width - 1; l < r; ++l, --r)
      for (int c = 0; c < 3; ++c) std::swap(row[l * 3 + c], row[r * 3 + c]);
  }
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
  const int64_t s = t.size;
  ResizeRequest r;
  r.interpolation = t.interpolation;
  Box b{};
  int64_t out_w = s, out_h = s;  // the size the whole box is resized to
  // The crop is drawn from the header's size; then only its rows and columns are decoded, at 1/2,
  // 1/4 or 1/8 scale when it stays at least the output's size there.
  DecodedRegion d = decode_image_region(file, [&](int64_t width, int64_t height) {
    if (t.train) {
      b = random_resized_crop(height, width, t, gen);
    } else {
      // Shorter side to floor(s / 0.875), the longer one scaled alike and truncated (torchvision's
      // Resize), then the centre s x s (CenterCrop, Python's round half to even).
      const auto shorter = static_cast<int64_t>(std::floor(static_cast<double>(s) / 0.875));
      const bool wide = width >= height;
      const double ratio = static_cast<double>(wide ? width : height) / static_cast<double>(wide ? height : width);
      const auto longer = static_cast<int64_t>(static_cast<double>(shorter) * ratio);
      out_h = wide ? shorter : longer, out_w = wide ? longer : shorter;
      b = {0, 0, static_cast<double>(width), static_cast<double>(height)};
    }
    return DecodeRequest{static_cast<int64_t>(b.x0), static_cast<int64_t>(b.y0), static_cast<int64_t>(b.w),
                         static_cast<int64_t>(b.h), out_w, out_h};
  });
  const Image& img = d.pixels;
  if (d.scale == 1) {  // the box is whole pixels of the decoded part: torchvision's crop, exactly
    r.x0 = static_cast<int64_t>(b.x0) - d.x0, r.y0 = static_cast<int64_t>(b.y0) - d.y0;
    r.w = static_cast<int64_t>(b.w), r.h = static_cast<int64_t>(b.h);
  } else {
    const double k = d.scale;
    r.w = img.width, r.h = img.height;
    r.box_x = std::max(0.0, b.x0 / k - static_cast<double>(d.x0));
    r.box_y = std::max(0.0, b.y0 / k - static_cast<double>(d.y0));
    r.box_w = std::min(b.w / k, static_cast<double>(r.w) - r.box_x);
    r.box_h = std::min(b.h / k, static_cast<double>(r.h) - r.box_y);
  }
  r.out_w = out_w, r.out_h = out_h;
  r.win_w = r.win_h = s;
  r.win_x = static_cast<int64_t>(std::nearbyint(static_cast<double>(out_w - s) / 2.0));
  r.win_y = static_cast<int64_t>(std::nearbyint(static_cast<double>(out_h - s) / 2.0));
  Image crop = resize_crop(img, r);  // [s, s, 3]
  if (t.train) {
    if (t.hflip && draw(gen, 1)[0] < 0.5) flip_rows(crop);
    if (t.rand_augment)
      rand_augment(crop, *t.rand_augment, gen);
    else if (t.color_jitter.brightness > 0 || t.color_jitter.contrast > 0 || t.color_jitter.saturation > 0)
      color_jitter(crop, t.color_jitter, gen);
  }
  Tensor out = Tensor::empty({3, s, s}, DType::Float32);  // (pixel / 255 - mean) / std
  float* o = out.data<float>();
  for (int64_t c = 0; c < 3; ++c) {
    float lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = static_cast<float>((v / 255.0 - t.mean[c]) / t.std[c]);
    const uint8_t* px = crop.rgb.data() + c;
    float* oc = o + c * s * s;
    for (int64_t i = 0; i < s * s; ++i) oc[i] = lut[px[i * 3]];
  }
  return {out, samples_[index].second};
}

Tensor eval_image(const Image& img, int64_t s, double crop_pct, Interpolation interpolation) {
  SOFT_CHECK(s > 0 && crop_pct > 0 && crop_pct <= 1, "eval_image: size ", s, ", crop_pct ", crop_pct);
  // The shorter side to floor(s / crop_pct), the longer one scaled alike and truncated, the centre s x s.
  const auto shorter = std::max<int64_t>(s, static_cast<int64_t>(std::floor(static_cast<double>(s) / crop_pct)));
  const bool wide = img.width >= img.height;
  const double ratio = static_cast<double>(wide ? img.width : img.height) / static_cast<double>(wide ? img.height : img.width);
  const auto longer = std::max<int64_t>(shorter, static_cast<int64_t>(static_cast<double>(shorter) * ratio));
  ResizeRequest r;
  r.interpolation = interpolation;
  r.w = img.width, r.h = img.height;
  r.out_h = wide ? shorter : longer, r.out_w = wide ? longer : shorter;
  r.win_w = r.win_h = s;
  r.win_x = static_cast<int64_t>(std::nearbyint(static_cast<double>(r.out_w - s) / 2.0));
  r.win_y = static_cast<int64_t>(std::nearbyint(static_cast<double>(r.out_h - s) / 2.0));
  const Image crop = resize_crop(img, r);  // [s, s, 3]
  Tensor out = Tensor::empty({3, s, s}, DType::Float32);
  float* o = out.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < s * s; ++i) o[c * s * s + i] = static_cast<float>(crop.rgb[i * 3 + c]) / 255.0f;
  return out;
}

}  // namespace soft::data
