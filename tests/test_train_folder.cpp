// soft train on an ImageNet-style folder (train/ and val/ with one folder per class): images
// decoded on demand with random-resized-crop, flip and random erasing; a stopped and resumed run
// matches the uninterrupted one.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/png_writer.h"
#include "tests/train_test_util.h"

using namespace soft;
using namespace soft::test;
namespace fs = std::filesystem;

namespace {

// An RGB PNG of w x h whose colour is mostly red (class 0) or blue (class 1), varied by `seed`.
void write_class_png(const std::string& path, int w, int h, int cls, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
  for (int i = 0; i < w * h; ++i) {
    const uint8_t v = static_cast<uint8_t>((i * 37 + seed * 91) % 64);
    px[i * 3 + 0] = static_cast<uint8_t>(cls == 0 ? 180 + v : v);
    px[i * 3 + 1] = static_cast<uint8_t>(v * 2);
    px[i * 3 + 2] = static_cast<uint8_t>(cls == 1 ? 180 + v : v);
  }
  write_png(path, w, h, 3, px);
}

}  // namespace

TEST_CASE("train folder: decoded images train, and a resumed run matches") {
  TempDir dir;
  const std::string root = dir.file("images");
  for (const auto& [split, count] : {std::pair{"train", 8}, std::pair{"val", 4}})
    for (int cls = 0; cls < 2; ++cls) {
      const std::string folder = root + "/" + split + "/" + (cls == 0 ? "red" : "blue");
      fs::create_directories(folder);
      for (int i = 0; i < count; ++i) write_class_png(folder + "/" + std::to_string(i) + ".png", 12, 10, cls, i);
    }
  Json model = Json::parse(kTinyModel);
  model["in_chans"] = 3;
  model["num_classes"] = 2;
  const std::string model_path = write_text(dir.file("rgb_model.json"), model.dump());
  const Json changes = {
      {"model", {{"config", model_path}}},
      {"data", {{"kind", "folder"}, {"path", root}, {"image_size", 8}, {"workers", 2}}},
      {"augmentation", {{"hflip", true}, {"scale_min", 0.5}, {"random_erase", 0.5}}},
      {"batch", 4},
      {"epochs", 3}};
  const std::string full = dir.file("full");
  CliResult a = soft_cli({"train", "--config", tiny_train_config(dir, changes), "--run-dir", full});
  INFO(a.out << a.err);
  REQUIRE(a.code == 0);
  CHECK(contains(a.out, "data: images: 16 train / 8 test images of 3x8x8, 2 classes"));
  const std::vector<Json> expected = metrics_without_timing(full);
  REQUIRE(expected.size() == 4 * 3 + 3);  // 4 steps per epoch, one evaluation per epoch

  Json stop = changes;
  stop["debug"]["stop_at_step"] = 6;
  const std::string run = dir.file("stopped");
  CliResult b = soft_cli({"train", "--config", tiny_train_config(dir, stop, "stop.json"), "--run-dir", run});
  INFO(b.out << b.err);
  REQUIRE(b.code == 0);
  CliResult c = soft_cli({"train", "--resume", run});
  INFO(c.out << c.err);
  REQUIRE(c.code == 0);
  CHECK(metrics_without_timing(run) == expected);
}

TEST_CASE("train folder: a bad file stops the run naming it, or with data.skip_bad_files is skipped") {
  TempDir dir;
  const std::string root = dir.file("images");
  for (const auto& [split, count] : {std::pair{"train", 4}, std::pair{"val", 2}})
    for (int cls = 0; cls < 2; ++cls) {
      const std::string folder = root + "/" + split + "/" + (cls == 0 ? "red" : "blue");
      fs::create_directories(folder);
      for (int i = 0; i < count; ++i) write_class_png(folder + "/" + std::to_string(i) + ".png", 12, 10, cls, i);
    }
  const std::string bad = root + "/train/red/2_truncated.png";
  write_text(bad, "\x89PNG\r\n\x1a\n");  // the signature alone
  Json model = Json::parse(kTinyModel);
  model["in_chans"] = 3;
  model["num_classes"] = 2;
  const std::string model_path = write_text(dir.file("rgb_model.json"), model.dump());
  Json changes = {{"model", {{"config", model_path}}},
                  {"data", {{"kind", "folder"}, {"path", root}, {"image_size", 8}, {"workers", 2}}},
                  {"batch", 3},
                  {"epochs", 1}};
  CliResult stopped = soft_cli({"train", "--config", tiny_train_config(dir, changes), "--run-dir", dir.file("a")});
  INFO(stopped.out << stopped.err);
  CHECK(stopped.code != 0);
  CHECK(contains(stopped.err, bad));
  CHECK(contains(stopped.err, "corrupt or truncated PNG"));

  // The skip is reported on the process's stderr (from a loader thread): run the binary to see it.
  changes["data"]["skip_bad_files"] = true;
  const auto [code, output] =
      run_binary("train --config " + tiny_train_config(dir, changes, "skip.json") + " --run-dir " + dir.file("b"));
  INFO(output);
  CHECK(code == 0);
  CHECK(contains(output, "data: skipping a bad file (data.skip_bad_files), 1 so far: decode_image: " + bad));
  CHECK(contains(output, "unreadable image"));  // counted at the end of the epoch that met it
  CHECK(contains(output, "replaced by the next one (data.skip_bad_files)"));
  CHECK(contains(output, "done: 3 steps"));
}
