// libFuzzer harness: the input is decoded as an image (JPEG or PNG by its magic bytes) and, when
// that succeeds, run through ImageFolder's eval and train transforms at 8x8 (train: bicubic, with
// the recipe's RandAugment, whose geometric ops resample and whose histogram ops divide). Every outcome but
// success or a soft::Error is a finding; a decoded image must be height x width x 3 bytes and the
// transformed tensors finite.
#include <cmath>
#include <cstdint>
#include <string>

#include "nn/data/image_decode.h"
#include "nn/data/image_folder.h"
#include "tests/fuzz/scratch_dir.h"

namespace {

void check_finite(const soft::Tensor& t) {
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) soft::fuzz::require(std::isfinite(p[i]), "transformed pixel not finite");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const soft::fuzz::ScratchDir dir;
  const std::string input = dir.write("root/class/input.png", data, size);  // decoding ignores the extension
  try {
    const soft::data::Image img = soft::data::decode_image(input);
    soft::fuzz::require(img.height > 0 && img.width > 0 &&
                            img.rgb.size() == static_cast<size_t>(img.height * img.width * 3),
                        "decoded size disagrees with the pixel buffer");
    const soft::data::ImageFolder folder(dir.path() + "/root");
    soft::data::Transform t;
    t.size = 8;
    soft::Generator gen(1);
    check_finite(folder.load(0, t, gen).first);
    t.train = true;
    check_finite(folder.load(0, t, gen).first);
    t.interpolation = soft::data::Interpolation::Bicubic;
    t.rand_augment = soft::data::parse_rand_augment("rand-m9-mstd0.5-inc1", {124, 116, 104});
    t.rand_augment->prob = 1.0;  // every drawn op runs
    check_finite(folder.load(0, t, gen).first);
  } catch (const soft::Error&) {
  }
  return 0;
}
