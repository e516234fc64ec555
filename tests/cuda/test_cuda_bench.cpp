// `soft bench train|attn|dwconv --device cuda`: the benchmarks gpu-check.sh runs, at tiny sizes:
// they run on the GPU (fp32 and bf16), say so in their result lines and report device memory.
#include <sstream>

#include "tests/cli_runner.h"
#include "tests/cuda/cuda_test.h"
#include "tools/bench/bench.h"

using namespace soft;
using soft::test::CliResult;
using soft::test::soft_cli;

namespace {

// The fields of the one result line of `kind` in `text` (fails the test when there is not one).
std::map<std::string, std::string> only_result(const std::string& text, const std::string& kind) {
  std::vector<std::map<std::string, std::string>> found;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    auto fields = tools::bench::parse_result_line(line);
    if (fields.count("result") && fields["result"] == kind) found.push_back(fields);
  }
  REQUIRE(found.size() == 1);
  return found[0];
}

}  // namespace

TEST_CASE("cuda: soft bench train runs a step on the GPU in fp32 and bf16 and reports its memory") {
  SOFT_SKIP_WITHOUT_GPU();
  for (const char* precision : {"fp32", "bf16"}) {
    CAPTURE(precision);
    CliResult r = soft_cli({"bench", "train", "--model", "soft_fmnist", "--batch", "4", "--device", "cuda",
                            "--precision", precision, "--steps", "2", "--warmup", "1"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto f = only_result(r.out, "train");
    CHECK(f["device"] == "cuda:0");
    CHECK(f["precision"] == precision);
    CHECK(f.count("peak_rss_mib") == 0);
    CHECK(std::stod(f["peak_device_mib"]) > 0);  // the model, its gradients and AdamW's state at least
    CHECK(std::stod(f["images_per_s"]) > 0);
  }
}

TEST_CASE("cuda: soft bench attn runs a block on the GPU and reports its device memory") {
  SOFT_SKIP_WITHOUT_GPU();
  CliResult r = soft_cli({"bench", "attn", "--tokens", "256", "--dim", "8", "--heads", "2", "--ratio", "4",
                          "--device", "cuda:0", "--steps", "1", "--warmup", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto f = only_result(r.out, "attn");
  CHECK(f["device"] == "cuda:0");
  CHECK(std::stod(f["peak_device_mib"]) > 0);
  CHECK(std::stod(f["fwd_bwd_ms"]) > 0);
}

TEST_CASE("cuda: soft bench dwconv times soft.cpp's depthwise kernels on the GPU in both precisions") {
  SOFT_SKIP_WITHOUT_GPU();
  for (const char* precision : {"fp32", "bf16"}) {
    CAPTURE(precision);
    CliResult r = soft_cli({"bench", "dwconv", "--batch", "2", "--device", "cuda", "--precision", precision,
                            "--steps", "1", "--warmup", "1"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    std::istringstream lines(r.out);
    int found = 0;
    for (std::string line; std::getline(lines, line);) {
      auto f = tools::bench::parse_result_line(line);
      if (f["result"] != "dwconv") continue;
      ++found;
      CHECK(f["device"] == "cuda:0");
      CHECK(f["precision"] == precision);
      CHECK((f["backend"] == "kernels" || f["backend"] == "cudnn"));  // cudnn where SOFT_DEPTHWISE=cudnn
      CHECK(std::stod(f["ms"]) > 0);
    }
    CHECK(found == 9);
  }
}
