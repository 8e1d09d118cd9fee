#include "fleetd/routed_services.h"

#include "agent/core/flow_filter.h"
#include "agent/util/proto_time.h"
#include "fleetd/event_stream.h"

namespace nfr {
namespace {

using nfr::v1::LinkRequest;
using nfr::v1::LinkResponse;

template <typename Event>
class FailedWrite : public grpc::ServerWriteReactor<Event> {
 public:
  explicit FailedWrite(const absl::Status& s) { this->Finish(ToGrpcStatus(s)); }
  void OnDone() override { delete this; }
};

// The connection a pending event is about; nullptr for snapshot_done and lost.
const nfr::v1::PendingConnection* AboutConnection(const nfr::v1::PendingEvent& e) {
  switch (e.event_case()) {
    case nfr::v1::PendingEvent::kSnapshot:
      return &e.snapshot();
    case nfr::v1::PendingEvent::kAdded:
      return &e.added();
    case nfr::v1::PendingEvent::kResolved:
      return &e.resolved().pending();
    case nfr::v1::PendingEvent::kExpired:
      return &e.expired().pending();
    default:
      return nullptr;
  }
}

}  // namespace

ServerUnaryReactor* RoutedPolicyService::GetPolicy(CallbackServerContext* ctx,
                                                   const nfr::v1::GetPolicyRequest* req,
                                                   nfr::v1::GetPolicyResponse* resp) {
  LinkRequest r;
  *r.mutable_get_policy() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_VIEWER, "GetPolicy", std::move(r), resp,
                 &LinkResponse::get_policy);
}

ServerUnaryReactor* RoutedPolicyService::ApplyPolicy(CallbackServerContext* ctx,
                                                     const nfr::v1::ApplyPolicyRequest* req,
                                                     nfr::v1::ApplyPolicyResponse* resp) {
  LinkRequest r;
  *r.mutable_apply_policy() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_ADMIN, "ApplyPolicy", std::move(r), resp,
                 &LinkResponse::apply_policy);
}

ServerUnaryReactor* RoutedPolicyService::AddRule(CallbackServerContext* ctx,
                                                 const nfr::v1::AddRuleRequest* req,
                                                 nfr::v1::AddRuleResponse* resp) {
  LinkRequest r;
  *r.mutable_add_rule() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_ADMIN, "AddRule", std::move(r), resp,
                 &LinkResponse::add_rule);
}

ServerUnaryReactor* RoutedPolicyService::RemoveRule(CallbackServerContext* ctx,
                                                    const nfr::v1::RemoveRuleRequest* req,
                                                    nfr::v1::RemoveRuleResponse* resp) {
  LinkRequest r;
  *r.mutable_remove_rule() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_ADMIN, "RemoveRule", std::move(r), resp,
                 &LinkResponse::remove_rule);
}

ServerUnaryReactor* RoutedPolicyService::UpdateSet(CallbackServerContext* ctx,
                                                   const nfr::v1::UpdateSetRequest* req,
                                                   nfr::v1::UpdateSetResponse* resp) {
  LinkRequest r;
  *r.mutable_update_set() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_ADMIN, "UpdateSet", std::move(r), resp,
                 &LinkResponse::update_set);
}

ServerUnaryReactor* RoutedConnectionService::ListPending(CallbackServerContext* ctx,
                                                         const nfr::v1::ListPendingRequest* req,
                                                         nfr::v1::ListPendingResponse* resp) {
  LinkRequest r;
  *r.mutable_list_pending() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_VIEWER, "ListPending", std::move(r), resp,
                 &LinkResponse::list_pending);
}

ServerUnaryReactor* RoutedConnectionService::Decide(CallbackServerContext* ctx,
                                                    const nfr::v1::DecideRequest* req,
                                                    nfr::v1::DecideResponse* resp) {
  LinkRequest r;
  *r.mutable_decide() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_DECIDER, "Decide", std::move(r), resp,
                 &LinkResponse::decide);
}

// The agent's pending connections as its link reported them, through the
// request's filter (as the agent's own WatchPending applies it).
grpc::ServerWriteReactor<nfr::v1::PendingEvent>* RoutedConnectionService::WatchPending(
    CallbackServerContext* ctx, const nfr::v1::WatchPendingRequest* req) {
  WatchScope scope;
  if (absl::Status s = Route(gw_, *ctx, nfr::v1::ROLE_VIEWER, "WatchPending", &scope.controller,
                             &scope.agent_id);
      !s.ok()) {
    return new FailedWrite<nfr::v1::PendingEvent>(s);
  }
  absl::StatusOr<FlowFilter> parsed = PendingFilterFrom(req->filter());
  if (!parsed.ok()) return new FailedWrite<nfr::v1::PendingEvent>(parsed.status());
  auto filter = std::make_shared<const FlowFilter>(*std::move(parsed));
  EventMapping<nfr::v1::PendingEvent> map;
  map.pending = [filter](const std::string&, const nfr::v1::PendingEvent& e) {
    const nfr::v1::PendingConnection* about = AboutConnection(e);
    if (about != nullptr && !filter->Matches(about->flow())) {
      return std::optional<nfr::v1::PendingEvent>();
    }
    return std::optional<nfr::v1::PendingEvent>(e);
  };
  map.lost = [](uint64_t n) {
    nfr::v1::PendingEvent e;
    e.mutable_lost()->set_count(n);
    return e;
  };
  return EventStream<nfr::v1::PendingEvent>::Start(
      gw_.registry, std::move(scope), std::move(map), gw_.watcher_queue,
      [filter](const std::vector<std::pair<std::string, nfr::v1::PendingConnection>>& now) {
        std::vector<nfr::v1::PendingEvent> out;
        for (const auto& [id, p] : now) {
          if (!filter->Matches(p.flow())) continue;
          nfr::v1::PendingEvent e;
          *e.mutable_time() = ToProtoTime(absl::Now());
          *e.mutable_snapshot() = p;
          out.push_back(std::move(e));
        }
        nfr::v1::PendingEvent done;
        *done.mutable_time() = ToProtoTime(absl::Now());
        done.mutable_snapshot_done()->set_count(static_cast<uint32_t>(out.size()));
        out.push_back(std::move(done));
        return out;
      });
}

ServerUnaryReactor* RoutedDecisionService::ListDecisions(CallbackServerContext* ctx,
                                                         const nfr::v1::ListDecisionsRequest* req,
                                                         nfr::v1::ListDecisionsResponse* resp) {
  LinkRequest r;
  *r.mutable_list_decisions() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_VIEWER, "ListDecisions", std::move(r), resp,
                 &LinkResponse::list_decisions);
}

// Decisions as the agent uploads them, through the request's filter (verdict,
// prefix, source; since/until are ignored, as at the agent).
grpc::ServerWriteReactor<nfr::v1::DecisionEvent>* RoutedDecisionService::WatchDecisions(
    CallbackServerContext* ctx, const nfr::v1::WatchDecisionsRequest* req) {
  WatchScope scope;
  if (absl::Status s = Route(gw_, *ctx, nfr::v1::ROLE_VIEWER, "WatchDecisions", &scope.controller,
                             &scope.agent_id);
      !s.ok()) {
    return new FailedWrite<nfr::v1::DecisionEvent>(s);
  }
  absl::StatusOr<FlowFilter> filter = DecisionFilterFrom(req->filter());
  if (!filter.ok()) return new FailedWrite<nfr::v1::DecisionEvent>(filter.status());
  EventMapping<nfr::v1::DecisionEvent> map;
  map.decision = [filter = *std::move(filter)](const std::string&, const nfr::v1::Decision& d) {
    if (!filter.Matches(d)) return std::optional<nfr::v1::DecisionEvent>();
    nfr::v1::DecisionEvent e;
    *e.mutable_decision() = d;
    return std::optional<nfr::v1::DecisionEvent>(e);
  };
  map.lost = [](uint64_t n) {
    nfr::v1::DecisionEvent e;
    e.mutable_lost()->set_count(n);
    return e;
  };
  return EventStream<nfr::v1::DecisionEvent>::Start(gw_.registry, std::move(scope), std::move(map),
                                                    gw_.watcher_queue, nullptr);
}

ServerUnaryReactor* RoutedFlowService::ListFlows(CallbackServerContext* ctx,
                                                 const nfr::v1::ListFlowsRequest* req,
                                                 nfr::v1::ListFlowsResponse* resp) {
  LinkRequest r;
  *r.mutable_list_flows() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_VIEWER, "ListFlows", std::move(r), resp,
                 &LinkResponse::list_flows);
}

ServerUnaryReactor* RoutedFlowService::DeleteFlows(CallbackServerContext* ctx,
                                                   const nfr::v1::ChangeFlowsRequest* req,
                                                   nfr::v1::ChangeFlowsResponse* resp) {
  LinkRequest r;
  *r.mutable_delete_flows() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_DECIDER, "DeleteFlows", std::move(r), resp,
                 &LinkResponse::delete_flows);
}

ServerUnaryReactor* RoutedFlowService::DenyFlows(CallbackServerContext* ctx,
                                                 const nfr::v1::ChangeFlowsRequest* req,
                                                 nfr::v1::ChangeFlowsResponse* resp) {
  LinkRequest r;
  *r.mutable_deny_flows() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_DECIDER, "DenyFlows", std::move(r), resp,
                 &LinkResponse::deny_flows);
}

ServerUnaryReactor* RoutedAgentService::GetStatus(CallbackServerContext* ctx,
                                                  const nfr::v1::GetStatusRequest* req,
                                                  nfr::v1::AgentStatus* resp) {
  LinkRequest r;
  *r.mutable_get_status() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_VIEWER, "GetStatus", std::move(r), resp,
                 &LinkResponse::get_status);
}

}  // namespace nfr
