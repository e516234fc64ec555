#pragma once
// MNIST / Fashion-MNIST in the IDX format: a big-endian header (magic 0x00000803 and dims
// N, rows, cols for images; 0x00000801 and N for labels) followed by unsigned bytes. Files may
// be plain or gzip-compressed (zlib reads both). Every bad file is a soft::Error naming it.
#include <string>

#include "nn/data/dataset.h"

namespace soft::data {

// Images [N, 1, rows, cols] in [0, 1] and labels [N] (each < num_classes) from two IDX files.
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                      int64_t num_classes = 10, const std::string& name = "idx");

// The train (train-*) or test (t10k-*) split of an MNIST-layout directory: finds
// {train,t10k}-{images-idx3,labels-idx1}-ubyte, also spelt images.idx3-ubyte, each optionally
// with .gz (e.g. Debian's dataset-fashion-mnist files). The dataset is named after the directory.
Dataset load_mnist_dir(const std::string& dir, bool train);

}  // namespace soft::data
