// Caps a chatty log channel (e.g. one line per decided flow) at N lines per second, so a flood
// of events cannot turn stderr into the bottleneck. What was left out is reported once per
// second through `on_suppressed`, before the next line that is let through.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>

namespace nfr {

class LogBudget {
 public:
  LogBudget(uint32_t per_second, std::function<void(uint64_t)> on_suppressed)
      : per_second_(per_second), on_suppressed_(std::move(on_suppressed)) {}

  // True when the caller may write its line now.
  bool Allow() {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    uint64_t report = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (now != window_) {
        report = suppressed_;
        window_ = now;
        used_ = 0;
        suppressed_ = 0;
      }
      if (used_ >= per_second_) {
        ++suppressed_;
        return false;
      }
      ++used_;
    }
    if (report != 0 && on_suppressed_) on_suppressed_(report);
    return true;
  }

 private:
  const uint32_t per_second_;
  const std::function<void(uint64_t)> on_suppressed_;
  std::mutex mu_;
  int64_t window_ = -1;
  uint32_t used_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace nfr
