// libFuzzer harness: the input is read as a CIFAR-10 binary batch. Every outcome but success or a
// soft::Error is a finding; a loaded batch must hold one [3, 32, 32] image per 3073 input bytes.
#include <cstdint>
#include <string>

#include "nn/data/cifar.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const soft::fuzz::ScratchDir dir;
  const std::string input = dir.write("input.bin", data, size);
  try {
    const soft::data::Dataset ds = soft::data::load_cifar10_batches({input});
    const int64_t n = static_cast<int64_t>(size / 3073);
    soft::fuzz::require(size % 3073 == 0 && ds.images.shape() == soft::Shape{n, 3, 32, 32} &&
                            ds.labels.shape() == soft::Shape{n},
                        "batch shape does not follow the file size");
  } catch (const soft::Error&) {
  }
  return 0;
}
