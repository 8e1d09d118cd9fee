// nfr.v1.DecisionService on the gRPC callback API: paged decision log
// queries and a live decision stream.
#pragma once

#include "agent/api/api_context.h"
#include "nfr/v1/decision_service.grpc.pb.h"

namespace nfr {

class DecisionServiceImpl final : public nfr::v1::DecisionService::CallbackService {
 public:
  explicit DecisionServiceImpl(ApiContext& api) : api_(api) {}

  grpc::ServerUnaryReactor* ListDecisions(grpc::CallbackServerContext* ctx,
                                          const nfr::v1::ListDecisionsRequest* req,
                                          nfr::v1::ListDecisionsResponse* resp) override;
  grpc::ServerWriteReactor<nfr::v1::DecisionEvent>* WatchDecisions(
      grpc::CallbackServerContext* ctx, const nfr::v1::WatchDecisionsRequest* req) override;

 private:
  ApiContext& api_;
};

}  // namespace nfr
