// Memory over a long run (docs/RELIABILITY.md): a small model trained in-process for ten epochs
// holds, in every epoch after the second, at most a bound more memory than in the second; a leak
// of one activation per step would exceed the bound several times over.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <streambuf>

#include "tests/train_test_util.h"
#include "tools/train/trainer.h"

#if defined(__SANITIZE_ADDRESS__)
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

using namespace soft;
using namespace soft::test;

namespace {

constexpr size_t kKiB = 1024, kMiB = kKiB * kKiB;

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's quarantine keeps freed memory resident by design (up to 256 MB), so under it
// the measure is the bytes the program holds allocated, which is exact; and steps run about 25
// times slower. The tiny model on 8x8 images: its largest activation, the stem's output, is
// [32, 4, 8, 8] floats (32 KiB) for a batch of 32; one leaked per step adds 1 MiB over epochs 3
// to 10. What the trainer holds varies by a few KiB between epochs.
size_t memory_in_use() { return __sanitizer_get_current_allocated_bytes(); }
constexpr int64_t kImageSize = 8, kStemWidth = 4;
constexpr size_t kBound = 256 * kKiB;
#else
// Resident memory. The tiny model on 16x16 images with a 16-channel stem: its largest activation,
// the stem's output, is [32, 16, 16, 16] floats (512 KiB) for a batch of 32; one leaked per step
// adds 16 MiB over epochs 3 to 10. The epochs' peaks vary by a few activations (about 2 MiB),
// with where the loader's next batch is when a line is printed.
size_t memory_in_use() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}
constexpr int64_t kImageSize = 16, kStemWidth = 16;
constexpr size_t kBound = 6 * kMiB;
#endif

// The trainer's output stream: notes memory_in_use() at the end of each line it prints, one per
// step (log.every_steps 1) and one per evaluation.
class MemoryPerLine : public std::streambuf {
 public:
  struct Sample {
    bool evaluation;  // the line reports an evaluation
    size_t bytes;
  };
  MemoryPerLine() {  // no allocations of its own while sampling
    samples.reserve(1000);
    line_.reserve(1000);
  }
  std::vector<Sample> samples;

 protected:
  int overflow(int c) override {
    if (c == '\n') {
      // An evaluation's line reads "epoch E/N: test top-1 ..."; a step's "epoch E/N  step ...".
      samples.push_back({contains(line_, ": test top-1"), memory_in_use()});
      line_.clear();
    } else if (c != traits_type::eof()) {
      line_.push_back(static_cast<char>(c));
    }
    return traits_type::not_eof(c);
  }

 private:
  std::string line_;
};

}  // namespace

TEST_CASE("train: memory stays flat across epochs") {
  TempDir dir;
  Json model = Json::parse(kTinyModel);
  model["img_size"] = kImageSize;
  model["stem_width"] = kStemWidth;
  const std::string model_file = write_text(dir.file("model.json"), model.dump());
  // 4 steps of 32 images per epoch, 10 epochs, a checkpoint and an evaluation after each.
  const Json changes = {{"epochs", 10},
                        {"batch", 32},
                        {"model", {{"config", model_file}}},
                        {"data", {{"synthetic", {{"train", 128}, {"size", kImageSize}}}}}};
  tools::train::TrainConfig config = tools::train::load_train_config(tiny_train_config(dir, changes));
  MemoryPerLine lines;
  std::ostream out(&lines);
  tools::train::TrainerOptions options;
  options.out = &out;
  std::unique_ptr<tools::train::Trainer> trainer = tools::train::Trainer::start(config, dir.file("run"), false, options);
  REQUIRE(trainer->run().finished);

  // The most memory held in each epoch (its steps and its evaluation).
  std::vector<size_t> peaks(1, 0);
  for (const MemoryPerLine::Sample& s : lines.samples) {
    peaks.back() = std::max(peaks.back(), s.bytes);
    if (s.evaluation) peaks.push_back(0);
  }
  peaks.pop_back();
  REQUIRE(peaks.size() == 10);
  // The first epoch fills the caches (the allocator's, the loader's, the checkpoint buffers).
  const size_t settled = peaks[1];
  for (size_t e = 2; e < peaks.size(); ++e) {
    INFO("epoch " << e + 1 << ": " << peaks[e] / kKiB << " KiB at most, epoch 2: " << settled / kKiB << " KiB");
    CHECK(peaks[e] < settled + kBound);
  }
}
