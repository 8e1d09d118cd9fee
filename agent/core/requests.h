// The nfr.v1 requests answered on the core, shared by every front-end (the
// local gRPC API and the controller link): request message in, response
// message out, errors name the field. Callers authorise first.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/core.h"
#include "agent/core/flow_table.h"
#include "nfr/v1/agent_service.pb.h"
#include "nfr/v1/connection_service.pb.h"
#include "nfr/v1/flow_service.pb.h"
#include "nfr/v1/policy_service.pb.h"

namespace nfr {

absl::StatusOr<nfr::v1::ApplyPolicyResponse> ApplyPolicy(Core& core,
                                                         const nfr::v1::ApplyPolicyRequest& req,
                                                         const std::string& author);
absl::StatusOr<nfr::v1::AddRuleResponse> AddRule(Core& core, const nfr::v1::AddRuleRequest& req,
                                                 const std::string& author);
absl::StatusOr<nfr::v1::RemoveRuleResponse> RemoveRule(Core& core,
                                                       const nfr::v1::RemoveRuleRequest& req,
                                                       const std::string& author);
absl::StatusOr<nfr::v1::UpdateSetResponse> UpdateSet(Core& core,
                                                     const nfr::v1::UpdateSetRequest& req,
                                                     const std::string& author);
absl::StatusOr<nfr::v1::ListPendingResponse> ListPending(Core& core,
                                                         const nfr::v1::ListPendingRequest& req);
absl::StatusOr<nfr::v1::DecideResponse> Decide(Core& core, const nfr::v1::DecideRequest& req,
                                               const std::string& decider);

absl::StatusOr<nfr::v1::ListFlowsResponse> ListFlows(Core& core,
                                                     const nfr::v1::ListFlowsRequest& req);
// DeleteFlows (kForget) or DenyFlows (kDeny), logged with `decider`.
absl::StatusOr<nfr::v1::ChangeFlowsResponse> ChangeFlows(Core& core, FlowChangeCommand::Kind kind,
                                                         const nfr::v1::ChangeFlowsRequest& req,
                                                         const std::string& decider);

// A hub event as a live PendingEvent (added / resolved / expired, time now);
// nullopt for events that are not about a pending connection.
std::optional<nfr::v1::PendingEvent> PendingEventFrom(const HubEvent& ev);

// Everything but caller/caller_role/link. `started` stands in when the agent has not started.
nfr::v1::AgentStatus AgentStatusReport(Core& core, absl::Time started, uint64_t events_lost);

}  // namespace nfr
