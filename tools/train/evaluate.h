#pragma once
// Accuracy of a classifier on a split: top-1, top-5 and the mean cross-entropy (no smoothing),
// in eval mode without autograd.
#include <cstdint>

#include "core/device.h"
#include "dist/communicator.h"
#include "nn/data/loader.h"
#include "nn/module.h"

namespace soft::tools::train {

struct EvalResult {
  double top1 = 0, top5 = 0;  // fractions in [0, 1]
  double loss = 0;            // mean cross-entropy per image
  int64_t images = 0;
};

// Runs the whole epoch 0 of `loader` (which must keep the order: no shuffling) through the model
// on `device`. The model is left in eval mode. With a communicator, each rank's loader holds its
// share of the split and the counts are summed over the ranks: every rank gets the whole split's result.
EvalResult evaluate(nn::Module& model, data::DataLoader& loader, Device device, dist::Communicator* comm = nullptr);

// Counts of correct top-1 and top-5 predictions of logits [B, K] (CPU) for labels int64 [B]; with
// K < 5 classes top-5 counts every image. Ties are broken towards the lower class index.
void count_correct(const Tensor& logits, const Tensor& labels, int64_t& top1, int64_t& top5);

}  // namespace soft::tools::train
