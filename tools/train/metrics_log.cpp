#include "tools/train/metrics_log.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"

namespace soft::tools::train {

MetricsLog::MetricsLog(std::string path, int64_t keep_bytes) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(path_, ec);
  if (keep_bytes > 0) {
    SOFT_CHECK(exists && static_cast<int64_t>(fs::file_size(path_, ec)) >= keep_bytes, path_, ": shorter than the ",
               keep_bytes, " bytes the checkpoint recorded; the run folder was changed");
    fs::resize_file(path_, static_cast<uintmax_t>(keep_bytes), ec);
    SOFT_CHECK(!ec, path_, ": cannot truncate to ", keep_bytes, " bytes (", ec.message(), ")");
  }
  out_.open(path_, keep_bytes > 0 ? std::ios::app : std::ios::trunc);
  SOFT_CHECK(out_.good(), path_, ": cannot write");
  bytes_ = keep_bytes;
}

void MetricsLog::append(const Json& line) {
  const std::string text = line.dump() + "\n";
  out_ << text;
  out_.flush();
  SOFT_CHECK(out_.good(), path_, ": write failed (", std::strerror(errno), ")");
  bytes_ += static_cast<int64_t>(text.size());
}

void MetricsLog::sync() const { sync_to_disk(path_); }

std::vector<Json> read_metrics(const std::string& path) {
  std::ifstream in(path);
  SOFT_CHECK(in.good(), path, ": cannot read");
  std::vector<Json> lines;
  std::string text;
  for (int64_t n = 1; std::getline(in, text); ++n) {
    if (text.empty()) continue;
    Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    SOFT_CHECK(j.is_object(), path, ":", n, ": not a JSON object");
    lines.push_back(std::move(j));
  }
  return lines;
}

}  // namespace soft::tools::train
