#pragma once
// An in-memory labelled image dataset (MNIST, Fashion-MNIST, CIFAR-10 readers: idx.h, cifar.h)
// and per-channel normalisation.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace soft::data {

struct Dataset {
  Tensor images;  // float32 [N, C, H, W], pixel bytes / 255, so in [0, 1]
  Tensor labels;  // int64 [N], each in [0, num_classes)
  int64_t num_classes = 0;
  std::string name;
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

struct ChannelStats {
  std::vector<double> mean, std;  // one entry per channel C
};

// Mean and (population) standard deviation of each channel over all N*H*W pixels.
inline ChannelStats channel_stats(const Dataset& ds) {
  const Tensor& x = ds.images;  // [N, C, H, W]
  SOFT_CHECK(x.defined() && x.dim() == 4 && x.dtype() == DType::Float32 && x.device().is_cpu() &&
                 x.is_contiguous(),
             "channel_stats: ", ds.name, ": images must be a contiguous float32 CPU [N, C, H, W] tensor");
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  SOFT_CHECK(n * hw > 0, "channel_stats: ", ds.name, ": no pixels (images ", shape_str(x.shape()), ")");
  const float* p = x.data<float>();
  ChannelStats s{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0;  // double accumulators: 50000*1024 pixels per CIFAR channel
    for (int64_t i = 0; i < n; ++i) {
      const float* row = p + (i * c + ch) * hw;
      for (int64_t j = 0; j < hw; ++j) {
        sum += row[j];
        sq += static_cast<double>(row[j]) * row[j];
      }
    }
    const double count = static_cast<double>(n * hw), m = sum / count;
    s.mean[ch] = m;
    s.std[ch] = std::sqrt(std::max(0.0, sq / count - m * m));
  }
  return s;
}

// In place: images[:, c] = (images[:, c] - mean[c]) / std[c] (as torchvision's Normalize).
inline void normalize_(Dataset& ds, const std::vector<double>& mean, const std::vector<double>& std) {
  Tensor& x = ds.images;  // [N, C, H, W]
  SOFT_CHECK(x.defined() && x.dim() == 4 && x.dtype() == DType::Float32 && x.device().is_cpu() &&
                 x.is_contiguous(),
             "normalize_: ", ds.name, ": images must be a contiguous float32 CPU [N, C, H, W] tensor");
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  SOFT_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c, "normalize_: ",
             ds.name, ": images have ", c, " channels but mean/std have ", mean.size(), "/", std.size(), " entries");
  for (int64_t ch = 0; ch < c; ++ch)
    SOFT_CHECK(std[ch] > 0, "normalize_: ", ds.name, ": std[", ch, "] = ", std[ch], " must be positive");
  float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float m = static_cast<float>(mean[ch]), inv = static_cast<float>(1.0 / std[ch]);
      float* row = p + (i * c + ch) * hw;
      for (int64_t j = 0; j < hw; ++j) row[j] = (row[j] - m) * inv;
    }
}

}  // namespace soft::data
