// libFuzzer harness: the input is read as an IDX image file (beside a valid one-label file) and
// as an IDX label file (beside a valid one-image file), plain or gzip. Every outcome but success
// or a soft::Error is a finding; a loaded dataset must hold pixels in [0, 1] and labels < 10.
#include <cstdint>
#include <string>

#include "nn/data/idx.h"
#include "tests/fuzz/scratch_dir.h"

namespace {

void check(const soft::data::Dataset& ds) {
  const float* px = ds.images.data<float>();
  for (int64_t i = 0; i < ds.images.numel(); ++i)
    soft::fuzz::require(px[i] >= 0.0f && px[i] <= 1.0f, "pixel outside [0, 1]");
  const int64_t* lab = ds.labels.data<int64_t>();
  for (int64_t i = 0; i < ds.labels.numel(); ++i) soft::fuzz::require(lab[i] >= 0 && lab[i] < 10, "label outside 0..9");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const soft::fuzz::ScratchDir dir;
  // One 2x2 image (magic 0x803, dims 1, 2, 2) and one label (magic 0x801, count 1, label 3).
  static const std::string images =
      dir.write("images", std::string("\0\0\x08\x03\0\0\0\x01\0\0\0\x02\0\0\0\x02\x00\x40\x80\xff", 20));
  static const std::string labels = dir.write("labels", std::string("\0\0\x08\x01\0\0\0\x01\x03", 9));
  const std::string input = dir.write("input", data, size);
  try {
    check(soft::data::load_idx_pair(input, labels));
  } catch (const soft::Error&) {
  }
  try {
    check(soft::data::load_idx_pair(images, input));
  } catch (const soft::Error&) {
  }
  return 0;
}
