#pragma once
// Whether ops record the graph. Off inside NoGradGuard (evaluation, optimiser steps, backward).

namespace soft {

struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};

// RAII: disables recording for its lifetime and restores the previous mode after.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace soft
