#pragma once
// The standard augmentation of small-image datasets (CIFAR, Fashion-MNIST): torchvision's
// RandomCrop(size, padding) then RandomHorizontalFlip, applied to a whole batch of equally sized
// images, each sample with its own draws.
#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace soft::data {

struct CropFlipConfig {
  int64_t padding = 0;      // each side is padded by this much, then an H x W window is cut out
  bool hflip = false;       // mirror left-right with probability 0.5
  std::vector<float> fill;  // value of the padding per channel (empty: 0)
};

// In place on images float32 [B, C, H, W] (contiguous, CPU). Per sample: offsets dy, dx uniform
// in [0, 2 padding] (the window's corner in the padded image), then the flip.
void random_crop_flip_(Tensor& images, const CropFlipConfig& cfg, Generator& gen);

}  // namespace soft::data
