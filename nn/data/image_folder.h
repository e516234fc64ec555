#pragma once
// A torchvision-style ImageFolder: root/<class>/<...>/<image>, classes sorted by name give the
// label index, images (.jpg .jpeg .png, any case) sorted by path. Images are decoded on load
// (image_decode.h), transformed on 8-bit pixels as timm does on Pillow images (RandomResizedCrop,
// flip, RandAugment or color jitter; or Resize + CenterCrop), then normalised to a float32
// [3, size, size] tensor.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "nn/data/image_decode.h"
#include "nn/data/rand_augment.h"
#include "nn/data/resize.h"

namespace soft::data {

struct Transform {
  int64_t size = 224;  // output is [3, size, size]
  // train: RandomResizedCrop(size, scale=(scale_min, 1), ratio=(ratio_min, ratio_max)) then a
  // horizontal flip with p 0.5 (if hflip). eval: shorter side resized to floor(size / 0.875),
  // then a centre crop of size (timm's default eval transform).
  bool train = false;
  double scale_min = 0.08, ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  bool hflip = true;
  // Resampling of the crop (train) and of the resize (eval), computed as Pillow computes it.
  Interpolation interpolation = Interpolation::Bilinear;
  // Train only, on the 8-bit crop after the flip (timm's order): RandAugment if set, else the
  // color jitter (timm runs its jitter only without RandAugment); all strengths 0: none.
  std::optional<RandAugmentConfig> rand_augment;
  ColorJitterConfig color_jitter{0, 0, 0};
  // Applied to pixel / 255: (x - mean[c]) / std[c]. Defaults: ImageNet statistics.
  std::array<double, 3> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};
};

class ImageFolder {
 public:
  // Throws soft::Error if root is missing, has no class folders, or a class has no images.
  explicit ImageFolder(const std::string& root);

  int64_t size() const { return static_cast<int64_t>(samples_.size()); }
  int64_t num_classes() const { return static_cast<int64_t>(classes_.size()); }
  const std::vector<std::string>& class_names() const { return classes_; }
  const std::string& path(int64_t index) const;
  int64_t label(int64_t index) const;

  // Image `index` as float32 [3, t.size, t.size] and its label. Random draws (train only) come
  // from gen, so a seed fixes the result.
  std::pair<Tensor, int64_t> load(int64_t index, const Transform& t, Generator& gen) const;

 private:
  std::string root_;
  std::vector<std::string> classes_;
  std::vector<std::pair<std::string, int64_t>> samples_;  // (path, label)
};

}  // namespace soft::data

namespace soft::data {

// Prediction's evaluation transform of one decoded image: the shorter side resized to
// floor(size / crop_pct) with `interpolation` (Pillow's), the centre size x size cut out;
// float32 [3, size, size], pixel / 255, not normalised.
Tensor eval_image(const Image& img, int64_t size, double crop_pct, Interpolation interpolation);

}  // namespace soft::data
