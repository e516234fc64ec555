// Faults while a run saves (docs/RELIABILITY.md): a full disk or a run folder that cannot take a
// file gives an error naming the file and the system's reason, leaves the previous file (the last
// checkpoint) whole and loadable, and the run then resumes to exactly the uninterrupted run's
// metrics and weights, what the failed run wrote after its checkpoint cut away.
//
// We run as root, where chmod does not stop writes. A full disk is simulated with RLIMIT_FSIZE:
// write() then stores what fits under the limit and fails with EFBIG, as it fails with ENOSPC
// when a disk fills up. A file that cannot be created is a path whose temporary name is taken by
// a directory, or whose folder is a regular file.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tests/error_text.h"
#include "tests/train_test_util.h"
#include "tools/train/checkpoint.h"

using namespace soft;
using namespace soft::test;
namespace fs = std::filesystem;

namespace {

// Caps the size of every file this process writes while it lives. SIGXFSZ, which would kill the
// process at the cap, is ignored meanwhile, so the write fails with EFBIG instead.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = SIG_DFL;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("write_file_atomic: a full disk, a folder that is a file, a target that is a folder") {
  TempDir dir;
  const std::string path = dir.file("config.json");
  write_file_atomic(path, "the previous content");

  std::string full_disk;
  {
    FileSizeLimit limit(1000);  // 1000 of the 5000 bytes fit: a short write, then EFBIG
    full_disk = error_of([&] { write_file_atomic(path, std::string(5000, 'x')); });
  }
  CHECK(full_disk == path + ": write failed (File too large); the previous file is unchanged");
  CHECK(read_text(path) == "the previous content");
  CHECK(dir.entries() == std::vector<std::string>{"config.json"});  // the temporary is gone

  const std::string in_a_file = path + "/x.json";
  CHECK(error_of([&] { write_file_atomic(in_a_file, "x"); }) == in_a_file + ": cannot write (Not a directory)");

  // The new file is written and flushed, but a folder holds the name it must replace.
  fs::create_directories(dir.file("taken/inside"));
  CHECK(error_of([&] { write_file_atomic(dir.file("taken"), "x"); }) ==
        dir.file("taken") + ": could not replace (Is a directory); the previous file is unchanged");
  CHECK(dir.entries() == std::vector<std::string>{"config.json", "taken"});
}

TEST_CASE("sync_to_disk flushes files and folders, and names a path it cannot open") {
  TempDir dir;
  write_file_atomic(dir.file("a.json"), "{}");
  CHECK_NOTHROW(sync_to_disk(dir.file("a.json")));
  CHECK_NOTHROW(sync_to_disk(dir.path));
  CHECK(error_of([&] { sync_to_disk(dir.file("missing")); }) ==
        dir.file("missing") + ": cannot open to flush (No such file or directory)");
}

TEST_CASE("train: a full disk at a checkpoint stops the run naming the file; it resumes exactly") {
  // 4 steps per epoch, 2 epochs, a checkpoint every 2 steps.
  const Json recipe = {{"log", {{"checkpoint_every_steps", 2}}}, {"ema", {{"enabled", true}, {"decay", 0.9}}}};
  TempDir dir;
  const std::string full = dir.file("full"), run = dir.file("run");
  REQUIRE(soft_cli({"train", "--config", tiny_train_config(dir, recipe), "--run-dir", full}).code == 0);

  Json stop = recipe;
  stop["debug"]["stop_at_step"] = 2;
  REQUIRE(soft_cli({"train", "--config", tiny_train_config(dir, stop, "stop.json"), "--run-dir", run}).code == 0);
  const std::string latest = run + "/latest.safetensors";
  fs::copy_file(latest, dir.file("step2.safetensors"));

  // The disk fills up: metrics.jsonl (a few hundred bytes) still fits, a checkpoint does not.
  CliResult failed;
  {
    FileSizeLimit limit(fs::file_size(latest) / 2);
    failed = soft_cli({"train", "--resume", run});
  }
  INFO(failed.out << failed.err);
  CHECK(failed.code == 1);
  CHECK(failed.err == "soft: error: step 4: checkpoint not saved: " + latest +
                          ": write failed (File too large); the previous file is unchanged. The last good "
                          "checkpoint, " + latest + " (step 2), is kept.\n");
  CHECK_FALSE(fs::exists(latest + ".tmp"));
  check_same_checkpoint(latest, dir.file("step2.safetensors"));

  // metrics.jsonl now runs past the checkpoint: the lines of steps 3 and 4, and (as a run killed
  // in the middle of a line leaves it) half a line. The resumed run cuts them away.
  CHECK(metrics_without_timing(run).back()["step"] == 4);
  std::ofstream(run + "/metrics.jsonl", std::ios::app) << R"({"kind":"train","epoch":1.25,"st)";
  CliResult resumed = soft_cli({"train", "--resume", run});
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(contains(resumed.out, "resuming after step 2"));
  CHECK(metrics_without_timing(run) == metrics_without_timing(full));
  check_same_checkpoint(latest, full + "/latest.safetensors");
  check_same_checkpoint(run + "/best.safetensors", full + "/best.safetensors");
}

TEST_CASE("train: a best checkpoint that cannot be written is written again by the resumed run") {
  // One epoch of 4 steps, a checkpoint after step 4, then the evaluation: it is the best so far,
  // but best.safetensors cannot be created (a folder took its temporary name). The run stops
  // before recording the evaluation in latest.safetensors, so the resumed run evaluates again
  // and writes best.safetensors; had latest.safetensors gone first, the best would be lost.
  const Json recipe = {{"epochs", 1}, {"log", {{"checkpoint_every_steps", 2}}}};
  TempDir dir;
  const std::string full = dir.file("full"), run = dir.file("run");
  REQUIRE(soft_cli({"train", "--config", tiny_train_config(dir, recipe), "--run-dir", full}).code == 0);

  fs::create_directories(run + "/best.safetensors.tmp");
  CliResult failed = soft_cli({"train", "--config", tiny_train_config(dir, recipe), "--run-dir", run});
  CHECK(failed.code == 1);
  CHECK(failed.err == "soft: error: step 4: checkpoint not saved: " + run +
                          "/best.safetensors: cannot write (Is a directory). The last good checkpoint, " + run +
                          "/latest.safetensors (step 4), is kept.\n");
  CHECK_FALSE(fs::exists(run + "/best.safetensors"));
  CHECK(tools::train::load_checkpoint(run + "/latest.safetensors").state.best_top1 == -1);  // not evaluated

  fs::remove(run + "/best.safetensors.tmp");
  CliResult resumed = soft_cli({"train", "--resume", run});
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(metrics_without_timing(run) == metrics_without_timing(full));
  check_same_checkpoint(run + "/best.safetensors", full + "/best.safetensors");
  check_same_checkpoint(run + "/latest.safetensors", full + "/latest.safetensors");
}
