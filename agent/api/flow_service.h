// nfr.v1.FlowService on the gRPC callback API: the flow cache listed,
// forgotten or denied, translated to and from the control core's FlowTable.
#pragma once

#include "agent/api/api_context.h"
#include "nfr/v1/flow_service.grpc.pb.h"

namespace nfr {

class FlowServiceImpl final : public nfr::v1::FlowService::CallbackService {
 public:
  explicit FlowServiceImpl(ApiContext& api) : api_(api) {}

  grpc::ServerUnaryReactor* ListFlows(grpc::CallbackServerContext* ctx,
                                      const nfr::v1::ListFlowsRequest* req,
                                      nfr::v1::ListFlowsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteFlows(grpc::CallbackServerContext* ctx,
                                        const nfr::v1::ChangeFlowsRequest* req,
                                        nfr::v1::ChangeFlowsResponse* resp) override;
  grpc::ServerUnaryReactor* DenyFlows(grpc::CallbackServerContext* ctx,
                                      const nfr::v1::ChangeFlowsRequest* req,
                                      nfr::v1::ChangeFlowsResponse* resp) override;

 private:
  grpc::ServerUnaryReactor* Change(grpc::CallbackServerContext* ctx, FlowChangeCommand::Kind kind,
                                   const char* method, const nfr::v1::ChangeFlowsRequest* req,
                                   nfr::v1::ChangeFlowsResponse* resp);
  ApiContext& api_;
};

}  // namespace nfr
