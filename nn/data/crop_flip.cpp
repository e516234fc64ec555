#include "nn/data/crop_flip.h"

#include <algorithm>
#include <cstring>

#include "core/philox.h"

namespace soft::data {

void random_crop_flip_(Tensor& images, const CropFlipConfig& cfg, Generator& gen) {
  SOFT_CHECK(images.defined() && images.dim() == 4 && images.dtype() == DType::Float32 &&
                 images.device().is_cpu() && images.is_contiguous(),
             "random_crop_flip_: images must be a contiguous float32 CPU [B, C, H, W] tensor");
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t pad = cfg.padding;
  SOFT_CHECK(pad >= 0, "random_crop_flip_: padding ", pad, " is negative");
  SOFT_CHECK(cfg.fill.empty() || static_cast<int64_t>(cfg.fill.size()) == C, "random_crop_flip_: ",
             cfg.fill.size(), " fill values for ", C, " channels");
  if (pad == 0 && !cfg.hflip) return;
  // One Philox block per sample: its words give dy, dx and the flip.
  const uint64_t first = gen.reserve(4 * static_cast<uint64_t>(B));
  std::vector<float> src(static_cast<size_t>(C * H * W));
  float* data = images.data<float>();
  for (int64_t b = 0; b < B; ++b) {
    auto u = [&](int k) { return philox_uniform(gen.seed, first, 4 * static_cast<uint64_t>(b) + k); };
    const int64_t span = 2 * pad + 1;
    const int64_t dy = std::min(span - 1, static_cast<int64_t>(u(0) * static_cast<double>(span))) - pad;
    const int64_t dx = std::min(span - 1, static_cast<int64_t>(u(1) * static_cast<double>(span))) - pad;
    const bool flip = cfg.hflip && u(2) < 0.5;
    float* img = data + b * C * H * W;
    std::memcpy(src.data(), img, src.size() * sizeof(float));
    // out[c, y, x] = padded[c, y + dy + pad, x' + dx + pad] = src[c, y + dy, x' + dx], x' = flipped x.
    for (int64_t c = 0; c < C; ++c) {
      const float fill = cfg.fill.empty() ? 0.0f : cfg.fill[static_cast<size_t>(c)];
      for (int64_t y = 0; y < H; ++y) {
        const int64_t sy = y + dy;
        float* row = img + (c * H + y) * W;
        for (int64_t x = 0; x < W; ++x) {
          const int64_t sx = (flip ? W - 1 - x : x) + dx;
          row[x] = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[static_cast<size_t>((c * H + sy) * W + sx)] : fill;
        }
      }
    }
  }
}

}  // namespace soft::data
