#include "nn/data/random_erasing.h"

#include <algorithm>
#include <cmath>

#include "core/philox.h"

namespace soft::data {
namespace {

// One uniform in [0, 1) from the next Philox block of gen (as Python's random.random()).
double draw_uniform(Generator& gen) { return philox_uniform(gen.seed, gen.reserve(1), 0); }

double draw_uniform(double low, double high, Generator& gen) { return low + (high - low) * draw_uniform(gen); }

// An integer in [low, high], both included (as Python's random.randint).
int64_t draw_int(int64_t low, int64_t high, Generator& gen) {
  const int64_t n = high - low + 1;
  return low + std::min<int64_t>(n - 1, static_cast<int64_t>(draw_uniform(gen) * static_cast<double>(n)));
}

void fill_box(float* image, int64_t C, int64_t H, int64_t W, const ErasedBox& box, RandomErasingConfig::Mode mode,
              Generator& gen) {
  const int64_t h = box.height, w = box.width;
  Tensor noise;  // [C, h, w] (Pixel) or [C] (Rand)
  if (mode == RandomErasingConfig::Mode::Pixel) noise = normal({C, h, w}, 0.0, 1.0, gen);
  if (mode == RandomErasingConfig::Mode::Rand) noise = normal({C}, 0.0, 1.0, gen);
  const float* np = noise.defined() ? noise.data<float>() : nullptr;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < h; ++y) {
      float* row = image + (c * H + box.top + y) * W + box.left;
      for (int64_t x = 0; x < w; ++x) {
        switch (mode) {
          case RandomErasingConfig::Mode::Const: row[x] = 0.0f; break;
          case RandomErasingConfig::Mode::Rand: row[x] = np[c]; break;
          case RandomErasingConfig::Mode::Pixel: row[x] = np[(c * h + y) * w + x]; break;
        }
      }
    }
}

}  // namespace

RandomErasingConfig::Mode parse_erasing_mode(const std::string& text) {
  if (text == "const") return RandomErasingConfig::Mode::Const;
  if (text == "rand") return RandomErasingConfig::Mode::Rand;
  if (text == "pixel") return RandomErasingConfig::Mode::Pixel;
  throw Error("random erasing: unknown mode '" + text + "' (const, rand or pixel)");
}

std::vector<ErasedBox> random_erase_(Tensor& images, const RandomErasingConfig& cfg, Generator& gen) {
  SOFT_CHECK(images.defined() && images.dim() == 4 && images.dtype() == DType::Float32 &&
                 images.device().is_cpu() && images.is_contiguous(),
             "random_erase_: images must be a contiguous float32 CPU [B, C, H, W] tensor");
  SOFT_CHECK(cfg.prob >= 0 && cfg.prob <= 1, "random_erase_: prob ", cfg.prob, " is outside [0, 1]");
  SOFT_CHECK(cfg.min_area > 0 && cfg.min_area <= cfg.max_area && cfg.min_aspect > 0 &&
                 cfg.min_aspect <= cfg.max_aspect && cfg.min_count >= 1 && cfg.min_count <= cfg.max_count,
             "random_erase_: need 0 < min_area <= max_area, 0 < min_aspect <= max_aspect and 1 <= min_count <= ",
             "max_count (got area [", cfg.min_area, ", ", cfg.max_area, "], aspect [", cfg.min_aspect, ", ",
             cfg.max_aspect, "], count [", cfg.min_count, ", ", cfg.max_count, "])");
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const double log_min = std::log(cfg.min_aspect), log_max = std::log(cfg.max_aspect);
  std::vector<ErasedBox> boxes;
  float* data = images.data<float>();
  for (int64_t b = 0; b < B; ++b) {
    if (draw_uniform(gen) > cfg.prob) continue;  // timm: random.random() > probability
    const int64_t count = cfg.min_count == cfg.max_count ? cfg.min_count : draw_int(cfg.min_count, cfg.max_count, gen);
    for (int64_t k = 0; k < count; ++k) {
      for (int attempt = 0; attempt < 10; ++attempt) {
        const double area = draw_uniform(cfg.min_area, cfg.max_area, gen) * static_cast<double>(H * W) /
                            static_cast<double>(count);
        const double aspect = std::exp(draw_uniform(log_min, log_max, gen));
        const auto h = static_cast<int64_t>(std::lround(std::sqrt(area * aspect)));
        const auto w = static_cast<int64_t>(std::lround(std::sqrt(area / aspect)));
        if (w < W && h < H) {
          ErasedBox box{b, 0, 0, h, w};
          box.top = draw_int(0, H - h, gen);
          box.left = draw_int(0, W - w, gen);
          fill_box(data + b * C * H * W, C, H, W, box, cfg.mode, gen);
          boxes.push_back(box);
          break;
        }
      }
    }
  }
  return boxes;
}

}  // namespace soft::data
