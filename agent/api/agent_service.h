// nfr.v1.AgentService on the gRPC callback API.
#pragma once

#include "agent/api/api_context.h"
#include "nfr/v1/agent_service.grpc.pb.h"

namespace nfr {

// The agent's status as GetStatus reports it, without the caller's identity (also for metrics).
nfr::v1::AgentStatus ApiStatusReport(ApiContext& api);

class AgentServiceImpl final : public nfr::v1::AgentService::CallbackService {
 public:
  explicit AgentServiceImpl(ApiContext& api) : api_(api) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const nfr::v1::GetStatusRequest* req,
                                      nfr::v1::AgentStatus* resp) override;

 private:
  ApiContext& api_;
};

}  // namespace nfr
