// The operator's view of the flow cache (FlowService): list decided flows
// page by page, forget or deny the ones a filter selects. Every change is in
// the decision log (source OPERATOR, the caller as decider) and published.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/core/decision_log.h"
#include "agent/core/event_hub.h"
#include "agent/runtime/agent_control.h"
#include "nfr/v1/flow_service.pb.h"

namespace nfr {

inline constexpr uint32_t kDefaultFlowPageSize = 100;
inline constexpr uint32_t kMaxFlowPageSize = 1000;
inline constexpr uint32_t kMaxFlowChanges = 10000;  // per DeleteFlows / DenyFlows call

struct FlowChangeCommand {
  enum Kind { kForget, kDeny };
  Kind kind = kForget;
  nfr::v1::FlowEntryFilter filter;
  std::string reason;
  uint32_t limit = 0;   // 0 = kMaxFlowChanges
  std::string decider;  // the caller's identity
};

class FlowTable {
 public:
  FlowTable(AgentControl* agent, DecisionLog* log, EventHub* hub)
      : agent_(agent), log_(log), hub_(hub) {}

  // One page in key order (INVALID_ARGUMENT naming a bad filter, size or token).
  absl::StatusOr<nfr::v1::ListFlowsResponse> List(const nfr::v1::ListFlowsRequest& request) const;
  // Changes up to `limit` matching entries; every one is logged durably
  // before the reply and published. Deny skips entries already dropped.
  absl::StatusOr<nfr::v1::ChangeFlowsResponse> Change(const FlowChangeCommand& command);

 private:
  AgentControl* const agent_;
  DecisionLog* const log_;
  EventHub* const hub_;
};

}  // namespace nfr
