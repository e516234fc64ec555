#include "nn/data/cifar.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace soft::data {
namespace {

constexpr int64_t kSide = 32, kChannels = 3, kPixels = kChannels * kSide * kSide;  // 3072
constexpr int64_t kRecord = 1 + kPixels;                                           // 3073
constexpr int64_t kClasses = 10;

}  // namespace

Dataset load_cifar10_batches(const std::vector<std::string>& paths, const std::string& name) {
  namespace fs = std::filesystem;
  SOFT_CHECK(!paths.empty(), "cifar10: no batch files given");
  // Sizes first, so the tensors are allocated once and a bad size is reported before any reading.
  std::vector<int64_t> records;
  int64_t total = 0;
  for (const std::string& path : paths) {
    std::error_code ec;
    SOFT_CHECK(fs::is_regular_file(path, ec), "cifar10: ", path, ": no such file");
    const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
    SOFT_CHECK(!ec, "cifar10: ", path, ": cannot read its size (", ec.message(), ")");
    SOFT_CHECK(bytes > 0, "cifar10: ", path, ": empty file (a CIFAR-10 batch holds ", kRecord, "-byte records)");
    SOFT_CHECK(bytes % kRecord == 0, "cifar10: ", path, ": size ", bytes, " bytes is not a multiple of the ",
               kRecord, "-byte record (truncated or not a CIFAR-10 binary batch)");
    records.push_back(bytes / kRecord);
    total += bytes / kRecord;
  }
  Dataset ds;
  ds.images = Tensor::empty({total, kChannels, kSide, kSide});  // [N, 3, 32, 32]
  ds.labels = Tensor::empty({total}, DType::Int64);              // [N]
  ds.num_classes = kClasses;
  ds.name = name;
  float* img = ds.images.data<float>();
  int64_t* lab = ds.labels.data<int64_t>();
  std::vector<unsigned char> rec(kRecord);
  int64_t row = 0;
  for (size_t f = 0; f < paths.size(); ++f) {
    std::ifstream in(paths[f], std::ios::binary);
    SOFT_CHECK(in, "cifar10: ", paths[f], ": cannot open (", std::strerror(errno), ")");
    for (int64_t r = 0; r < records[f]; ++r, ++row) {
      in.read(reinterpret_cast<char*>(rec.data()), kRecord);
      SOFT_CHECK(in, "cifar10: ", paths[f], ": truncated while reading record ", r);
      SOFT_CHECK(rec[0] < kClasses, "cifar10: ", paths[f], ": bad label ", int{rec[0]}, " in record ", r,
                 " (expected 0..9)");
      lab[row] = rec[0];
      float* out = img + row * kPixels;  // the file's plane order is already [3, 32, 32]
      for (int64_t i = 0; i < kPixels; ++i) out[i] = static_cast<float>(rec[1 + i]) / 255.0f;
    }
  }
  return ds;
}

Dataset load_cifar10_dir(const std::string& dir, bool train) {
  namespace fs = std::filesystem;
  fs::path base(dir);
  std::error_code ec;
  const char* probe = train ? "data_batch_1.bin" : "test_batch.bin";
  if (!fs::exists(base / probe, ec) && fs::is_directory(base / "cifar-10-batches-bin", ec))
    base /= "cifar-10-batches-bin";
  std::vector<std::string> paths;
  if (train)
    for (int i = 1; i <= 5; ++i) paths.push_back((base / ("data_batch_" + std::to_string(i) + ".bin")).string());
  else
    paths.push_back((base / "test_batch.bin").string());
  return load_cifar10_batches(paths, train ? "cifar10/train" : "cifar10/test");
}

}  // namespace soft::data
