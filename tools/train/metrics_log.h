#pragma once
// metrics.jsonl of a run folder: one JSON object per line, appended as training goes. Training
// lines (kind "train") carry epoch, step, loss, lr, grad_norm, images_per_s; evaluation lines
// (kind "eval") carry epoch, step, top1, top5, test_loss and the EMA's ema_top1, ema_top5,
// ema_test_loss. Both carry time_s, the seconds since the run (or its resumption) began.
// The log's size is kept in each checkpoint, so a resumed run cuts off what came after it.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "tools/train/train_config.h"

namespace soft::tools::train {

class MetricsLog {
 public:
  // Opens `path` for appending after cutting it to `keep_bytes` (a new run: 0).
  MetricsLog(std::string path, int64_t keep_bytes);
  void append(const Json& line);  // written and flushed at once
  void sync() const;              // through to the disk: before a checkpoint records bytes()
  int64_t bytes() const { return bytes_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
  int64_t bytes_ = 0;
};

// Every line of a metrics file (an error names the file and line of a malformed one).
std::vector<Json> read_metrics(const std::string& path);

}  // namespace soft::tools::train
