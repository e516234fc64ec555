#include "tools/train/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace soft::tools::train {

std::string format_percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * fraction);
  return buf;
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, std::round(seconds)));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

Progress::Progress(std::ostream& out, bool terminal, int64_t epochs, int64_t steps_per_epoch)
    : out_(out),
      terminal_(terminal),
      epochs_(epochs),
      steps_per_epoch_(steps_per_epoch),
      total_steps_(epochs * steps_per_epoch) {}

std::string Progress::status(const StepStatus& s) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t done = s.step - first_step_;
  std::string left = done > 0 ? format_duration(elapsed / static_cast<double>(done) *
                                                static_cast<double>(total_steps_ - s.step))
                              : "?";
  const int64_t in_epoch = s.step - s.epoch * steps_per_epoch_;
  std::string bar;
  if (terminal_) {  // the epoch's progress as [#####.....]
    constexpr int64_t kWidth = 20;
    const int64_t done_width = std::clamp<int64_t>(in_epoch * kWidth / std::max<int64_t>(steps_per_epoch_, 1), 0, kWidth);
    bar.assign(1, '[');
    bar.append(static_cast<size_t>(done_width), '#');
    bar.append(static_cast<size_t>(kWidth - done_width), '.');
    bar.append("]  ");
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld  %sstep %lld/%lld  loss %.4f  lr %.3g  %.0f img/s  %s left",
                static_cast<long long>(s.epoch + 1), static_cast<long long>(epochs_), bar.c_str(),
                static_cast<long long>(in_epoch), static_cast<long long>(steps_per_epoch_), s.loss, s.lr,
                s.images_per_s, left.c_str());
  return buf;
}

void Progress::step(const StepStatus& s, bool logged) {
  const auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) {
    first_step_ = s.step - 1;
    start_ = now;
  }
  if (!terminal_) {
    if (logged) out_ << status(s) << "\n" << std::flush;
    return;
  }
  // Redraw at most ten times a second (and at each logging step, whose loss is the window's mean).
  if (!logged && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  std::string line = status(s);
  out_ << "\r" << line;
  if (line.size() < drawn_width_) out_ << std::string(drawn_width_ - line.size(), ' ');
  out_ << std::flush;
  drawn_ = true;
  drawn_width_ = line.size();
  last_draw_ = now;
}

void Progress::clear() {
  if (!drawn_) return;
  out_ << "\r" << std::string(drawn_width_, ' ') << "\r";
  drawn_ = false;
  drawn_width_ = 0;
}

void Progress::message(const std::string& line) {
  clear();
  out_ << line << "\n" << std::flush;
}

void Progress::finish() {
  if (drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
  drawn_width_ = 0;
}

}  // namespace soft::tools::train
