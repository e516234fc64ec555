#include "nn/data/synthetic.h"

#include "core/random.h"

namespace soft::data {

Dataset synthetic_dataset(int64_t n, int64_t channels, int64_t height, int64_t width, int64_t num_classes,
                          uint64_t seed) {
  SOFT_CHECK(n >= 0 && channels > 0 && height > 0 && width > 0 && num_classes > 0,
             "synthetic_dataset: need n >= 0 and positive channels/height/width/num_classes, got n = ", n,
             ", shape [", channels, ", ", height, ", ", width, "], num_classes = ", num_classes);
  Generator gen(seed);
  const int64_t per = channels * height * width;
  Tensor pattern = uniform({num_classes, per}, 0.0, 1.0, gen);  // [K, C*H*W]
  Tensor noise = uniform({n, per}, 0.0, 1.0, gen);              // [N, C*H*W]
  Tensor perm = randperm(n, gen);                               // [N]

  Dataset ds;
  ds.images = Tensor::empty({n, channels, height, width}, DType::Float32);
  ds.labels = Tensor::empty({n}, DType::Int64);
  ds.num_classes = num_classes;
  ds.name = "synthetic";
  const float* pat = pattern.data<float>();
  const float* nz = noise.data<float>();
  const int64_t* pp = perm.data<int64_t>();
  float* img = ds.images.data<float>();
  int64_t* lab = ds.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = pp[i] % num_classes;
    lab[i] = y;
    const float* prow = pat + y * per;
    const float* nrow = nz + i * per;
    float* out = img + i * per;
    for (int64_t j = 0; j < per; ++j) out[j] = 0.7f * prow[j] + 0.3f * nrow[j];
  }
  return ds;
}

}  // namespace soft::data
