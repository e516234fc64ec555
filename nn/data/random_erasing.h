#pragma once
// Random erasing (Zhong et al. 2017) as timm's RandomErasing: with probability `prob` an image
// gets `count` rectangles (count in [min_count, max_count]) replaced by noise. Each rectangle
// tries up to 10 times: target area ~ U(min_area, max_area) * H W / count, aspect ratio
// exp(U(log min_aspect, log max_aspect)), h = round(sqrt(area * aspect)), w = round(sqrt(area /
// aspect)); it is placed (top ~ U{0..H-h}, left ~ U{0..W-w}) at the first try with h < H and w < W.
// Applied to normalised images, so the noise is N(0, 1) (what a normalised pixel looks like).
// Every draw comes from the Generator: same seed, same result.
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace soft::data {

struct RandomErasingConfig {
  enum class Mode {
    Const,  // zeros
    Rand,   // one N(0, 1) value per channel for the whole rectangle
    Pixel,  // an N(0, 1) value per channel and pixel (the SOFT / timm ImageNet recipe)
  };
  double prob = 0.25;
  double min_area = 0.02, max_area = 1.0 / 3.0;  // fractions of the image
  double min_aspect = 0.3, max_aspect = 1.0 / 0.3;
  int64_t min_count = 1, max_count = 1;
  Mode mode = Mode::Pixel;
};

// "const", "rand" or "pixel"; anything else throws naming the text.
RandomErasingConfig::Mode parse_erasing_mode(const std::string& text);

struct ErasedBox {
  int64_t image = 0;  // index in the batch
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// Erases in place in images float32 [B, C, H, W] (contiguous, CPU), each image independently.
// Returns the rectangles written, in order.
std::vector<ErasedBox> random_erase_(Tensor& images, const RandomErasingConfig& cfg, Generator& gen);

}  // namespace soft::data
