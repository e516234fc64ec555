#pragma once
// The class names of a run, for labelled predictions (soft predict). A new run writes them to
// RUN_DIR/classes.txt, one a line: Fashion-MNIST's (a data.path containing "fashion") or MNIST's
// digits, CIFAR-10's, or an image folder's class folder names (sorted, as ImageFolder labels them).
// Datasets without names (synthetic) get no file; predictions then show class numbers.
#include <string>
#include <vector>

#include "tools/train/run_folder.h"
#include "tools/train/train_config.h"

namespace soft::tools::train {

// The names of the config's dataset; empty when it has none or their count is not `classes`.
std::vector<std::string> dataset_class_names(const TrainConfig& config, int64_t classes);

// RUN_DIR/classes.txt
std::string class_names_file(const RunFolder& run);

// Writes classes.txt for a new run (nothing when the dataset has no names).
void write_class_names(const RunFolder& run, const TrainConfig& config, int64_t classes);

// classes.txt if the run has one, else the names derived from its config (runs made before the
// file existed); empty if neither gives `classes` names.
std::vector<std::string> run_class_names(const RunFolder& run, const TrainConfig& config, int64_t classes);

}  // namespace soft::tools::train
