#include "ops/kernel_profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace soft {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Entry {
  int64_t calls = 0;
  double seconds = 0;
};

// Totals per "name (device type)"; printed when the program exits.
class Table {
 public:
  void add(const std::string& key, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = entries_[key];
    ++e.calls;
    e.seconds += seconds;
  }
  ~Table() {
    std::vector<std::pair<std::string, Entry>> rows(entries_.begin(), entries_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    for (const auto& r : rows) total += r.second.seconds;
    std::fprintf(stderr, "\n%-40s %10s %12s %7s\n", "kernel (SOFT_PROFILE_KERNELS)", "calls", "total ms", "share");
    for (const auto& [key, e] : rows)
      std::fprintf(stderr, "%-60s %10lld %12.2f %6.1f%%\n", key.c_str(), static_cast<long long>(e.calls),
                   e.seconds * 1e3, total > 0 ? 100.0 * e.seconds / total : 0.0);
  }

 private:
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

void append_shape_label(std::string& out, const Tensor& t) {
  out += ' ';
  out += t.defined() ? shape_str(t.shape()) : std::string("-");
}

KernelProfile kernel_profile() {
  static const KernelProfile mode = [] {
    const char* v = std::getenv("SOFT_PROFILE_KERNELS");
    if (!v || std::string(v) == "0" || std::string(v).empty()) return KernelProfile::Off;
    table();  // constructed now, so destroyed (and printed) after the kernels' last use
    return std::string(v) == "shapes" ? KernelProfile::ByShapes : KernelProfile::ByName;
  }();
  return mode;
}

KernelTimer::KernelTimer(const char* name, Device device, std::string detail)
    : name_(name), device_(device), detail_(std::move(detail)) {
  device_synchronize(device_);
  start_ = now_seconds();
}

KernelTimer::~KernelTimer() {
  device_synchronize(device_);
  table().add(std::string(name_) + (device_.is_cpu() ? " (cpu)" : " (cuda)") + detail_, now_seconds() - start_);
}

}  // namespace soft
