// The dial-out link to a fleet gateway (ControllerLink.Attach, link.proto):
// answers the gateway's requests through agent/core (requests.h), streams
// pending events, decisions (by log id, exactly once per gateway) and status
// up, and reconnects with bounded exponential backoff and jitter. Nothing
// here decides anything; the agent enforces the same with the link down.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/core.h"
#include "nfr/v1/agent_service.pb.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

struct LinkCounters {
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> decisions_uploaded{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> events_lost{0};
};

class LinkSession;

class ControllerLink {
 public:
  // `config.target` is set and its files readable (INVALID_ARGUMENT naming the
  // controller.* field otherwise). Starts dialling at once; `core` outlives it.
  static absl::StatusOr<std::unique_ptr<ControllerLink>> Start(
      Core* core, const nfr::v1::ControllerConfig& config);
  ~ControllerLink();  // Stop()

  void Stop();

  // AgentStatus.link and the link counters.
  void FillStatus(nfr::v1::AgentStatus* status) const;
  bool connected() const { return connected_.load(); }
  const LinkCounters& counters() const { return counters_; }

 private:
  ControllerLink(Core* core, nfr::v1::ControllerConfig config);
  void Run();
  // Sleeps up to `d`; false when stopping.
  bool Sleep(absl::Duration d);

  Core* const core_;
  const nfr::v1::ControllerConfig config_;
  std::string root_ca_, cert_, key_;
  LinkCounters counters_;
  std::atomic<bool> connected_{false};

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  LinkSession* session_ = nullptr;  // guarded by mu_
  absl::Time connected_since_;
  std::string gateway_, last_error_;
  uint64_t acked_ = 0;

  std::thread thread_;
};

}  // namespace nfr
