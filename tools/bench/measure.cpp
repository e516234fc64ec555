// What the `soft bench` kinds share: median timing, peak RSS, list flags and result lines.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/storage.h"
#include "tools/bench/bench.h"

namespace soft::tools::bench {

double median_seconds(const std::function<void()>& fn, int64_t steps, int64_t warmup, Device device) {
  SOFT_CHECK(steps > 0, "bench: steps must be positive, got ", steps);
  for (int64_t i = 0; i < warmup; ++i) fn();
  device_synchronize(device);
  std::vector<double> times;
  for (int64_t i = 0; i < steps; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    device_synchronize(device);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  size_t mid = times.size() / 2;
  return times.size() % 2 ? times[mid] : 0.5 * (times[mid - 1] + times[mid]);
}

double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.compare(0, 6, "VmHWM:") != 0) continue;
    std::istringstream fields(line.substr(6));
    double kib = 0;
    if (fields >> kib) return kib / 1024.0;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

PeakMemory peak_memory(Device device) {
  if (device.is_cpu()) return {"peak_rss_mib", peak_rss_mib()};
  return {"peak_device_mib", static_cast<double>(memory_stats(device).peak) / (1024.0 * 1024.0)};
}

Measurement measure(const std::function<void()>& fn, const RunOptions& run) {
  for (int64_t i = 0; i < run.warmup; ++i) fn();
  if (!run.device.is_cpu()) {
    device_synchronize(run.device);
    reset_peak_memory(run.device);
  }
  const double seconds = median_seconds(fn, run.steps, 0, run.device);
  return {seconds, peak_memory(run.device)};
}

std::vector<int64_t> int_list(const Args& args, const std::string& name, int64_t min, int64_t max) {
  const std::string& text = args.get(name);
  std::vector<int64_t> values;
  for (size_t begin = 0; begin <= text.size();) {
    size_t comma = std::min(text.find(',', begin), text.size());
    int64_t v = 0;
    if (!parse_int(text.substr(begin, comma - begin), v) || v < min || v > max)
      throw UsageError(args.command() + ": '--" + name + " " + text + "': expected integers from " +
                       std::to_string(min) + " to " + std::to_string(max) + ", separated by commas");
    values.push_back(v);
    begin = comma + 1;
  }
  return values;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

ResultLine& ResultLine::add(const std::string& key, const std::string& value) {
  SOFT_CHECK(value.find_first_of(" \t\n=") == std::string::npos && !value.empty(), "bench: result field ", key,
             " has an empty value or one with a space or '=': '", value, "'");
  text_ += " " + key + "=" + value;
  return *this;
}

std::map<std::string, std::string> parse_result_line(const std::string& line) {
  std::istringstream words(line);
  std::string word;
  std::map<std::string, std::string> fields;
  if (!(words >> word) || word != "result" || !(words >> word) || word.find('=') != std::string::npos) return {};
  fields["result"] = word;
  while (words >> word) {
    size_t eq = word.find('=');
    if (eq == std::string::npos || eq == 0) return {};
    fields[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return fields;
}

}  // namespace soft::tools::bench
