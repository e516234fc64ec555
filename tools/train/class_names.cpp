#include "tools/train/class_names.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"

namespace soft::tools::train {

namespace fs = std::filesystem;

std::vector<std::string> dataset_class_names(const TrainConfig& c, int64_t classes) {
  std::vector<std::string> out;
  if (c.data.kind == "mnist") {
    std::string p = c.data.path;
    std::transform(p.begin(), p.end(), p.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (p.find("fashion") != std::string::npos)
      out = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    else
      out = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  } else if (c.data.kind == "cifar10") {
    out = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  } else if (c.data.kind == "folder") {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(c.data.path) / "train", ec))
      if (e.is_directory()) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
  }
  if (static_cast<int64_t>(out.size()) != classes) out.clear();
  return out;
}

std::string class_names_file(const RunFolder& run) { return run.dir + "/classes.txt"; }

void write_class_names(const RunFolder& run, const TrainConfig& config, int64_t classes) {
  std::error_code ec;
  fs::remove(class_names_file(run), ec);  // a --force restart must not keep the old run's names
  const std::vector<std::string> names = dataset_class_names(config, classes);
  if (names.empty()) return;
  std::string text;
  for (const std::string& n : names) text += n + "\n";
  write_file_atomic(class_names_file(run), text);
}

std::vector<std::string> run_class_names(const RunFolder& run, const TrainConfig& config, int64_t classes) {
  std::ifstream in(class_names_file(run));
  if (!in) return dataset_class_names(config, classes);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  if (static_cast<int64_t>(out.size()) != classes) out.clear();
  return out;
}

}  // namespace soft::tools::train
