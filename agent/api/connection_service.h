// nfr.v1.ConnectionService on the gRPC callback API: pending list/watch and
// Decide, translated to and from the control core.
#pragma once

#include "agent/api/api_context.h"
#include "nfr/v1/connection_service.grpc.pb.h"

namespace nfr {

class ConnectionServiceImpl final : public nfr::v1::ConnectionService::CallbackService {
 public:
  explicit ConnectionServiceImpl(ApiContext& api) : api_(api) {}

  grpc::ServerUnaryReactor* ListPending(grpc::CallbackServerContext* ctx,
                                        const nfr::v1::ListPendingRequest* req,
                                        nfr::v1::ListPendingResponse* resp) override;
  grpc::ServerWriteReactor<nfr::v1::PendingEvent>* WatchPending(
      grpc::CallbackServerContext* ctx, const nfr::v1::WatchPendingRequest* req) override;
  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* ctx,
                                   const nfr::v1::DecideRequest* req,
                                   nfr::v1::DecideResponse* resp) override;

 private:
  ApiContext& api_;
};

}  // namespace nfr
