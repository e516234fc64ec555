// `soft bench` (tools/bench_command.cpp, tools/bench/): each benchmark at tiny sizes in-process
// through tools::run, its result line's fields and their relations (images/s from the step time,
// GFLOP/s from the MAC count), the sweep's child processes, table and plot, and usage errors.
// No timing is asserted.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/info.h"
#include "tests/cli_runner.h"
#include "tests/png_writer.h"
#include "tests/temp_dir.h"
#include "tools/bench/bench.h"
#include "tools/bench/child_process.h"
#include "tools/cli.h"

using namespace soft;
using soft::test::CliResult;
using soft::test::soft_cli;
using soft::test::TempDir;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The parsed result lines of `text` whose KIND is `kind`.
std::vector<std::map<std::string, std::string>> results(const std::string& text, const std::string& kind) {
  std::vector<std::map<std::string, std::string>> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    auto fields = tools::bench::parse_result_line(line);
    if (fields.count("result") && fields["result"] == kind) out.push_back(fields);
  }
  return out;
}

double number(const std::map<std::string, std::string>& fields, const std::string& key) {
  auto it = fields.find(key);
  REQUIRE_MESSAGE(it != fields.end(), "no field ", key);
  return std::stod(it->second);
}

}  // namespace

TEST_CASE("bench: result lines are written and read back field by field") {
  std::string line = tools::bench::ResultLine("gemm").add("impl", "soft").add("n", 512).add("ms", "1.250").str();
  CHECK(line == "result gemm impl=soft n=512 ms=1.250");
  auto fields = tools::bench::parse_result_line(line);
  CHECK(fields ==
        std::map<std::string, std::string>{{"result", "gemm"}, {"impl", "soft"}, {"n", "512"}, {"ms", "1.250"}});
  CHECK(tools::bench::parse_result_line("soft train: 12 images/s").empty());
  CHECK(tools::bench::parse_result_line("result train broken").empty());
  CHECK_THROWS_AS(tools::bench::ResultLine("x").add("model", "two words"), Error);
}

TEST_CASE("bench: a child process's output and exit status come back") {
  tools::bench::ChildResult r = tools::bench::run_child("/bin/sh", {"-c", "echo first; echo second; exit 3"});
  CHECK(r.output == "first\nsecond\n");
  CHECK(r.exit_status == 3);
  CHECK_THROWS_AS(tools::bench::run_child("/no/such/program", {}), Error);
}

TEST_CASE("bench train: one AdamW step of soft_fmnist, images/s and GFLOP/s from the step time") {
  CliResult r = soft_cli({"bench", "train", "--model", "soft_fmnist", "--batch", "2", "--steps", "1", "--warmup", "0",
                       "--threads", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto lines = results(r.out, "train");
  REQUIRE(lines.size() == 1);
  auto& f = lines[0];
  CHECK(f["impl"] == "soft");
  CHECK(f["model"] == "soft_fmnist");
  CHECK(f["img"] == "28");  // the config's img_size
  CHECK(f["batch"] == "2");
  CHECK(f["threads"] == "1");
  CHECK(f["device"] == "cpu");
  CHECK(f["precision"] == "fp32");
  const double step_s = number(f, "step_ms") / 1e3;
  REQUIRE(step_s > 0);
  CHECK(number(f, "images_per_s") == doctest::Approx(2 / step_s).epsilon(0.01));
  const double macs = static_cast<double>(
      models::describe_model(models::resolve_config("soft_fmnist"), 28, 28).macs.total());
  CHECK(number(f, "gflop_per_s") == doctest::Approx(3 * 2 * macs * 2 / step_s / 1e9).epsilon(0.01));
  CHECK(number(f, "peak_rss_mib") > 1);
  CHECK(contains(r.out, "step time"));
}

TEST_CASE("bench attn: every attention kind's block at 64 tokens") {
  for (const char* kind : {"soft", "softmax", "soft-pool", "linformer", "performer", "nystrom"}) {
    CAPTURE(kind);
    CliResult r = soft_cli({"bench", "attn", "--tokens", "64", "--dim", "8", "--heads", "2", "--ratio", "4", "--kind",
                         kind, "--landmarks", "9", "--linformer-k", "16", "--features", "32", "--steps", "1",
                         "--warmup", "0", "--threads", "1"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto lines = results(r.out, "attn");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["attention"] == kind);
    CHECK(lines[0]["tokens"] == "64");
    CHECK(lines[0]["module"] == "block");
    CHECK(number(lines[0], "fwd_bwd_ms") > 0);
    CHECK(number(lines[0], "peak_rss_mib") > 1);
    std::string k = kind;
    if (k == "soft") CHECK(lines[0]["landmarks"] == "4");  // (8 / 4)^2 on the 8 x 8 grid
    else if (k == "soft-pool" || k == "nystrom") CHECK(lines[0]["landmarks"] == "9");  // 3 x 3 pooled; m = 9
    else CHECK(lines[0].count("landmarks") == 0);
    if (k == "linformer") CHECK(lines[0]["k"] == "16");
    if (k == "performer") CHECK(lines[0]["features"] == "32");
  }
}

#ifdef SOFT_CLI_PATH
TEST_CASE("bench attn --sweep: each size in a child process, softmax within the cap, table and plot") {
  // --cold-from 256: sizes from 256 tokens up run without the warm-up pass.
  TempDir dir;
  std::ofstream(dir.file("torch.txt")) << "noise\nresult attn impl=torch attention=soft module=block tokens=64 "
                                          "fwd_bwd_ms=2.5 peak_rss_mib=300.0\n";
  // softmax matrices: 2 x 64^2 and 2 x 256^2 floats are within 1 MiB; 2 x 1024^2 x 4 B = 8 MiB is not.
  CliResult r = soft_cli({"bench", "attn", "--sweep", "--exe", SOFT_CLI_PATH, "--tokens", "64,256,1024", "--dim", "8",
                       "--heads", "2", "--ratio", "4", "--steps", "1", "--warmup", "1", "--cold-from", "256",
                       "--threads", "1", "--softmax-cap-mib", "1", "--out", dir.path, "--with", dir.file("torch.txt")});
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  auto lines = results(r.out, "attn");
  REQUIRE(lines.size() == 5);  // the children's lines: soft x 3, softmax x 2
  std::vector<std::string> seen;
  for (auto& f : lines) seen.push_back(f["attention"] + "@" + f["tokens"] + " warmup " + f["warmup"]);
  CHECK(seen == std::vector<std::string>{"soft@64 warmup 1", "softmax@64 warmup 1", "soft@256 warmup 0",
                                         "softmax@256 warmup 0", "soft@1024 warmup 0"});
  CHECK(contains(r.out, "skipped"));
  CHECK(dir.entries() == std::vector<std::string>{"attn_sweep.svg", "attn_sweep.txt", "torch.txt"});
  std::ifstream svg_file(dir.file("attn_sweep.svg"));
  std::string svg((std::istreambuf_iterator<char>(svg_file)), std::istreambuf_iterator<char>());
  CHECK(contains(svg, "SOFT (soft.cpp)"));
  CHECK(contains(svg, "softmax (soft.cpp)"));
  CHECK(contains(svg, "SOFT (PyTorch)"));  // from --with
  CHECK(contains(r.out, "SOFT (PyTorch)"));
}
#endif

TEST_CASE("bench gemm: GFLOP/s is 2 n^3 over the time") {
  CliResult r = soft_cli({"bench", "gemm", "--sizes", "100,256", "--steps", "2", "--threads", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto lines = results(r.out, "gemm");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["n"] == "100");
  CHECK(lines[1]["n"] == "256");
  const double n = 256, ms = number(lines[1], "ms");
  REQUIRE(ms > 0);
  CHECK(number(lines[1], "gflop_per_s") == doctest::Approx(2 * n * n * n / (ms / 1e3) / 1e9).epsilon(0.02));
}

TEST_CASE("bench dwconv: soft_tiny's three local convs, each direction") {
  CliResult r = soft_cli({"bench", "dwconv", "--batch", "1", "--steps", "1", "--warmup", "0", "--threads", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto lines = results(r.out, "dwconv");
  REQUIRE(lines.size() == 9);
  std::vector<std::string> seen;
  for (auto& f : lines) {
    seen.push_back(f["input"] + " k" + f["kernel"] + " " + f["direction"]);
    CHECK(f["backend"] == "cpu");
    CHECK(number(f, "ms") > 0);
  }
  CHECK(seen == std::vector<std::string>{"32x2x56x56 k9 forward", "32x2x56x56 k9 grad_input",
                                         "32x2x56x56 k9 grad_weight", "32x4x28x28 k5 forward",
                                         "32x4x28x28 k5 grad_input", "32x4x28x28 k5 grad_weight",
                                         "32x10x14x14 k3 forward", "32x10x14x14 k3 grad_input",
                                         "32x10x14x14 k3 grad_weight"});
}

TEST_CASE("bench: usage errors exit 2, errors while running exit 1") {
  const std::vector<std::vector<std::string>> usage_errors = {
      {"bench"},
      {"bench", "frobnicate"},
      {"bench", "--tokens", "64"},                                       // KIND first
      {"bench", "train", "--batch", "2"},                                // no --model
      {"bench", "train", "--model", "soft_fmnist", "--batch", "2", "--tokens", "64"},  // an attn flag
      {"bench", "train", "--model", "soft_fmnist", "--batch", "2", "--img", "3"},      // below r = 4
      {"bench", "attn"},                                                 // no --tokens
      {"bench", "attn", "--tokens", "65"},                               // not a square grid
      {"bench", "attn", "--tokens", "16", "--ratio", "8"},               // 4 x 4 grid, 8 x 8 window
      {"bench", "attn", "--tokens", "64", "--kind", "linear"},
      {"bench", "attn", "--tokens", "64", "--kind", "all"},              // all needs --sweep
      {"bench", "attn", "--tokens", "64", "--dim", "10", "--heads", "3"},
      {"bench", "attn", "--tokens", "64", "--out", "/tmp"},              // --out needs --sweep
      {"bench", "gemm", "--sizes", "64,x"},
      {"bench", "gemm", "--steps", "0"},
      {"bench", "gemm", "--frobnicate", "1"},
      {"bench", "gemm", "--device", "cuda"},                             // train and attn only
      {"bench", "train", "--model", "soft_fmnist", "--batch", "2", "--precision", "bf16"},  // needs a GPU
      {"bench", "train", "--model", "soft_fmnist", "--batch", "2", "--precision", "fp16"},
      {"bench", "attn", "--tokens", "64", "--device", "tpu"},
      {"bench", "attn", "--tokens", "64", "--device", "cuda:99"},        // no such GPU (or no CUDA build)
      {"bench", "dwconv", "--tokens", "64"},                             // an attn flag
  };
  for (const auto& args : usage_errors) {
    std::string command_line;
    for (const std::string& a : args) command_line += a + " ";
    CAPTURE(command_line);
    CliResult r = soft_cli(args);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(contains(r.err, "soft: error: "));
  }
  CHECK(soft_cli({"bench", "train", "--model", "no_such_model", "--batch", "1"}).code == 1);

  CliResult help = soft_cli({"help", "bench"});
  CHECK(help.code == 0);
  CHECK(contains(help.out, "Usage: soft bench KIND"));
  CHECK(contains(help.out, "--sweep"));
  CHECK(soft_cli({"bench", "attn", "--help"}).out == help.out);
}

TEST_CASE("bench data: a folder config's pipeline, images/s from the images and seconds") {
  TempDir dir;
  for (const std::string split : {"train", "val"})
    for (const std::string cls : {"a", "b"}) {
      std::filesystem::create_directories(dir.file(split + "/" + cls));
      for (int i = 0; i < 3; ++i) {
        std::vector<uint8_t> px(20 * 16 * 3);
        for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>((k * 7 + i * 31) % 256);
        soft::test::write_png(dir.file(split + "/" + cls + "/" + std::to_string(i) + ".png"), 20, 16, 3, px);
      }
    }
  const std::string config = dir.file("c.json");
  std::ofstream(config) << R"({"name": "pipe", "data": {"kind": "folder", "path": ")" << dir.path
                        << R"(", "image_size": 12}, "batch": 2, "augmentation": {"hflip": true,
                        "auto_augment": "rand-m9-mstd0.5-inc1", "interpolation": "bicubic", "random_erase": 0.25}})";
  CliResult r = soft_cli({"bench", "data", "--config", config, "--threads", "2", "--seconds", "1"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const auto lines = results(r.out, "data");
  REQUIRE(lines.size() == 1);
  const auto& f = lines[0];
  CHECK(f.at("impl") == "soft");
  CHECK(f.at("config") == "pipe");
  CHECK(number(f, "threads") == 2);
  CHECK(number(f, "images") > 0);
  CHECK(static_cast<int64_t>(number(f, "images")) % 2 == 0);  // whole batches of 2
  CHECK(number(f, "seconds") >= 1.0);
  CHECK(number(f, "images_per_s") == doctest::Approx(number(f, "images") / number(f, "seconds")).epsilon(0.01));
  CHECK(number(f, "images_per_s_per_thread") == doctest::Approx(number(f, "images_per_s") / 2).epsilon(0.01));

  CliResult missing = soft_cli({"bench", "data", "--seconds", "1"});
  CHECK(missing.code == 2);
  CHECK(contains(missing.err, "missing required flag '--config'"));
  CliResult bad_set = soft_cli({"bench", "data", "--config", config, "--set", "augmentation.auto_augment=rand-q1"});
  CHECK(bad_set.code != 0);
  CHECK(contains(bad_set.err, "unknown section 'q1'"));
}
