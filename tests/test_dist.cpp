// Data-parallel training with 2 ranks under mpirun (dist/, docs/DISTRIBUTED.md): the weights after
// 30 steps on Fashion-MNIST equal one process's, sharded evaluation equals one process's, a run
// stopped with 2 ranks resumes with 1, and bad set-ups are refused. Built with MPI only.
#include <doctest/doctest.h>

#ifdef SOFT_HAS_MPI
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "tests/cli_runner.h"
#include "tests/temp_dir.h"
#include "tests/train_test_util.h"

using namespace soft;
using namespace soft::test;

namespace {

const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist";

// `mpirun -np N soft ARGS`, as root too (CI runs as root), its exit status and output. ASan's leak
// check is off in the ranks: Open MPI's own allocations at exit are not ours to free.
std::pair<int, std::string> mpirun(int ranks, const std::string& args) {
  const std::string command = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np " +
                              std::to_string(ranks) + " -x ASAN_OPTIONS=detect_leaks=0 " + SOFT_CLI_PATH + " " + args +
                              " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// 30 steps of a global batch of 64 on the first 1920 training images: no flips, no EMA, no
// dropout (the model has none), BatchNorm over the global batch. The test split's first 499
// images in batches of 64 leave a short last batch of 51, split 25 / 26 by 2 ranks.
//
// In float64: SOFT's training amplifies a difference in the last bit of float32 to a few percent of
// some small tensors within 30 steps (the Newton inverse of K2 is ill-conditioned), whether the
// difference comes from 2 ranks or from 2 threads instead of 1 (docs/DISTRIBUTED.md has the
// numbers). In float64 the same amplification leaves what reduction order alone explains.
std::string fmnist_args(const std::string& run_dir, const std::string& optimizer) {
  std::string lr = optimizer == "sgd" ? "0.05" : "0.002";
  return "train --config " + std::string(SOFT_SOURCE_DIR) + "/configs/train/fmnist.json --run-dir " + run_dir +
         " --force --precision fp64 --set optim.name=" + optimizer + " --set optim.lr=" + lr +
         " --set ema.enabled=false --set augmentation.hflip=false --set dist.sync_bn=true"
         " --set data.train_limit=1920 --set data.test_limit=499 --set batch=64 --set eval.batch=64"
         " --set epochs=1 --set schedule.warmup_epochs=0 --set threads=1";
}

// The largest |a - b| of each model tensor, over the largest |a| of that tensor.
double worst_relative_difference(const std::string& a, const std::string& b) {
  tools::train::Checkpoint x = tools::train::load_checkpoint(a), y = tools::train::load_checkpoint(b);
  REQUIRE(x.model.size() == y.model.size());
  double worst = 0;
  for (size_t k = 0; k < x.model.size(); ++k) {
    REQUIRE(x.model[k].first == y.model[k].first);
    const std::vector<double> p = x.model[k].second.contiguous().to_vector(),
                              q = y.model[k].second.contiguous().to_vector();
    double scale = 0, diff = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      scale = std::max(scale, std::abs(p[i]));
      diff = std::max(diff, std::abs(p[i] - q[i]));
    }
    if (scale > 0) worst = std::max(worst, diff / scale);
  }
  return worst;
}

// One run per (ranks, optimizer), made once and shared by the test cases.
struct Runs {
  TempDir dir;
  std::map<std::string, std::string> done;
  std::string get(int ranks, const std::string& optimizer) {
    const std::string run = dir.file(optimizer + "_" + std::to_string(ranks));
    if (done.count(run)) return run;
    auto [code, out] =
        ranks == 1 ? run_binary(fmnist_args(run, optimizer)) : mpirun(ranks, fmnist_args(run, optimizer));
    INFO(out);
    REQUIRE(code == 0);
    done[run] = out;
    return run;
  }
};

Runs& runs() {
  static Runs r;
  return r;
}

Json eval_line(const std::string& run_dir) {
  for (const Json& line : tools::train::read_metrics(run_dir + "/metrics.jsonl"))
    if (line["kind"] == "eval") return line;
  FAIL("no evaluation in ", run_dir);
  return {};
}

}  // namespace

TEST_CASE("dist: 2 ranks train the weights of 1 process (SGD, 30 steps, sync BatchNorm)") {
  if (!std::filesystem::exists(kFashionMnist)) FAIL("Fashion-MNIST missing: apt-get install dataset-fashion-mnist");
  const std::string one = runs().get(1, "sgd"), two = runs().get(2, "sgd");
  const double worst = worst_relative_difference(one + "/latest.safetensors", two + "/latest.safetensors");
  MESSAGE("SGD: largest difference ", worst, " of a tensor's largest entry");
  CHECK(worst <= 1e-8);  // measured 3e-12; the issue asked for 1e-4
  CHECK(worst > 0);      // two processes really ran: the sums went in another order
  CHECK(tools::train::load_checkpoint(two + "/latest.safetensors").config["dist"]["world_size"] == 2);
  CHECK(tools::train::load_checkpoint(one + "/latest.safetensors").config["dist"]["world_size"] == 1);
  // The logged training loss is the mean over the ranks: the global batch's.
  std::vector<Json> a = metrics_without_timing(one), b = metrics_without_timing(two);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i]["kind"] == "train")
      CHECK(a[i]["loss"].get<double>() == doctest::Approx(b[i]["loss"].get<double>()).epsilon(1e-4));
}

TEST_CASE("dist: 2 ranks with AdamW stay within the stated bound of 1 process") {
  const std::string one = runs().get(1, "adamw"), two = runs().get(2, "adamw");
  const double worst = worst_relative_difference(one + "/latest.safetensors", two + "/latest.safetensors");
  MESSAGE("AdamW: largest difference ", worst, " of a tensor's largest entry");
  CHECK(worst <= 1e-6);  // measured 2.4e-8: AdamW divides by sqrt(v), which magnifies rounding
}

TEST_CASE("dist: sharded evaluation gives one process's evaluation of the same weights") {
  const std::string two = runs().get(2, "sgd");
  const Json sharded = eval_line(two);
  auto [code, out] = run_binary("eval " + two + " --checkpoint latest");
  INFO(out);
  REQUIRE(code == 0);
  // soft eval prints "top-1 P%, top-5 Q%" of the 499 images; the 2-rank run logged the fractions.
  char expected[64];
  std::snprintf(expected, sizeof expected, "top-1 %.2f%%, top-5 %.2f%%", 100 * sharded["top1"].get<double>(),
                100 * sharded["top5"].get<double>());
  CHECK(contains(out, expected));
  CHECK(contains(out, "on 499 test images"));
}

TEST_CASE("dist: a run stopped with 2 ranks resumes with 1 and ends as a 1-process run") {
  TempDir dir;
  const std::string run = dir.file("resumed");
  auto [code, out] = mpirun(2, fmnist_args(run, "sgd") + " --set debug.stop_at_step=13");
  INFO(out);
  REQUIRE(code == 0);
  CHECK(tools::train::load_checkpoint(run + "/latest.safetensors").state.step == 13);
  auto [code2, out2] = run_binary("train --resume " + run);
  INFO(out2);
  REQUIRE(code2 == 0);
  CHECK(contains(out2, "resuming after step 13"));
  CHECK(contains(out2, "the checkpoint was written by 2 process(es) of 1 threads, this run has 1 of 1"));
  const double worst =
      worst_relative_difference(runs().get(1, "sgd") + "/latest.safetensors", run + "/latest.safetensors");
  MESSAGE("stopped with 2 ranks, resumed with 1: largest difference ", worst, " of a tensor's largest entry");
  CHECK(worst <= 1e-8);
  CHECK(tools::train::load_checkpoint(run + "/latest.safetensors").config["dist"]["world_size"] == 1);
}

TEST_CASE("dist: a global batch the ranks cannot share evenly is refused, and the job ends") {
  TempDir dir;
  auto [code, out] = mpirun(2, fmnist_args(dir.file("odd"), "sgd") + " --set batch=63");
  CHECK(code != 0);
  CHECK(contains(out, "'batch' = 63 (the global batch) cannot be split evenly over 2 processes"));
}

TEST_CASE("dist: a NaN loss on one rank stops every rank together, naming the step") {
  TempDir dir;
  auto [code, out] =
      mpirun(2, fmnist_args(dir.file("nan"), "sgd") + " --set debug.nan_at_step=3 --set debug.nan_rank=1");
  CHECK(code == 1);
  CHECK(contains(out, "step 3 (epoch 1, batch 3): the training loss is nan"));
  // Both ranks saw the averaged NaN at the same step and ended together (no rank was aborted).
  CHECK(contains(out, "soft: error: rank 0 of 2: step 3 (epoch 1, batch 3): the training loss is nan"));
  CHECK(contains(out, "soft: error: rank 1 of 2: step 3 (epoch 1, batch 3): the training loss is nan"));
  CHECK_FALSE(contains(out, "MPI_ABORT"));
}

#endif  // SOFT_HAS_MPI
