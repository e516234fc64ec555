// soft compare --runs RUN_DIR RUN_DIR... [--labels A,B,...] [--out FILE.svg]: several runs side by
// side, as one reads TensorBoard's overlaid curves: a table of each run's schedule, last training
// loss, test top-1 and speed, with the largest gap of its training loss to the first run's at the
// same logged steps (how closely a bf16 run tracks fp32, or a resumed run the uninterrupted one),
// and an SVG of the training loss against steps and test top-1 against epochs.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "core/atomic_file.h"
#include "tools/cli.h"
#include "tools/report/svg_plot.h"
#include "tools/train/metrics_log.h"
#include "tools/train/run_folder.h"

namespace soft::tools {
namespace {

struct RunCurves {
  std::string label, precision, device;
  std::map<int64_t, double> train_loss;  // step -> mean loss of the window ending there
  std::vector<std::pair<double, double>> top1;  // (epoch, test top-1 in %)
  std::vector<double> images_per_s;             // of each logged window
};

double number_or_nan(const train::Json& line, const char* key) {
  return line.contains(key) && line[key].is_number() ? line[key].get<double>() : std::nan("");
}

RunCurves read_run(const std::string& dir, const std::string& label) {
  train::RunFolder run{dir};
  SOFT_CHECK(std::filesystem::exists(run.metrics()), dir, ": not a run folder of soft train (no metrics.jsonl)");
  train::TrainConfig config = train::read_run_config(run);
  RunCurves c{label, config.precision, config.device, {}, {}, {}};
  for (const train::Json& line : train::read_metrics(run.metrics())) {
    const std::string kind = line.value("kind", "");
    if (kind == "train" && line.contains("step") && line["step"].is_number_integer()) {
      c.train_loss[line["step"].get<int64_t>()] = number_or_nan(line, "loss");
      c.images_per_s.push_back(number_or_nan(line, "images_per_s"));
    }
    if (kind == "eval") c.top1.emplace_back(number_or_nan(line, "epoch"), 100.0 * number_or_nan(line, "top1"));
  }
  SOFT_CHECK(!c.train_loss.empty(), run.metrics(), ": no training steps logged yet");
  return c;
}

// The largest |loss - reference loss| / |reference loss| over the steps both logged; NaN if none.
double largest_gap(const RunCurves& run, const RunCurves& reference) {
  double gap = std::nan("");
  for (const auto& [step, loss] : run.train_loss) {
    auto it = reference.train_loss.find(step);
    if (it == reference.train_loss.end() || it->second == 0) continue;
    const double g = std::fabs(loss - it->second) / std::fabs(it->second);
    if (!(gap >= g)) gap = g;  // also replaces the initial NaN
  }
  return gap;
}

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string text(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << v;
  return s.str();
}

std::string plot(const std::vector<RunCurves>& runs) {
  Plot loss{"training loss", {"step"}, {"cross-entropy"}, {}};
  Plot accuracy{"test accuracy", {"epoch"}, {"top-1 (%)"}, {}};
  for (const RunCurves& r : runs) {
    Series l{r.label, {}, {}}, a{r.label, {}, {}};
    for (const auto& [step, value] : r.train_loss) l.x.push_back(static_cast<double>(step)), l.y.push_back(value);
    for (const auto& [epoch, top1] : r.top1) a.x.push_back(epoch), a.y.push_back(top1);
    loss.series.push_back(l);
    accuracy.series.push_back(a);
  }
  return render_svg({loss, accuracy});
}

}  // namespace

ArgParser compare_parser() {
  return ArgParser("compare", "Several training runs side by side: a table and overlaid curves.",
                   "Reads each RUN_DIR's config.json and metrics.jsonl (runs still training included). The gap\n"
                   "column is the largest relative difference of a run's logged training loss to the first run's\n"
                   "at the same steps: how closely a bf16 run tracks fp32, or a resumed run the original.\n"
                   "  soft compare --runs runs/fp32 runs/bf16 --out bf16_vs_fp32.svg")
      .many("runs", "RUN_DIR...", "run folders of soft train, the first is the reference (at least two)")
      .option("labels", "A,B,...", "names of the runs in the table and plot (default: the folder names)")
      .option("out", "FILE.svg", "write the training-loss and test-accuracy curves there (atomically)");
}

int compare_command(const Args& args, std::ostream& out) {
  const std::vector<std::string> dirs = args.get_all("runs");
  if (dirs.size() < 2) throw UsageError("compare: --runs needs at least two run folders");
  std::vector<std::string> labels;
  if (args.has("labels")) {
    std::stringstream list(args.get("labels"));
    for (std::string label; std::getline(list, label, ',');) labels.push_back(label);
    if (labels.size() != dirs.size())
      throw UsageError("compare: --labels names " + std::to_string(labels.size()) + " runs but --runs gives " +
                       std::to_string(dirs.size()));
  }
  std::vector<RunCurves> runs;
  for (size_t i = 0; i < dirs.size(); ++i)
    runs.push_back(read_run(dirs[i], labels.empty() ? std::filesystem::path(dirs[i]).filename().string()
                                                    : labels[i]));

  out << std::left << std::setw(20) << "run" << std::setw(10) << "precision" << std::setw(9) << "device"
      << std::right << std::setw(8) << "steps" << std::setw(12) << "last loss" << std::setw(12) << "loss gap"
      << std::setw(12) << "best top-1" << std::setw(12) << "last top-1" << std::setw(12) << "images/s" << "\n";
  for (const RunCurves& r : runs) {
    double best = std::nan(""), last = std::nan("");
    for (const auto& [epoch, top1] : r.top1) {
      if (!(best >= top1)) best = top1;
      last = top1;
    }
    const std::string gap = &r == &runs[0] ? "(ref)" : text(100.0 * largest_gap(r, runs[0]), 2) + "%";
    out << std::left << std::setw(20) << r.label << std::setw(10) << r.precision << std::setw(9) << r.device
        << std::right << std::setw(8) << r.train_loss.rbegin()->first << std::setw(12)
        << text(r.train_loss.rbegin()->second, 4) << std::setw(12) << gap << std::setw(12) << text(best, 2)
        << std::setw(12) << text(last, 2) << std::setw(12) << text(median(r.images_per_s), 1) << "\n";
  }
  if (args.has("out")) {
    write_file_atomic(args.get("out"), plot(runs));
    out << "wrote " << args.get("out") << "\n";
  }
  return kExitOk;
}

}  // namespace soft::tools
