#pragma once
// Training progress on the console. On a terminal: one status line (epoch, step, loss, lr,
// images/s, time left) redrawn in place; otherwise plain lines, one per logging step. Messages
// (evaluations, checkpoints) are printed as their own lines in both cases.
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace soft::tools::train {

struct StepStatus {
  int64_t epoch = 0;  // 0-based epoch in progress
  int64_t step = 0;   // optimiser steps done
  double loss = 0, lr = 0, images_per_s = 0;
};

class Progress {
 public:
  Progress(std::ostream& out, bool terminal, int64_t epochs, int64_t steps_per_epoch);
  // Every optimiser step; `logged` marks the steps that write a metrics line.
  void step(const StepStatus& s, bool logged);
  void message(const std::string& line);
  void finish();  // ends the status line

 private:
  std::string status(const StepStatus& s) const;
  void clear();

  std::ostream& out_;
  bool terminal_;
  int64_t epochs_, steps_per_epoch_, total_steps_;
  int64_t first_step_ = -1;  // the step this session started from (for the time left)
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
  size_t drawn_width_ = 0;
};

// "1:02:03", "4:05": a duration in seconds.
std::string format_duration(double seconds);
// "93.47%": a fraction as a percentage with two decimals (accuracies).
std::string format_percent(double fraction);

}  // namespace soft::tools::train
