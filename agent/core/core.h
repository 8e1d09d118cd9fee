// The agent's control core, below every front-end (local gRPC API, controller
// link): the policy book, the decision log, the event hub that feeds watchers,
// and Decide. Front-ends authorise and translate; they hold no policy or
// decision logic and never open the store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/decision_log.h"
#include "agent/core/event_hub.h"
#include "agent/core/flow_table.h"
#include "agent/core/policy_book.h"
#include "agent/runtime/agent_control.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

// A controller's verdict for a pending connection (nfr.v1.DecideRequest).
struct DecideCommand {
  uint64_t pending_id = 0;
  nfr::v1::Verdict verdict = nfr::v1::VERDICT_UNSPECIFIED;
  nfr::v1::DecisionScope scope = nfr::v1::DECISION_SCOPE_UNSPECIFIED;  // = ONCE
  uint32_t ttl_seconds = 0;  // FLOW scope; 0 = the policy's flow TTL
  std::string rule_id;       // RULE scope; empty = decided-<pending id>
  std::string reason;
  std::string decider;  // the caller's identity
};

struct DecideOutcome {
  nfr::v1::Decision decision;          // as logged (id assigned)
  std::optional<nfr::v1::Rule> rule;   // RULE scope: the rule added
  uint64_t policy_version = 0;         // RULE scope: the version that added it
};

struct CoreOptions {
  size_t hub_capacity = 65536;  // events buffered between producers and watchers
  size_t max_policy_bytes = kMaxPolicyBytes;  // api.limits.max_policy_bytes
};

class Core {
 public:
  // Opens the store and installs its latest policy into `agent` (or stores
  // the agent's policy as version 1). `agent` must outlive the Core.
  static absl::StatusOr<std::unique_ptr<Core>> Open(AgentControl* agent,
                                                    const nfr::v1::StoreConfig& store,
                                                    CoreOptions options = {});
  ~Core();

  // Give this to the verdict engine before it starts.
  EventSink* event_sink();

  PolicyBook& policy() { return *policy_; }
  DecisionLog& decisions() { return *decisions_; }
  EventHub& hub() { return *hub_; }
  FlowTable& flows() { return *flows_; }
  AgentControl& agent() { return *agent_; }

  // Validates (INVALID_ARGUMENT naming the field), applies the verdict to the
  // held packets, adds the rule first for RULE scope, logs durably, publishes.
  absl::StatusOr<DecideOutcome> Decide(const DecideCommand& command);

  // Waits until published events reached watchers and queued log records are on disk.
  void Flush();
  // Ends watch streams; queued log records are written.
  void Stop();

 private:
  class Events;
  Core() = default;
  absl::Status CheckDecide(const DecideCommand& c) const;

  AgentControl* agent_ = nullptr;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DecisionLog> decisions_;
  std::unique_ptr<PolicyBook> policy_;
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<FlowTable> flows_;
  std::unique_ptr<Events> events_;
};

}  // namespace nfr
