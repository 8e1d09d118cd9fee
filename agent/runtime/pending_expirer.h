// A thread that applies the default verdict to pending connections whose
// deadline passed. Sleeps until the next deadline or until woken.
#pragma once

#include <thread>

#include "absl/synchronization/mutex.h"
#include "agent/runtime/verdict_engine.h"

namespace nfr {

class PendingExpirer {
 public:
  explicit PendingExpirer(VerdictEngine* engine) : engine_(engine) {}
  ~PendingExpirer() { Stop(); }
  void Start();
  void Stop();
  void Wake();  // a new entry was added

 private:
  void Loop();

  VerdictEngine* const engine_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace nfr
