#include "agent/runtime/pending_expirer.h"

namespace nfr {

void PendingExpirer::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void PendingExpirer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void PendingExpirer::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void PendingExpirer::Loop() {
  for (;;) {
    engine_->ExpireDue(absl::Now());
    // Never sleep longer than 1 s, so a clock step or policy change is caught.
    absl::Time until = absl::Now() + absl::Seconds(1);
    if (auto next = engine_->NextDeadline(); next.has_value() && *next < until) until = *next;
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; };
    mu_.AwaitWithDeadline(absl::Condition(&ready), until);
    if (stop_) return;
    woken_ = false;
  }
}

}  // namespace nfr
