#pragma once
// Datasets for the data loader's tests (tests/test_loader*.cpp): every pixel of image i holds one
// value chosen from i, so a batch shows which samples it holds.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "nn/data/dataset.h"

namespace soft::test {

// n images [C, H, W] = chw: image i filled with value(i) (a float), labelled i % num_classes.
template <class Value>
data::Dataset constant_image_dataset(int64_t n, const std::array<int64_t, 3>& chw, int64_t num_classes,
                                     const std::string& name, Value value) {
  data::Dataset ds;
  ds.images = Tensor::empty({n, chw[0], chw[1], chw[2]}, DType::Float32);
  ds.labels = Tensor::empty({n}, DType::Int64);
  ds.num_classes = num_classes;
  ds.name = name;
  const int64_t pixels = chw[0] * chw[1] * chw[2];
  float* p = ds.images.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    std::fill(p + i * pixels, p + (i + 1) * pixels, value(i));
    ds.labels.data<int64_t>()[i] = i % num_classes;
  }
  return ds;
}

}  // namespace soft::test
