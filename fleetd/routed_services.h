// The ordinary nfr.v1 services at the gateway, each call routed to one agent
// (`nfr-agent-id` metadata) over its link; same roles as at an agent.
#pragma once

#include "fleetd/gateway.h"
#include "nfr/v1/agent_service.grpc.pb.h"
#include "nfr/v1/connection_service.grpc.pb.h"
#include "nfr/v1/decision_service.grpc.pb.h"
#include "nfr/v1/flow_service.grpc.pb.h"
#include "nfr/v1/policy_service.grpc.pb.h"

namespace nfr {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

class RoutedPolicyService final : public nfr::v1::PolicyService::CallbackService {
 public:
  explicit RoutedPolicyService(const Gateway& gw) : gw_(gw) {}
  ServerUnaryReactor* GetPolicy(CallbackServerContext* ctx, const nfr::v1::GetPolicyRequest* req,
                                nfr::v1::GetPolicyResponse* resp) override;
  ServerUnaryReactor* ApplyPolicy(CallbackServerContext* ctx,
                                  const nfr::v1::ApplyPolicyRequest* req,
                                  nfr::v1::ApplyPolicyResponse* resp) override;
  ServerUnaryReactor* AddRule(CallbackServerContext* ctx, const nfr::v1::AddRuleRequest* req,
                              nfr::v1::AddRuleResponse* resp) override;
  ServerUnaryReactor* RemoveRule(CallbackServerContext* ctx, const nfr::v1::RemoveRuleRequest* req,
                                 nfr::v1::RemoveRuleResponse* resp) override;
  ServerUnaryReactor* UpdateSet(CallbackServerContext* ctx, const nfr::v1::UpdateSetRequest* req,
                                nfr::v1::UpdateSetResponse* resp) override;

 private:
  const Gateway& gw_;
};

class RoutedConnectionService final : public nfr::v1::ConnectionService::CallbackService {
 public:
  explicit RoutedConnectionService(const Gateway& gw) : gw_(gw) {}
  ServerUnaryReactor* ListPending(CallbackServerContext* ctx,
                                  const nfr::v1::ListPendingRequest* req,
                                  nfr::v1::ListPendingResponse* resp) override;
  grpc::ServerWriteReactor<nfr::v1::PendingEvent>* WatchPending(
      CallbackServerContext* ctx, const nfr::v1::WatchPendingRequest* req) override;
  ServerUnaryReactor* Decide(CallbackServerContext* ctx, const nfr::v1::DecideRequest* req,
                             nfr::v1::DecideResponse* resp) override;

 private:
  const Gateway& gw_;
};

class RoutedDecisionService final : public nfr::v1::DecisionService::CallbackService {
 public:
  explicit RoutedDecisionService(const Gateway& gw) : gw_(gw) {}
  ServerUnaryReactor* ListDecisions(CallbackServerContext* ctx,
                                    const nfr::v1::ListDecisionsRequest* req,
                                    nfr::v1::ListDecisionsResponse* resp) override;
  grpc::ServerWriteReactor<nfr::v1::DecisionEvent>* WatchDecisions(
      CallbackServerContext* ctx, const nfr::v1::WatchDecisionsRequest* req) override;

 private:
  const Gateway& gw_;
};

class RoutedFlowService final : public nfr::v1::FlowService::CallbackService {
 public:
  explicit RoutedFlowService(const Gateway& gw) : gw_(gw) {}
  ServerUnaryReactor* ListFlows(CallbackServerContext* ctx, const nfr::v1::ListFlowsRequest* req,
                                nfr::v1::ListFlowsResponse* resp) override;
  ServerUnaryReactor* DeleteFlows(CallbackServerContext* ctx,
                                  const nfr::v1::ChangeFlowsRequest* req,
                                  nfr::v1::ChangeFlowsResponse* resp) override;
  ServerUnaryReactor* DenyFlows(CallbackServerContext* ctx, const nfr::v1::ChangeFlowsRequest* req,
                                nfr::v1::ChangeFlowsResponse* resp) override;

 private:
  const Gateway& gw_;
};

class RoutedAgentService final : public nfr::v1::AgentService::CallbackService {
 public:
  explicit RoutedAgentService(const Gateway& gw) : gw_(gw) {}
  ServerUnaryReactor* GetStatus(CallbackServerContext* ctx, const nfr::v1::GetStatusRequest* req,
                                nfr::v1::AgentStatus* resp) override;

 private:
  const Gateway& gw_;
};

}  // namespace nfr
