// nfr.v1.FleetService: the fleet as a whole (agents, fleet-wide watches,
// uploaded decisions, rollouts by label selector with a group-version guard).
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "fleetd/gateway.h"
#include "nfr/v1/fleet.grpc.pb.h"

namespace nfr {

class FleetServiceImpl final : public nfr::v1::FleetService::CallbackService {
 public:
  explicit FleetServiceImpl(const Gateway& gw) : gw_(gw) {}

  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* ctx,
                                       const nfr::v1::ListAgentsRequest* req,
                                       nfr::v1::ListAgentsResponse* resp) override;
  grpc::ServerWriteReactor<nfr::v1::FleetPendingEvent>* WatchPending(
      grpc::CallbackServerContext* ctx, const nfr::v1::FleetWatchRequest* req) override;
  grpc::ServerWriteReactor<nfr::v1::FleetDecisionEvent>* WatchDecisions(
      grpc::CallbackServerContext* ctx, const nfr::v1::FleetWatchRequest* req) override;
  grpc::ServerUnaryReactor* ListUploadedDecisions(
      grpc::CallbackServerContext* ctx, const nfr::v1::ListUploadedDecisionsRequest* req,
      nfr::v1::ListUploadedDecisionsResponse* resp) override;
  grpc::ServerUnaryReactor* Rollout(grpc::CallbackServerContext* ctx,
                                    const nfr::v1::RolloutRequest* req,
                                    nfr::v1::RolloutResponse* resp) override;
  grpc::ServerUnaryReactor* ListRollouts(grpc::CallbackServerContext* ctx,
                                         const nfr::v1::ListRolloutsRequest* req,
                                         nfr::v1::ListRolloutsResponse* resp) override;

 private:
  const Gateway& gw_;
  std::mutex mu_;
  std::set<std::string> rolling_;  // selectors with a rollout in progress
};

}  // namespace nfr
