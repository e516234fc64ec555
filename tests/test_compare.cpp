// `soft compare`: runs side by side. Two identical tiny runs have no loss gap; a copy of a run with
// every logged training loss scaled by 1.1 shows a gap of exactly 10%; the SVG names every run;
// wrong command lines are usage errors and a folder that is not a run is an error.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "tests/train_test_util.h"

using namespace soft;
using namespace soft::test;
namespace fs = std::filesystem;

namespace {

// The table row of `label` in soft compare's output.
std::string row_of(const std::string& out, const std::string& label) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (line.compare(0, label.size() + 1, label + " ") == 0) return line;
  return "";
}

}  // namespace

TEST_CASE("compare: the loss gap to the first run, the table and the overlaid curves") {
  TempDir dir;
  const std::string config = tiny_train_config(dir, {{"epochs", 1}});
  for (const char* name : {"a", "b"})
    REQUIRE(soft_cli({"train", "--config", config, "--run-dir", dir.file(name)}).code == 0);
  // c: run a with every logged training loss 10% higher.
  fs::copy(dir.file("a"), dir.file("c"), fs::copy_options::recursive);
  std::vector<Json> lines = tools::train::read_metrics(dir.file("a") + "/metrics.jsonl");
  std::ofstream scaled(dir.file("c") + "/metrics.jsonl", std::ios::trunc);
  for (Json& line : lines) {
    if (line["kind"] == "train") line["loss"] = line["loss"].get<double>() * 1.1;
    scaled << line.dump() << "\n";
  }
  scaled.close();

  CliResult r = soft_cli({"compare", "--runs", dir.file("a"), dir.file("b"), dir.file("c"), "--labels",
                          "fp32,again,scaled", "--out", dir.file("cmp.svg")});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(contains(row_of(r.out, "fp32"), "(ref)"));
  CHECK(contains(row_of(r.out, "again"), " 0.00%"));   // the same seed, config and thread count: identical
  CHECK(contains(row_of(r.out, "scaled"), " 10.00%"));
  CHECK(contains(row_of(r.out, "fp32"), "fp32"));       // the precision column, from config.json
  std::ifstream svg_file(dir.file("cmp.svg"));
  std::string svg((std::istreambuf_iterator<char>(svg_file)), std::istreambuf_iterator<char>());
  for (const char* label : {"fp32", "again", "scaled", "training loss", "test accuracy"}) CHECK(contains(svg, label));
}

TEST_CASE("compare: usage errors exit 2, a folder that is not a run exits 1") {
  TempDir dir;
  CHECK(soft_cli({"compare", "--runs", dir.path}).code == 2);                      // one run
  CHECK(soft_cli({"compare"}).code == 2);                                          // none
  CHECK(soft_cli({"compare", "--runs", dir.path, dir.path, "--labels", "x"}).code == 2);  // 1 label, 2 runs
  CliResult r = soft_cli({"compare", "--runs", dir.path, dir.path});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "not a run folder"));
}
