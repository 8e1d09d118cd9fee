// The gateway's live view: one AgentConn per attached agent (by certificate
// CN), the requests in flight to each, each agent's pending connections as it
// reported them, and the fleet watchers events fan out to.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fleetd/fleet_store.h"
#include "nfr/v1/fleet.pb.h"
#include "nfr/v1/link.pb.h"

namespace nfr {

// The gateway end of one link; implemented by the Attach reactor. Safe to use
// after the stream ended (then it does nothing).
class LinkSender {
 public:
  virtual ~LinkSender() = default;
  // false when the link is closing.
  virtual bool Send(nfr::v1::ControllerFrame frame) = 0;
  // Ends the link with `status` (e.g. replaced by a newer link).
  virtual void Close(const absl::Status& status) = 0;
};

// Receives fleet events; called under the registry lock: must not block.
class FleetWatcher {
 public:
  virtual ~FleetWatcher() = default;
  virtual bool Wants(const nfr::v1::FleetAgent& agent) const = 0;
  virtual void Pending(const std::string& agent_id, const nfr::v1::PendingEvent& event) = 0;
  virtual void Decision(const std::string& agent_id, const nfr::v1::Decision& decision) = 0;
};

struct FleetCounters {
  std::atomic<uint64_t> links{0};
  std::atomic<uint64_t> links_refused{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> request_errors{0};
  std::atomic<uint64_t> decisions_uploaded{0};
  std::atomic<uint64_t> decisions_duplicate{0};
  std::atomic<uint64_t> rollouts{0};
};

class Registry {
 public:
  Registry(FleetStore* store, std::string name, uint32_t status_interval_seconds);
  ~Registry();

  // A verified Hello on a new link: returns the Welcome to send. A link
  // already attached for the same id is closed.
  nfr::v1::Welcome Attach(std::shared_ptr<LinkSender> link, const std::string& id,
                          const std::string& peer, const nfr::v1::Hello& hello);
  void Detach(const LinkSender* link, const std::string& id);
  void OnPending(const std::string& id, const nfr::v1::PendingEvent& event);
  // Stores the batch; returns the id to acknowledge (0 = none).
  uint64_t OnDecisions(const std::string& id, const nfr::v1::DecisionUpload& up);
  void OnStatus(const std::string& id, const nfr::v1::AgentStatus& status);
  void OnResponse(const std::string& id, nfr::v1::LinkResponse response);

  using Done = std::function<void(absl::StatusOr<nfr::v1::LinkResponse>)>;
  // `done` runs exactly once: the agent's answer (code 0) or an error status
  // (NOT_FOUND unknown agent, UNAVAILABLE not connected, DEADLINE_EXCEEDED, or
  // the agent's own error).
  void Call(const std::string& agent_id, nfr::v1::LinkRequest request, absl::Duration timeout,
            Done done);

  // Connected and remembered agents.
  std::vector<nfr::v1::FleetAgent> Agents();
  std::optional<nfr::v1::FleetAgent> Find(const std::string& id);

  // Registers `w` and returns the pending connections it wants right now
  // (atomically: later events reach `w`).
  std::vector<std::pair<std::string, nfr::v1::PendingConnection>> Watch(
      std::shared_ptr<FleetWatcher> w);
  void Unwatch(const FleetWatcher* w);

  FleetCounters& counters() { return counters_; }
  size_t connected() const;
  size_t watchers() const;

 private:
  struct InFlight {
    Done done;
    absl::Time deadline;
  };
  struct Entry {
    nfr::v1::FleetAgent info;
    std::shared_ptr<LinkSender> link;
    std::map<uint64_t, nfr::v1::PendingConnection> pending;
    std::map<uint64_t, InFlight> calls;
  };
  void Sweep();
  void FailAll(Entry& e, const absl::Status& why, std::vector<Done>* out,
               std::vector<absl::Status>* why_out);

  FleetStore* const store_;
  const std::string name_;
  const uint32_t status_interval_;
  FleetCounters counters_;

  mutable std::mutex mu_;
  std::map<std::string, Entry> agents_;
  std::vector<std::shared_ptr<FleetWatcher>> watchers_;
  uint64_t next_request_ = 1;
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread sweeper_;
};

}  // namespace nfr
