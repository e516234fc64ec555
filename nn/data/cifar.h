#pragma once
// CIFAR-10, binary version: each record is 1 label byte (0..9) then 3072 pixel bytes, the R, G
// and B planes of a 32x32 image, row-major. Every bad file is a soft::Error naming it.
#include <string>
#include <vector>

#include "nn/data/dataset.h"

namespace soft::data {

// Images [N, 3, 32, 32] in [0, 1] and labels [N] from the given batch files, concatenated in order.
Dataset load_cifar10_batches(const std::vector<std::string>& paths, const std::string& name = "cifar10");

// data_batch_1.bin .. data_batch_5.bin (train) or test_batch.bin (test) in `dir`, or in its
// cifar-10-batches-bin/ subdirectory (the layout the official tarball extracts to).
Dataset load_cifar10_dir(const std::string& dir, bool train);

}  // namespace soft::data
