#include "nn/optim/mixup.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "ops/dispatch.h"

namespace soft::nn::optim {

namespace {

double draw_uniform(Generator& gen) { return uniform({1}, 0.0, 1.0, gen, DType::Float64).item(); }
double draw_normal(Generator& gen) { return normal({1}, 0.0, 1.0, gen, DType::Float64).item(); }

// An integer uniform in [0, n), as numpy's randint(0, n).
int64_t draw_index(int64_t n, Generator& gen) {
  return std::min<int64_t>(n - 1, static_cast<int64_t>(draw_uniform(gen) * static_cast<double>(n)));
}

}  // namespace

double sample_gamma(double shape, Generator& gen) {
  SOFT_CHECK(shape > 0, "sample_gamma: shape ", shape, " must be > 0");
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a).
    double g = sample_gamma(shape + 1.0, gen);
    return g * std::pow(draw_uniform(gen), 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double z = draw_normal(gen);
    double v = 1.0 + c * z;
    if (v <= 0.0) continue;
    v = v * v * v;
    double u = draw_uniform(gen);
    if (u < 1.0 - 0.0331 * z * z * z * z) return d * v;
    if (std::log(u) < 0.5 * z * z + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double sample_beta(double a, double b, Generator& gen) {
  double x = sample_gamma(a, gen), y = sample_gamma(b, gen);
  return x + y > 0.0 ? x / (x + y) : 0.5;
}

Tensor smooth_one_hot(const Tensor& labels, int64_t num_classes, double smoothing, DType dtype) {
  SOFT_CHECK(labels.dim() == 1 && labels.dtype() == DType::Int64 && labels.device().is_cpu(),
             "smooth_one_hot: labels must be int64 [B] on the CPU (got ", dtype_name(labels.dtype()), " ",
             shape_str(labels.shape()), ")");
  int64_t b = labels.size(0);
  Tensor lab = labels.contiguous();
  const int64_t* lp = lab.data<int64_t>();
  double off = smoothing / static_cast<double>(num_classes), on = 1.0 - smoothing + off;
  Tensor t = Tensor::empty({b, num_classes}, dtype);
  dispatch_float(dtype, "smooth_one_hot", [&](auto tag) {
    using T = decltype(tag);
    T* tp = t.data<T>();
    for (int64_t i = 0; i < b; ++i) {
      SOFT_CHECK(lp[i] >= 0 && lp[i] < num_classes, "smooth_one_hot: label ", lp[i], " outside [0, ", num_classes,
                 ")");
      std::fill(tp + i * num_classes, tp + (i + 1) * num_classes, static_cast<T>(off));
      tp[i * num_classes + lp[i]] = static_cast<T>(on);
    }
  });
  return t;
}

MixupResult mixup_cutmix(const Tensor& x, const Tensor& labels, const MixupConfig& cfg, Generator& gen) {
  SOFT_CHECK(x.dim() == 4 && x.device().is_cpu(), "mixup_cutmix: x must be [B, C, H, W] on the CPU (got ",
             shape_str(x.shape()), " on ", x.device().str(), ")");
  SOFT_CHECK(labels.dim() == 1 && labels.size(0) == x.size(0), "mixup_cutmix: labels ", shape_str(labels.shape()),
             " do not match x ", shape_str(x.shape()));
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  SOFT_CHECK(B % 2 == 0, "mixup_cutmix: batch size ", B, " must be even");

  MixupResult r;
  // timm _params_per_batch: the same sequence of decisions and draws.
  if ((cfg.mixup_alpha > 0 || cfg.cutmix_alpha > 0) && draw_uniform(gen) < cfg.prob) {
    if (cfg.mixup_alpha > 0 && cfg.cutmix_alpha > 0) r.cutmix = draw_uniform(gen) < cfg.switch_prob;
    else r.cutmix = cfg.cutmix_alpha > 0;
    double alpha = r.cutmix ? cfg.cutmix_alpha : cfg.mixup_alpha;
    r.lam = sample_beta(alpha, alpha, gen);
  }
  if (r.cutmix && r.lam < 1.0) {
    // timm rand_bbox with margin 0, then the lam correction by the clipped box's area.
    double ratio = std::sqrt(1.0 - r.lam);
    int64_t cut_h = static_cast<int64_t>(static_cast<double>(H) * ratio);
    int64_t cut_w = static_cast<int64_t>(static_cast<double>(W) * ratio);
    int64_t cy = draw_index(H, gen), cx = draw_index(W, gen);
    r.box = {std::clamp<int64_t>(cy - cut_h / 2, 0, H), std::clamp<int64_t>(cy + cut_h / 2, 0, H),
             std::clamp<int64_t>(cx - cut_w / 2, 0, W), std::clamp<int64_t>(cx + cut_w / 2, 0, W)};
    double area = static_cast<double>((r.box[1] - r.box[0]) * (r.box[3] - r.box[2]));
    r.lam = 1.0 - area / static_cast<double>(H * W);
  }

  Tensor src = x.contiguous();
  r.x = Tensor::empty(x.shape(), x.dtype(), Device::cpu(), x.is_pinned());
  dispatch_float(x.dtype(), "mixup_cutmix", [&](auto tag) {
    using T = decltype(tag);
    const T* sp = src.data<T>();
    T* dp = r.x.data<T>();
    const int64_t plane = H * W, n = C * plane;
    const T lam = static_cast<T>(r.lam), one_lam = static_cast<T>(1.0 - r.lam);
    const int64_t y0 = r.box[0], y1 = r.box[1], x0 = r.box[2], x1 = r.box[3];  // clang 14 cannot capture bindings
    const bool cut = r.cutmix;
    parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* a = sp + b * n;               // this sample
        const T* f = sp + (B - 1 - b) * n;     // its partner in x.flip(0)
        T* d = dp + b * n;
        if (cut) {
          std::copy(a, a + n, d);
          for (int64_t c = 0; c < C; ++c)
            for (int64_t y = y0; y < y1; ++y)
              std::copy(f + c * plane + y * W + x0, f + c * plane + y * W + x1, d + c * plane + y * W + x0);
        } else {
          for (int64_t i = 0; i < n; ++i) d[i] = lam * a[i] + one_lam * f[i];
        }
      }
    });
  });

  Tensor t = smooth_one_hot(labels, cfg.num_classes, cfg.label_smoothing, x.dtype());
  r.target = Tensor::empty(t.shape(), t.dtype(), Device::cpu(), x.is_pinned());
  dispatch_float(x.dtype(), "mixup_cutmix", [&](auto tag) {
    using T = decltype(tag);
    const T* tp = t.data<T>();
    T* op = r.target.data<T>();
    const int64_t K = cfg.num_classes;
    const T lam = static_cast<T>(r.lam), one_lam = static_cast<T>(1.0 - r.lam);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < K; ++k) op[b * K + k] = lam * tp[b * K + k] + one_lam * tp[(B - 1 - b) * K + k];
  });
  return r;
}

}  // namespace soft::nn::optim
