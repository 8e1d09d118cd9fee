#include "fleetd/routed_services.h"

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

// The agent's pending connections as its link reported them (the request's
// filter is not applied at the gateway: use the agent's ListPending for that).
grpc::ServerWriteReactor<nfr::v1::PendingEvent>* RoutedConnectionService::WatchPending(
    CallbackServerContext* ctx, const nfr::v1::WatchPendingRequest*) {
  WatchScope scope;
  if (absl::Status s = Route(gw_, *ctx, nfr::v1::ROLE_VIEWER, "WatchPending", &scope.controller,
                             &scope.agent_id);
      !s.ok()) {
    return new FailedWrite<nfr::v1::PendingEvent>(s);
  }
  EventMapping<nfr::v1::PendingEvent> map;
  map.pending = [](const std::string&, const nfr::v1::PendingEvent& e) {
    return std::optional<nfr::v1::PendingEvent>(e);
  };
  map.lost = [](uint64_t n) {
    nfr::v1::PendingEvent e;
    e.mutable_lost()->set_count(n);
    return e;
  };
  return EventStream<nfr::v1::PendingEvent>::Start(
      gw_.registry, std::move(scope), std::move(map), gw_.watcher_queue,
      [](const std::vector<std::pair<std::string, nfr::v1::PendingConnection>>& now) {
        std::vector<nfr::v1::PendingEvent> out;
        for (const auto& [id, p] : now) {
          nfr::v1::PendingEvent e;
          *e.mutable_time() = ToProtoTime(absl::Now());
          *e.mutable_snapshot() = p;
          out.push_back(std::move(e));
        }
        nfr::v1::PendingEvent done;
        *done.mutable_time() = ToProtoTime(absl::Now());
        done.mutable_snapshot_done()->set_count(static_cast<uint32_t>(now.size()));
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

// Decisions as the agent uploads them (the request's filter is not applied).
grpc::ServerWriteReactor<nfr::v1::DecisionEvent>* RoutedDecisionService::WatchDecisions(
    CallbackServerContext* ctx, const nfr::v1::WatchDecisionsRequest*) {
  WatchScope scope;
  if (absl::Status s = Route(gw_, *ctx, nfr::v1::ROLE_VIEWER, "WatchDecisions", &scope.controller,
                             &scope.agent_id);
      !s.ok()) {
    return new FailedWrite<nfr::v1::DecisionEvent>(s);
  }
  EventMapping<nfr::v1::DecisionEvent> map;
  map.decision = [](const std::string&, const nfr::v1::Decision& d) {
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

ServerUnaryReactor* RoutedAgentService::GetStatus(CallbackServerContext* ctx,
                                                  const nfr::v1::GetStatusRequest* req,
                                                  nfr::v1::AgentStatus* resp) {
  LinkRequest r;
  *r.mutable_get_status() = *req;
  return Forward(gw_, ctx, nfr::v1::ROLE_VIEWER, "GetStatus", std::move(r), resp,
                 &LinkResponse::get_status);
}

}  // namespace nfr
