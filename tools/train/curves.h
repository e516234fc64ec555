#pragma once
// curves.svg of a run folder: training and test loss, and test top-1 (model and EMA), against
// epochs, drawn from metrics.jsonl's lines with tools/report/svg_plot.h.
#include <string>
#include <vector>

#include "tools/train/train_config.h"

namespace soft::tools::train {

// A standalone SVG document of two panels (loss, accuracy in %).
std::string curves_svg(const std::vector<Json>& metrics, const std::string& title);

}  // namespace soft::tools::train
